"""`registry runs repair`: move a torn last line (an interrupted append) aside, kept."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.workspace.safe_write import require_safe_all

QUARANTINE_RELPATH = ".codex/quarantine"


@dataclass(frozen=True)
class Repair:
    """What `repair` did: the bytes moved aside and where they are kept (None: nothing torn)."""

    moved: int
    kept_at: str | None
    size: int
    """The log's size after."""


def repair(index: LogIndex) -> Repair:
    """Under the index lock: when the log ends in an incomplete line, copy those bytes to
    `.codex/quarantine/<registry>-<utc>.torn` (fsynced), then cut the log back to its last
    complete line (fsynced). Nothing else is ever changed. Every place written is checked
    first (UNSAFE_PATH)."""
    folder = index.root / QUARANTINE_RELPATH
    require_safe_all(index.root, [index.log, index.lock_path, index.sidecar, folder])
    with index.locked():  # type: ignore[attr-defined]
        state = index.sync(locked=True)
        if not state.torn:
            return Repair(0, None, state.size)
        fd = os.open(index.log, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            tail = os.pread(fd, size - state.covered, state.covered)
            folder.mkdir(parents=True, exist_ok=True)
            stamp = now_utc().strftime("%Y%m%dT%H%M%S%fZ")
            kept = folder / f"{index.spec.registry_id}-{stamp}.torn"
            _write_new(kept, tail)
            os.ftruncate(fd, state.covered)
            os.fsync(fd)
        finally:
            os.close(fd)
        index.sync(locked=True)
        return Repair(len(tail), kept.relative_to(index.root).as_posix(), state.covered)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
