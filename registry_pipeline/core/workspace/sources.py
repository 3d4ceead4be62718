"""What `registry seal SRC...` and a source registry will seal, checked before any write."""

from __future__ import annotations

import itertools
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import Problem, RegistryError, UsageError
from registry_pipeline.core.fs import escape_problem, file_kind, read_regular
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.folder_report import json_invalid, schema_violation
from registry_pipeline.core.seal.hashing import jsonl_records
from registry_pipeline.core.seal.paths import fold_key, is_reserved, printable, relpath_problem
from registry_pipeline.core.seal.pointer_lines import pointer_lines
from registry_pipeline.core.seal.schemas import ArtifactSchema, SchemaCatalog, violation_text
from registry_pipeline.core.workspace.snapshots import unchanged_snapshot as unchanged_snapshot

MAX_SCHEMA_CHECK = 256 << 20
TORN_TAIL = jsonl.TornTail.REFUSE
"""A source log's torn line is refused (LOG_TORN) by the build, the write path and `registry
runs append` alike: a person completes or removes it, as they wrote it."""


BAD_SOURCE = "BAD_SOURCE"
SOURCES = "the catalog's sources (a pattern that matches no file, or whose folder is missing)"
"""Where a MISSING_FILE of a source registry is listed."""


def source_error(problems: Sequence[Problem]) -> UsageError:
    """The files given to seal cannot be sealed as they are; `problems` lists every reason."""
    return UsageError.of(BAD_SOURCE, problems=problems, count=len(problems))


def only_missing(exc: RegistryError) -> bool:
    """The files are refused only because none is there yet (a registry's first entry)."""
    return exc.code == BAD_SOURCE and all(p.code == "MISSING_FILE" for p in exc.problems)


def plan_sources(sources: Sequence[Path]) -> list[tuple[str, Path]]:
    """(relpath, file) pairs: one folder seals its contents; otherwise each SRC keeps its name."""
    problems: list[Problem] = []
    pairs: list[tuple[str, Path]] = []
    if not sources:
        raise RegistryError.of("NOTHING_TO_SEAL", reason="give at least one file or folder")
    if len(sources) == 1 and sources[0].is_dir() and not sources[0].is_symlink():
        _walk(sources[0], "", pairs, problems)
    else:
        for source in sources:
            name = source.name
            if source.is_symlink():
                _add(source, str(source), os.lstat(source).st_mode, pairs, problems)
            elif source.is_dir():
                _walk(source, name + "/", pairs, problems)
            elif not source.exists():
                raise RegistryError.of("SOURCE_NOT_FOUND", path=source)
            else:
                _add(source, name, os.lstat(source).st_mode, pairs, problems)
    _check_names(pairs, problems)
    if problems:
        raise source_error(problems)
    if not pairs:
        where = ", ".join(map(str, sources))
        raise RegistryError.of("NOTHING_TO_SEAL", path=where, reason="no files in them")
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
    else:  # a symlink: seal the file it points to
        kind = f"a {file_kind(mode, path)}"
        problems.append(Problem.of("NOT_A_REGULAR_FILE", path=printable(relpath), kind=kind))


def _check_names(pairs: list[tuple[str, Path]], problems: list[Problem]) -> None:
    seen: dict[str, str] = {}
    for relpath, _path in pairs:
        reason, key, where = relpath_problem(relpath), fold_key(relpath), printable(relpath)
        if reason:
            problems.append(Problem.of("UNSAFE_PATH", path=where, reason=f"name {reason}"))
        if is_reserved(relpath):
            said = "is a name the seal writes itself; rename it"
            problems.append(Problem.of("UNSAFE_PATH", path=where, reason=said))
        if key in seen:
            twin = f"the files to seal (as {seen[key]!r}, after case folding)"
            problems.append(Problem.of("DUPLICATE_ENTRY", path=where, where=twin))
        seen[key] = relpath


def _raise(exc: OSError) -> None:
    raise RegistryError.of("SOURCE_UNREADABLE", path=exc.filename, reason=exc.strerror)


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
        files = {relpath: read_regular(path) for relpath, path in self.files.items()}
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
            kind = f"a path that {escape[0]}"
            problems.append(Problem.of("NOT_A_REGULAR_FILE", path=printable(source), kind=kind))
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
            problems.append(Problem.of("MISSING_FILE", path=printable(source), where=SOURCES))
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
        problems.append(Problem.of("MISSING_FILE", path=printable(str(folder)), where=SOURCES))
        return found
    for directory, subdirs, files in os.walk(folder, onerror=_raise):
        base = Path(directory)
        rel_dir = base.relative_to(folder).as_posix()
        rel_prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in list(subdirs):
            if (base / name).is_symlink():
                subdirs.remove(name)
                _add(base / name, rel_prefix + name, os.lstat(base / name).st_mode, [], problems)
        found.extend(
            (rel_prefix + name, base / name, os.lstat(base / name).st_mode) for name in files
        )
    return found


def count_records(files: Mapping[str, bytes | Path]) -> int:
    """Records in a source registry: JSON array items or object keys, JSONL lines, else files."""
    total = 0
    for relpath, content in files.items():
        if relpath.endswith(".jsonl"):  # the lines `bytes.splitlines` gives, a line at a time
            pieces = (part for _n, line in jsonl.Lines(content) for part in line.split(b"\r"))
            total += sum(1 for part in pieces if part.strip())
            continue
        try:
            document = loads_strict(_bytes(content))
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
        data = _bytes(content)
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
    """Each line's schema violations up to the first unparsable one; a torn last line alone
    (LOG_TORN, as `registry runs append` refuses it)."""
    problems: list[Problem] = []
    lines = jsonl.Lines(content, TORN_TAIL, path=relpath)  # a line at a time, never held whole
    try:
        for number, document in jsonl_records(line for _number, line in lines):
            if schema is not None:
                problems.extend(
                    schema_violation(relpath, f"line {number} {violation_text(v)}", number, v.field)
                    for v in catalog.validate(schema.schema_id, document)
                )
    except JSONDecodeProblem as exc:
        problems.append(json_invalid(relpath, "jsonl", exc))
    except RegistryError as exc:
        if lines.torn_at is None:
            raise
        return [Problem(code=exc.code, path=relpath, message=exc.message, line=exc.line)]
    return problems


def _bytes(content: bytes | Path) -> bytes:
    return read_regular(content) if isinstance(content, Path) else content


def _format_of(relpath: str) -> str | None:
    return {".json": "json", ".jsonl": "jsonl"}.get(Path(relpath).suffix)
