"""What `registry seal SRC...` will copy: planned and checked before anything is written."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from registry_pipeline.core._json import JSONDecodeProblem, loads_strict
from registry_pipeline.core.errors import Problem, ReasonCode, RegistryError, UsageError
from registry_pipeline.core.seal.paths import fold_key, is_reserved, printable, relpath_problem
from registry_pipeline.core.seal.schemas import SchemaCatalog, iter_jsonl
from registry_pipeline.core.seal.validate import inspect_run_folder

MAX_SCHEMA_CHECK = 256 << 20


class SourceError(UsageError):
    """The files given to seal cannot be sealed as they are; `details` lists every reason."""

    code = "BAD_SOURCE"

    def __init__(self, details: Sequence[Problem]) -> None:
        super().__init__(f"{len(details)} problem(s) with the files to seal")
        self.details = tuple(details)

    def diagnostics(self) -> str:
        lines = [f"error: {self.code}: {self.message}; nothing was written"]
        lines.extend(f"  {problem}" for problem in self.details)
        return "\n".join(lines)


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
                problems.append(
                    _problem(
                        ReasonCode.NOT_A_REGULAR_FILE,
                        str(source),
                        "is a symbolic link; seal the file it points to",
                    )
                )
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
        raise SourceError(problems)
    if not pairs:
        raise UsageError(
            "no files to seal", code="NOTHING_TO_SEAL", path=", ".join(map(str, sources))
        )
    return sorted(pairs)


def check_source_schemas(pairs: Sequence[tuple[str, Path]], catalog: SchemaCatalog) -> None:
    """Refuse, before staging, artifacts that violate the schema governing their name."""
    problems: list[Problem] = []
    for relpath, path in pairs:
        schema = catalog.for_artifact(relpath)
        if schema is None or path.stat().st_size > MAX_SCHEMA_CHECK:
            continue
        data = path.read_bytes()
        try:
            documents = iter_jsonl(data) if schema.format == "jsonl" else [(0, loads_strict(data))]
            for number, document in documents:
                where = f"line {number} " if number else ""
                problems.extend(
                    _problem(ReasonCode.SCHEMA_VIOLATION, relpath, f"{where}{violation}")
                    for violation in catalog.validate(schema.schema_id, document)
                )
        except JSONDecodeProblem as exc:
            problems.append(
                _problem(ReasonCode.SCHEMA_VIOLATION, relpath, f"not valid {schema.format}: {exc}")
            )
    if problems:
        raise SourceError(problems)


def _walk(root: Path, prefix: str, pairs: list[tuple[str, Path]], problems: list[Problem]) -> None:
    for directory, subdirs, files in os.walk(root, onerror=_raise):
        base = Path(directory)
        rel_dir = base.relative_to(root).as_posix()
        rel_prefix = prefix + ("" if rel_dir == "." else rel_dir + "/")
        for name in list(subdirs):
            if (base / name).is_symlink():
                subdirs.remove(name)
                problems.append(
                    _problem(
                        ReasonCode.NOT_A_REGULAR_FILE,
                        rel_prefix + name,
                        "is a symbolic link to a folder",
                    )
                )
        for name in files:
            _add(base / name, rel_prefix + name, os.lstat(base / name).st_mode, pairs, problems)


def _add(
    path: Path, relpath: str, mode: int, pairs: list[tuple[str, Path]], problems: list[Problem]
) -> None:
    if stat.S_ISLNK(mode):
        problems.append(_problem(ReasonCode.NOT_A_REGULAR_FILE, relpath, "is a symbolic link"))
    elif not stat.S_ISREG(mode):
        problems.append(
            _problem(
                ReasonCode.NOT_A_REGULAR_FILE,
                relpath,
                "is not a regular file (FIFO, socket or device)",
            )
        )
    else:
        pairs.append((relpath, path))


def _check_names(pairs: list[tuple[str, Path]], problems: list[Problem]) -> None:
    seen: dict[str, str] = {}
    for relpath, _path in pairs:
        reason = relpath_problem(relpath)
        if reason:
            problems.append(_problem(ReasonCode.UNSAFE_PATH, relpath, f"name {reason}"))
        if is_reserved(relpath):
            problems.append(
                _problem(
                    ReasonCode.UNSAFE_PATH, relpath, "is a name the seal writes itself; rename it"
                )
            )
        key = fold_key(relpath)
        if key in seen:
            problems.append(
                _problem(
                    ReasonCode.DUPLICATE_ENTRY,
                    relpath,
                    f"same name as {seen[key]!r} (after case folding)",
                )
            )
        seen[key] = relpath


def _problem(code: ReasonCode, path: str, message: str) -> Problem:
    return Problem(code=code, path=printable(path), message=message)


def _raise(exc: OSError) -> None:
    raise RegistryError(
        f"cannot read source folder: {exc.strerror}",
        code="SOURCE_UNREADABLE",
        path=str(exc.filename),
    )


def read_source_files(workspace_root: Path, sources: Sequence[str]) -> dict[str, bytes]:
    """The current bytes of a source registry's files, by the relpath they are sealed under."""
    pairs = plan_sources([workspace_root / source for source in sources])
    return {relpath: path.read_bytes() for relpath, path in pairs}


def unchanged_snapshot(
    newest: Path | None, files: Mapping[str, bytes], schemas: SchemaCatalog
) -> tuple[bool, bool]:
    """Whether the newest snapshot (a run folder) holds exactly `files` with an intact seal, and
    whether it also passes its schemas: (reusable, valid).

    A snapshot with identical content is reusable even when it violates its schema (its check
    says so again); a broken seal is never reused.
    """
    if newest is None:
        return False, False
    try:
        listed = loads_strict((newest / "manifest.json").read_bytes())
        sealed = {row["relpath"]: row["sha256"] for row in listed if row["relpath"] != "run.json"}
    except (OSError, JSONDecodeProblem, TypeError, KeyError):
        return False, False
    wanted = {relpath: hashlib.sha256(data).hexdigest() for relpath, data in files.items()}
    if sealed != wanted:
        return False, False
    try:
        problems = inspect_run_folder(newest, schemas=schemas).problems
    except UsageError:
        return False, False
    seal_problems = [p for p in problems if p.code != ReasonCode.SCHEMA_VIOLATION]
    return not seal_problems, not problems


def count_records(files: Mapping[str, bytes]) -> int:
    """Records in a source registry: JSON array items or object keys, JSONL lines, else files."""
    total = 0
    for relpath, data in files.items():
        if relpath.endswith(".jsonl"):
            total += sum(1 for line in data.splitlines() if line.strip())
            continue
        try:
            document = loads_strict(data)
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
