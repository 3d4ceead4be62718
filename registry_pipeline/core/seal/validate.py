"""Validation of run folders against the seal contract: every problem found in one pass."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import Problem, ReasonCode, SealValidationError, UsageError
from registry_pipeline.core.fs import write_atomic
from registry_pipeline.core.seal._inspector import Inspector
from registry_pipeline.core.seal.folder_report import REQUIRED, FolderReport, refuse_non_run_folder
from registry_pipeline.core.seal.paths import fold_key, printable, relpath_problem, sort_key
from registry_pipeline.core.seal.schemas import ENVELOPE_ID, SchemaCatalog

__all__ = [
    "FolderReport",
    "cache_active",
    "inspect_many",
    "inspect_run_folder",
    "inspection_cache",
    "is_valid_run_folder",
    "passed_unchanged",
    "run_folder_name_problems",
    "verify_run_folder",
]


def verify_run_folder(
    path: str | os.PathLike[str],
    *,
    fast: bool = False,
    schemas: SchemaCatalog | None = None,
    expect_run_id: str | None = None,
) -> FolderReport:
    """Validate a run folder; raise SealValidationError listing every problem if it fails."""
    report = inspect_run_folder(path, fast=fast, schemas=schemas, expect_run_id=expect_run_id)
    if not report.ok:
        raise SealValidationError(report.run_folder, report.problems)
    return report


def is_valid_run_folder(
    path: str | os.PathLike[str], *, fast: bool = False, schemas: SchemaCatalog | None = None
) -> bool:
    """True when the folder validates; unreadable folders are not valid."""
    try:
        return inspect_run_folder(path, fast=fast, schemas=schemas).ok
    except UsageError:
        return False


_CACHE: dict[tuple[str, str, bool, int, str | None], FolderReport] | None = None
_VERDICTS: _VerdictStore | None = None
VERDICT_STORE_VERSION = 3
"""Bumped whenever validation gets stricter, so PASS verdicts of a laxer validator are dropped
(2: empty folders and folders without seal files fail)."""


@contextmanager
def inspection_cache(verdicts: Path | None = None, *, trust_stored: bool = True) -> Iterator[None]:
    """Within the block, a folder whose files are unchanged is inspected once.

    A build reads the same sealed snapshots several times (the blocking checks, input selection,
    the report); re-hashing and re-validating them each time is pure waste. A folder counts as
    unchanged while the names, sizes, mtimes, ctimes and inodes of everything in it are the same,
    so any write to a folder during the block is still seen. Without `verdicts` the first
    inspection in a block is always real.

    With `verdicts` (a JSON file), PASS verdicts are also carried between blocks, like git's
    index carries file hashes: a folder that passed in an earlier build and whose fingerprint
    and schema catalog are unchanged passes again without being read. Any write to a file of the
    folder changes its ctime, which user space cannot set back, so tampering is still seen.
    `trust_stored=False` (a full audit) reads nothing from the file and inspects every folder
    for real, then records the fresh verdicts. The file is a cache: unreadable means empty.
    """
    global _CACHE, _VERDICTS
    outer, _CACHE = _CACHE, {}
    outer_verdicts = _VERDICTS
    _VERDICTS = _VerdictStore.load(verdicts, trust_stored) if verdicts is not None else None
    try:
        yield
        if _VERDICTS is not None:
            _VERDICTS.save()
    finally:
        _CACHE, _VERDICTS = outer, outer_verdicts


def inspect_run_folder(
    path: str | os.PathLike[str],
    *,
    fast: bool = False,
    schemas: SchemaCatalog | None = None,
    expect_run_id: str | None = None,
) -> FolderReport:
    """Check a run folder and return the report; raises UsageError only when it cannot be read.

    A folder with none of the seal files at its top fails with NOT_A_RUN_FOLDER at once: nothing
    below it is listed, fingerprinted or hashed.
    """
    folder = Path(path)
    refused = refuse_non_run_folder(folder, fast)
    if refused is not None:
        return refused
    if _CACHE is None:
        return _inspect(folder, fast, schemas, expect_run_id)
    catalog = schemas or SchemaCatalog.for_workspace(None)
    fingerprint = _fingerprint(folder)
    key = (str(folder), fingerprint, fast, id(catalog), expect_run_id)
    if key in _CACHE:
        return _CACHE[key]
    durable = _VERDICTS is not None and fingerprint and not fast and expect_run_id is None
    report = _VERDICTS.get(folder, fingerprint, catalog) if durable and _VERDICTS else None
    if report is None:
        report = _inspect(folder, fast, catalog, expect_run_id)
        if durable and _VERDICTS and report.ok:
            _VERDICTS.put(folder, fingerprint, catalog, report)
    _CACHE[key] = report
    return report


def cache_active() -> bool:
    """Whether an `inspection_cache` block is open in this process."""
    return _CACHE is not None


def passed_unchanged(path: str | os.PathLike[str], schemas: SchemaCatalog) -> bool:
    """True when this folder, exactly as it is now (its fingerprint), already has a PASS verdict
    in the active inspection cache; never inspects. A shortcut may skip re-validating a folder
    only when this is True: it is exactly as strict as `inspect_run_folder` under the cache."""
    if _CACHE is None:
        return False
    folder = Path(path)
    if not any(os.path.lexists(folder / name) for name in REQUIRED):
        return False  # not a run folder: never fingerprint (walk) it
    fingerprint = _fingerprint(folder)
    if not fingerprint:
        return False
    cached = _CACHE.get((str(folder), fingerprint, False, id(schemas), None))
    if cached is not None:
        return cached.ok
    return _VERDICTS is not None and _VERDICTS.get(folder, fingerprint, schemas) is not None


class _VerdictStore:
    """PASS verdicts by folder path, each with the folder's fingerprint and the schemas' hash."""

    def __init__(self, path: Path, entries: dict[str, list[Any]]) -> None:
        self.path = path
        self.entries = entries
        self.changed = False

    @classmethod
    def load(cls, path: Path, trust_stored: bool) -> _VerdictStore:
        entries: dict[str, list[Any]] = {}
        if trust_stored:
            try:
                document = json.loads(path.read_bytes())
                if document.get("version") == VERDICT_STORE_VERSION:
                    entries = dict(document["entries"])
            except (OSError, ValueError, AttributeError, KeyError, TypeError):
                entries = {}
        return cls(path, entries)

    def get(self, folder: Path, fingerprint: str, schemas: SchemaCatalog) -> FolderReport | None:
        entry = self.entries.get(str(folder))
        if not isinstance(entry, list) or len(entry) != 6:
            return None
        stored_fingerprint, schemas_hash, run_id, root, files, created = entry
        if stored_fingerprint != fingerprint or schemas_hash != schemas.fingerprint:
            return None
        return FolderReport(str(folder), run_id, root, (), files, False, created)

    def put(
        self, folder: Path, fingerprint: str, schemas: SchemaCatalog, report: FolderReport
    ) -> None:
        self.entries[str(folder)] = [
            fingerprint,
            schemas.fingerprint,
            report.run_id,
            report.root_sha256,
            report.files,
            report.created_utc,
        ]
        self.changed = True

    def save(self) -> None:
        """Replace the file (temp + rename: readers see the old or the new one, never half)."""
        if not self.changed:
            return
        document = {"version": VERDICT_STORE_VERSION, "entries": self.entries}
        data = json.dumps(document, separators=(",", ":")).encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, data, durable=False)  # a cache: losing it costs only time
        except OSError:
            pass  # a cache that cannot be written is only slower


def run_folder_name_problems(names: Iterable[str]) -> dict[str, tuple[Problem, ...]]:
    """Problems of run folder names in one RUNS dir, by name (names without any are left out).

    A name fails as UNSAFE_PATH when it breaks the relpath rules for one segment (not NFC, a
    control character, a backslash, not UTF-8) or when it equals another name after NFC and
    case folding: `café_run` (NFC or NFD) and `CAFÉ_RUN` are one folder on macOS and Windows,
    so every member of such a group fails, each naming the others. `path` is None (the problem
    is the folder's own name); merge them into that folder's report with `with_problems`.
    """
    listed = list(dict.fromkeys(names))
    groups: dict[str, list[str]] = {}
    for name in listed:
        groups.setdefault(fold_key(name), []).append(name)
    found: dict[str, tuple[Problem, ...]] = {}
    for name in listed:
        reason = relpath_problem(name)
        group = groups[fold_key(name)]
        if not reason and len(group) == 1:
            continue  # the common case: nothing to say
        problems = []
        shown = f"folder name {printable(name)!r}"
        if reason:
            problems.append(Problem(code=ReasonCode.UNSAFE_PATH, message=f"{shown} {reason}"))
        twins = sorted((n for n in group if n != name), key=sort_key)
        if twins:
            others = ", ".join(repr(printable(twin)) for twin in twins)
            problems.append(
                Problem(
                    code=ReasonCode.UNSAFE_PATH,
                    message=f"{shown} is the same as {others} after NFC normalization and "
                    "case folding (one folder on macOS and Windows)",
                )
            )
        if problems:
            found[name] = tuple(problems)
    return found


def _inspect(
    folder: Path, fast: bool, schemas: SchemaCatalog | None, expect_run_id: str | None
) -> FolderReport:
    """The Inspector's report on a folder `refuse_non_run_folder` let through."""
    catalog = schemas or SchemaCatalog.for_workspace(None)
    try:
        return Inspector(folder, fast, catalog, expect_run_id).run()
    except OSError as exc:
        raise UsageError(
            f"cannot read run folder: {exc.strerror or exc}", code="UNREADABLE", path=str(folder)
        ) from None


def inspect_many(
    folders: Iterable[str | os.PathLike[str]],
    *,
    fast: bool = False,
    workspace_root: Path | None = None,
    jobs: int = 1,
    chunk_size: int = 64,
) -> Iterator[FolderReport | UsageError]:
    """Reports for many folders, in input order, streamed: a few chunks per worker in flight.

    With `jobs > 1` the folders are checked in worker processes, so parsing and schema checks run
    in parallel too, not only hashing. Memory stays flat in the number of folders.
    """
    if jobs <= 1:
        schemas = SchemaCatalog.for_workspace(workspace_root)
        for folder in folders:
            yield _inspect_or_error(str(folder), fast, schemas)
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    global _FORKED_SCHEMAS
    window = jobs * 4
    pending: deque[Future[list[FolderReport | UsageError]]] = deque()
    forking = sys.platform.startswith("linux")
    context = multiprocessing.get_context("fork" if forking else "spawn")
    outer = _FORKED_SCHEMAS
    if forking:  # loaded once here, inherited by the workers: one catalog for the whole run
        catalog = SchemaCatalog.for_workspace(workspace_root)
        catalog.prepare(ENVELOPE_ID)  # every folder's run.json: compiled once, for all workers
        _FORKED_SCHEMAS = (workspace_root, catalog)
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for chunk in _chunks(folders, chunk_size):
                pending.append(pool.submit(_inspect_chunk, chunk, fast, workspace_root))
                if len(pending) >= window:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
    finally:
        _FORKED_SCHEMAS = outer


_FORKED_SCHEMAS: tuple[Path | None, SchemaCatalog] | None = None
"""The catalog `inspect_many` loaded before forking its workers, with its workspace root."""


def _chunks(folders: Iterable[str | os.PathLike[str]], size: int) -> Iterator[list[str]]:
    """Folders in lists of `size`: one worker task per list, not per folder (far less overhead)."""
    chunk: list[str] = []
    for folder in folders:
        chunk.append(os.fspath(folder))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _inspect_chunk(
    folders: list[str], fast: bool, workspace_root: Path | None
) -> list[FolderReport | UsageError]:
    inherited = _FORKED_SCHEMAS
    if inherited is not None and inherited[0] == workspace_root:
        schemas = inherited[1]
    else:
        schemas = SchemaCatalog.for_workspace(workspace_root)
    return [_inspect_or_error(folder, fast, schemas) for folder in folders]


def _inspect_or_error(folder: str, fast: bool, schemas: SchemaCatalog) -> FolderReport | UsageError:
    try:
        return inspect_run_folder(folder, fast=fast, schemas=schemas)
    except UsageError as exc:
        return exc


def _fingerprint(folder: Path) -> str:
    """Names, sizes, mtimes, ctimes and inodes of everything under `folder` ("" if unreadable)."""
    entries: list[str] = []
    stack = [str(folder)]
    try:
        while stack:
            directory = stack.pop()
            with os.scandir(directory) as listing:
                for entry in listing:
                    info = entry.stat(follow_symlinks=False)
                    entries.append(
                        f"{entry.path}\0{info.st_size}\0{info.st_mtime_ns}"
                        f"\0{info.st_ctime_ns}\0{info.st_ino}"
                    )
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
    except OSError:
        return ""
    return hashlib.sha256("\n".join(sorted(entries)).encode("utf-8", "surrogateescape")).hexdigest()
