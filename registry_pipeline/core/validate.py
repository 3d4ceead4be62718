"""Validation of run folders against the seal contract: every problem found in one pass."""

from __future__ import annotations

import hashlib
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from registry_pipeline.core._inspector import FolderReport, Inspector
from registry_pipeline.core.errors import SealValidationError, UsageError
from registry_pipeline.core.schemas import SchemaCatalog

__all__ = [
    "FolderReport",
    "inspect_many",
    "inspect_run_folder",
    "inspection_cache",
    "is_valid_run_folder",
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


@contextmanager
def inspection_cache() -> Iterator[None]:
    """Within the block, a folder whose files are unchanged is inspected once.

    A build reads the same sealed snapshots several times (the blocking checks, input selection,
    the report); re-hashing and re-validating them each time is pure waste. A folder counts as
    unchanged while the names, sizes, mtimes and inodes of everything in it are the same, so any
    write to a folder during the block is still seen. The first inspection in a block is always
    real (a full audit therefore still re-verifies every folder once).
    """
    global _CACHE
    outer, _CACHE = _CACHE, {}
    try:
        yield
    finally:
        _CACHE = outer


def inspect_run_folder(
    path: str | os.PathLike[str],
    *,
    fast: bool = False,
    schemas: SchemaCatalog | None = None,
    expect_run_id: str | None = None,
) -> FolderReport:
    """Check a run folder and return the report; raises UsageError only when it cannot be read."""
    folder = Path(path)
    if _CACHE is not None:
        catalog = schemas or SchemaCatalog.for_workspace(None)
        key = (str(folder), _fingerprint(folder), fast, id(catalog), expect_run_id)
        if key not in _CACHE:
            _CACHE[key] = _inspect(folder, fast, catalog, expect_run_id)
        return _CACHE[key]
    return _inspect(folder, fast, schemas, expect_run_id)


def _inspect(
    folder: Path, fast: bool, schemas: SchemaCatalog | None, expect_run_id: str | None
) -> FolderReport:
    try:
        return Inspector(
            folder, fast, schemas or SchemaCatalog.for_workspace(None), expect_run_id
        ).run()
    except OSError as exc:
        raise UsageError(
            f"cannot read run folder: {exc.strerror or exc}", code="UNREADABLE", path=str(folder)
        ) from None


def inspect_many(
    folders: Iterable[Path],
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
        for folder in folders:
            yield _inspect_or_error(str(folder), fast, workspace_root)
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    window = jobs * 4
    pending: deque[Future[list[FolderReport | UsageError]]] = deque()
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for chunk in _chunks(folders, chunk_size):
            pending.append(pool.submit(_inspect_chunk, chunk, fast, workspace_root))
            if len(pending) >= window:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _chunks(folders: Iterable[Path], size: int) -> Iterator[list[str]]:
    """Folders in lists of `size`: one worker task per list, not per folder (far less overhead)."""
    chunk: list[str] = []
    for folder in folders:
        chunk.append(str(folder))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _inspect_chunk(
    folders: list[str], fast: bool, workspace_root: Path | None
) -> list[FolderReport | UsageError]:
    return [_inspect_or_error(folder, fast, workspace_root) for folder in folders]


def _inspect_or_error(
    folder: str, fast: bool, workspace_root: Path | None
) -> FolderReport | UsageError:
    try:
        return inspect_run_folder(
            folder, fast=fast, schemas=SchemaCatalog.for_workspace(workspace_root)
        )
    except UsageError as exc:
        return exc


def _fingerprint(folder: Path) -> str:
    """Names, sizes, mtimes and inodes of everything under `folder` (empty when unreadable)."""
    entries: list[str] = []
    stack = [str(folder)]
    try:
        while stack:
            directory = stack.pop()
            with os.scandir(directory) as listing:
                for entry in listing:
                    info = entry.stat(follow_symlinks=False)
                    entries.append(
                        f"{entry.path}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}"
                    )
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
    except OSError:
        return ""
    return hashlib.sha256("\n".join(sorted(entries)).encode("utf-8", "surrogateescape")).hexdigest()
