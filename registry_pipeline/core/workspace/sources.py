"""What `registry seal SRC...` and a source registry will seal, checked before any write."""

from __future__ import annotations

import io
import itertools
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import Problem, ReasonCode, RegistryError, UsageError
from registry_pipeline.core.fs import escape_problem
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.folder_report import NOT_REGULAR, json_invalid, schema_violation
from registry_pipeline.core.seal.hashing import BLOCK_SIZE, jsonl_records
from registry_pipeline.core.seal.paths import fold_key, is_reserved, printable, relpath_problem
from registry_pipeline.core.seal.pointer_lines import pointer_lines
from registry_pipeline.core.seal.schemas import ArtifactSchema, SchemaCatalog, violation_text
from registry_pipeline.core.workspace.snapshots import unchanged_snapshot as unchanged_snapshot

MAX_SCHEMA_CHECK = 256 << 20


BAD_SOURCE = "BAD_SOURCE"


def source_error(problems: Sequence[Problem]) -> UsageError:
    """The files given to seal cannot be sealed as they are; `problems` lists every reason."""
    message = f"{len(problems)} problem(s) with the files to seal"
    headline = f"error: {BAD_SOURCE}: {message}; nothing was written"
    return UsageError(message, code=BAD_SOURCE, problems=problems, headline=headline)


def only_missing(exc: RegistryError) -> bool:
    """The files are refused only because none is there yet (a registry's first entry)."""
    return exc.code == BAD_SOURCE and all(p.code == ReasonCode.MISSING_FILE for p in exc.problems)


def plan_sources(sources: Sequence[Path]) -> list[tuple[str, Path]]:
    """(relpath, file) pairs: one folder seals its contents; otherwise each SRC keeps its name."""
    problems: list[Problem] = []
    pairs: list[tuple[str, Path]] = []
    if not sources:
        raise UsageError("give at least one file or folder to seal", code="NOTHING_TO_SEAL")
    if len(sources) == 1 and sources[0].is_dir() and not sources[0].is_symlink():
        _walk(sources[0], "", pairs, problems)
    else:
        for source in sources:
            name = source.name
            if source.is_symlink():
                said = "is a symbolic link; seal the file it points to"
                problems.append(_problem(ReasonCode.NOT_A_REGULAR_FILE, str(source), said))
            elif source.is_dir():
                _walk(source, name + "/", pairs, problems)
            elif not source.exists():
                raise UsageError(
                    "no such file or folder", code="SOURCE_NOT_FOUND", path=str(source)
                )
            else:
                _add(source, name, os.lstat(source).st_mode, pairs, problems)
    _check_names(pairs, problems)
    if problems:
        raise source_error(problems)
    if not pairs:
        raise UsageError(
            "no files to seal", code="NOTHING_TO_SEAL", path=", ".join(map(str, sources))
        )
    return sorted(pairs)


def check_source_schemas(pairs: Sequence[tuple[str, Path]], catalog: SchemaCatalog) -> None:
    """Refuse, before staging, artifacts that violate the schema governing their name."""
    problems = source_problems(
        {
            relpath: path  # read a line at a time when JSONL
            for relpath, path in pairs
            if catalog.for_artifact(relpath) is not None and path.stat().st_size <= MAX_SCHEMA_CHECK
        },
        catalog,
        parse_ungoverned=False,
    )
    if problems:
        raise source_error(problems)


def _walk(root: Path, prefix: str, pairs: list[tuple[str, Path]], problems: list[Problem]) -> None:
    for relpath, path, mode in _entries(root, problems):
        _add(path, prefix + relpath, mode, pairs, problems)


def _add(
    path: Path, relpath: str, mode: int, pairs: list[tuple[str, Path]], problems: list[Problem]
) -> None:
    if stat.S_ISREG(mode):
        pairs.append((relpath, path))
    else:
        what = "is a symbolic link" if stat.S_ISLNK(mode) else NOT_REGULAR
        problems.append(_problem(ReasonCode.NOT_A_REGULAR_FILE, relpath, what))


def _check_names(pairs: list[tuple[str, Path]], problems: list[Problem]) -> None:
    seen: dict[str, str] = {}
    for relpath, _path in pairs:
        reason, key = relpath_problem(relpath), fold_key(relpath)
        found = [(ReasonCode.UNSAFE_PATH, f"name {reason}")] if reason else []
        if is_reserved(relpath):
            found.append((ReasonCode.UNSAFE_PATH, "is a name the seal writes itself; rename it"))
        if key in seen:
            found.append(
                (ReasonCode.DUPLICATE_ENTRY, f"same name as {seen[key]!r} (after case folding)")
            )
        problems.extend(_problem(code, relpath, message) for code, message in found)
        seen[key] = relpath


def _problem(code: ReasonCode, path: str, message: str) -> Problem:
    return Problem(code=code, path=printable(path), message=message)


def _raise(exc: OSError) -> None:
    raise RegistryError(
        f"cannot read source folder: {exc.strerror}",
        code="SOURCE_UNREADABLE",
        path=str(exc.filename),
    )


GLOB_CHARS = frozenset("*?[")


Content = TypeVar("Content", bytes, Path)


@dataclass(frozen=True)
class Sources(Generic[Content]):
    """A source registry's current files, and the files beside them its patterns leave out."""

    files: dict[str, Content]
    """relpath (as sealed) -> the file, checked safe, read later a block at a time; or bytes."""
    origins: dict[str, str] = field(default_factory=dict)
    """relpath (as sealed) -> the workspace-relative path it was read from."""
    unexpected: tuple[str, ...] = ()
    """Files in a pattern's folder it does not match: not sealed, but reported."""

    def read(self: Sources[Path]) -> Sources[bytes]:
        """The files' current bytes."""
        files = {relpath: path.read_bytes() for relpath, path in self.files.items()}
        return Sources(files, self.origins, self.unexpected)


SourcePaths = Sources[Path]


def unexpected_note(path: str) -> str:
    """What `registry build` and the asset's log say of a file a source's glob leaves out."""
    return f"{path} is not matched by the catalog's sources pattern: not sealed"


def is_pattern(source: str) -> bool:
    """Whether a catalog `sources` entry is a glob (`*`, `?`, `[...]`, `**` for any depth)."""
    return any(char in GLOB_CHARS for char in source)


def pattern_base(source: str) -> str:
    """The folder a glob entry looks in: its leading components without glob characters."""
    parts = source.split("/")
    fixed = list(itertools.takewhile(lambda part: not is_pattern(part), parts[:-1]))
    return "/".join(fixed) or "."


_WILDCARDS = {"**/": "(?:[^/]+/)*", "*": "[^/]*", "?": "[^/]"}


def _pattern_regex(source: str) -> tuple[str, re.Pattern[str]]:
    """A glob entry's base folder, and the regex its files' relative paths match."""
    base = pattern_base(source)
    pattern = source[len(base) + 1 :] if base != "." else source
    out = []
    for part in re.split(r"(\*\*/|\*|\?|\[[^]]*\])", pattern):
        if part in _WILDCARDS:
            out.append(_WILDCARDS[part])
        elif part.startswith("[") and part.endswith("]") and len(part) > 2:
            body = part[1:-1].replace("\\", "\\\\").replace("[", "\\[")  # no nested set
            out.append("[^" + body[1:] + "]" if body[0] == "!" else "[" + body + "]")
        else:
            out.append(re.escape(part))
    return base, re.compile("".join(out))


def source_paths(workspace_root: Path, sources: Sequence[str], kind: str = "source") -> SourcePaths:
    """A source registry's files by the relpath they are sealed under, none read; BAD_SOURCE."""
    problems: list[Problem] = []
    for source in sources:  # the folders on the way: real, inside (the file itself: below)
        folder = pattern_base(source) if is_pattern(source) else str(Path(source).parent)
        escape = escape_problem(workspace_root, folder) if folder != "." else None
        if escape is not None:
            problems.append(_problem(ReasonCode.NOT_A_REGULAR_FILE, source, escape[0]))
    if problems:
        raise source_error(problems)
    pairs: list[tuple[str, Path]] = []
    unexpected: list[str] = []
    plain = [workspace_root / source for source in sources if not is_pattern(source)]
    if len(plain) == 1 and len(sources) > 1 and plain[0].is_dir():  # beside a glob
        _walk(plain[0], plain[0].name + "/", pairs, problems)
    elif plain:
        pairs.extend(plan_sources(plain))
    for source in sources:
        if not is_pattern(source):
            continue
        base, regex = _pattern_regex(source)
        prefix = "" if len(sources) == 1 else Path(base).name + "/"
        found: list[tuple[str, Path]] = []
        for relpath, path, mode in _entries(workspace_root / base, problems):
            if regex.fullmatch(relpath):
                _add(path, prefix + relpath, mode, found, problems)
            elif kind != "collection":
                unexpected.append(f"{base}/{relpath}" if base != "." else relpath)
        if not found and not problems:
            problems.append(
                _problem(ReasonCode.MISSING_FILE, source, "the pattern matches no file")
            )
        pairs.extend(found)
    _check_names(pairs, problems)
    if problems:
        raise source_error(problems)
    return SourcePaths(
        dict(sorted(pairs)),
        {relpath: workspace_relpath(workspace_root, path) for relpath, path in pairs},
        tuple(sorted(unexpected)),
    )


def pattern_matches(workspace_root: Path, source: str) -> list[str]:
    """Workspace-relative paths of the files a glob matches now, unread (unsafe ones left out)."""
    base, regex = _pattern_regex(source)
    if base != "." and escape_problem(workspace_root, base) is not None:
        return []
    entries = _entries(workspace_root / base, []) if (workspace_root / base).is_dir() else []
    prefix = "" if base == "." else base + "/"
    return sorted(prefix + relpath for relpath, _path, _mode in entries if regex.fullmatch(relpath))


def workspace_relpath(workspace_root: Path, path: Path) -> str:
    """`path` relative to the workspace, POSIX style; as given when it lies elsewhere."""
    try:
        return path.relative_to(workspace_root).as_posix()
    except ValueError:
        return str(path)


def _entries(folder: Path, problems: list[Problem]) -> list[tuple[str, Path, int]]:
    """(relpath, path, lstat mode) of every file under `folder`; a symlinked folder is a problem."""
    found: list[tuple[str, Path, int]] = []
    if not folder.is_dir() or folder.is_symlink():
        problems.append(
            _problem(ReasonCode.MISSING_FILE, str(folder), "is not a folder (a pattern's base)")
        )
        return found
    for directory, subdirs, files in os.walk(folder, onerror=_raise):
        base = Path(directory)
        rel_dir = base.relative_to(folder).as_posix()
        rel_prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in list(subdirs):
            if (base / name).is_symlink():
                subdirs.remove(name)
                said = "is a symbolic link to a folder"
                problems.append(_problem(ReasonCode.NOT_A_REGULAR_FILE, rel_prefix + name, said))
        found.extend(
            (rel_prefix + name, base / name, os.lstat(base / name).st_mode) for name in files
        )
    return found


def count_records(files: Mapping[str, bytes | Path]) -> int:
    """Records in a source registry: JSON array items or object keys, JSONL lines, else files."""
    total = 0
    for relpath, content in files.items():
        if relpath.endswith(".jsonl"):  # the lines `bytes.splitlines` gives, a block at a time
            with content.open("rb") if isinstance(content, Path) else io.BytesIO(content) as handle:
                pieces = (part for _n, line in jsonl.lines(handle) for part in line.split(b"\r"))
                total += sum(1 for part in pieces if part.strip())
            continue
        try:
            document = loads_strict(content.read_bytes() if isinstance(content, Path) else content)
        except JSONDecodeProblem:
            total += 1
            continue
        items = (
            next((v for v in document.values() if isinstance(v, list)), None)
            if isinstance(document, dict)
            else document
        )
        total += len(items) if isinstance(items, list) else 1
    return total


def source_problems(
    files: Mapping[str, bytes | Path], catalog: SchemaCatalog, *, parse_ungoverned: bool = True
) -> list[Problem]:
    """Every parse and schema problem of `files`, naming file, line and field, before sealing."""
    problems: list[Problem] = []
    for relpath, content in sorted(files.items()):
        schema = catalog.for_artifact(relpath)
        fmt = schema.format if schema else _format_of(relpath) if parse_ungoverned else None
        if fmt is None:
            continue
        if fmt == "jsonl":
            problems.extend(_jsonl_problems(relpath, content, schema, catalog))
            continue
        data = content.read_bytes() if isinstance(content, Path) else content
        try:
            document = loads_strict(data)
            violations = catalog.validate(schema.schema_id, document) if schema else []
            if violations:  # where each is: only then is the text decoded and walked
                lines = pointer_lines(data.decode("utf-8"), [v.field or "" for v in violations])
            for v in violations:
                line = lines.get(v.field or "")
                said = f"{'' if line is None else f'line {line} '}{violation_text(v)}"
                problems.append(schema_violation(relpath, said, line, v.field))
        except JSONDecodeProblem as exc:
            problems.append(json_invalid(relpath, fmt, exc))
    return problems


def _jsonl_problems(
    relpath: str, content: bytes | Path, schema: ArtifactSchema | None, catalog: SchemaCatalog
) -> list[Problem]:
    """A torn last line alone, else each line's schema violations up to the first unparsable one."""
    torn = _torn_line(content)
    if torn is not None:
        return [  # the code `registry runs append` refuses such a log with
            Problem(
                code="LOG_TORN",
                path=relpath,
                message=f"line {torn} is incomplete (no final newline: an interrupted append?); "
                "complete or remove it (`registry runs repair` for a run index)",
                line=torn,
            )
        ]
    problems: list[Problem] = []
    with content.open("rb") if isinstance(content, Path) else io.BytesIO(content) as handle:
        try:  # a line at a time: a file given by its path is never held whole
            for number, document in jsonl_records(line for _number, line in jsonl.lines(handle)):
                if schema is not None:
                    problems.extend(
                        schema_violation(
                            relpath, f"line {number} {violation_text(v)}", number, v.field
                        )
                        for v in catalog.validate(schema.schema_id, document)
                    )
        except JSONDecodeProblem as exc:
            problems.append(json_invalid(relpath, "jsonl", exc))
    return problems


def _torn_line(content: bytes | Path) -> int | None:
    """The number of the last line when the file does not end with a newline, else None."""
    if not isinstance(content, Path):
        return jsonl.torn_line(content)
    if jsonl.ends_cleanly(content):
        return None
    with content.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(BLOCK_SIZE), b"")) + 1


def _format_of(relpath: str) -> str | None:
    return {".json": "json", ".jsonl": "jsonl"}.get(Path(relpath).suffix)
