"""How a sidecar is opened: read-only for a query, writable under the index lock, or private (a
temporary database outside the workspace) when the workspace's sidecar cannot be written.

The sidecar is in SQLite's rollback-journal mode (`journal_mode=DELETE`), not WAL: a read-only
connection to a WAL database creates the `-wal` and `-shm` files beside it (a query would
write, and on a read-only file system it could not open the file at all), while a read-only
connection in rollback mode reads the file and creates nothing. Writers hold the index lock, so
one writes at a time; a reader waits for a writer's commit (the busy timeout), and a streamed
answer copies its rows out first (`query.iter_runs`), so no reader keeps a writer waiting.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for another's lock before SQLite says it is busy."""
WRITER_CACHE_KIB = 64 << 10
"""Page cache of a writing connection (64 MiB): a bulk index spills to the file (and keeps
readers out until its commit) only past it."""
_HEADER = b"SQLite format 3\x00"
_CANNOT_WRITE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


def connect(path: Path) -> sqlite3.Connection:
    """The sidecar at `path` for writing (created empty when absent; a WAL sidecar of an older
    version is turned into rollback mode). The caller holds the index lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing its last commit costs a catch-up
        db.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    except BaseException:
        db.close()
        raise
    return db


def connect_readonly(path: Path) -> sqlite3.Connection | None:
    """The sidecar at `path`, read-only, creating no file; None when there is none, or when it
    is not a rollback-mode SQLite file (garbage, or WAL: opening it would create files)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        header = os.pread(fd, 100, 0)
    finally:
        os.close(fd)
    if len(header) < 100 or not header.startswith(_HEADER) or header[18:20] != b"\x01\x01":
        return None
    db = sqlite3.connect(
        f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None,
        check_same_thread=False,
    )  # fmt: skip
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


def connect_private() -> sqlite3.Connection:
    """A private temporary database (in SQLite's temporary folder, never the workspace),
    deleted when closed: the index of a workspace whose sidecar cannot be written."""
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    return db


def is_damaged(exc: BaseException) -> bool:
    """Whether SQLite says the file itself is damaged (not a database, a corrupt page)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def cannot_write(exc: BaseException) -> bool:
    """Whether `exc` says the sidecar's place cannot be written (read-only, full, no room)."""
    if isinstance(exc, OSError):
        return exc.errno in _CANNOT_WRITE
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(
        ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_PERM")
    )


def is_read_only(exc: BaseException) -> bool:
    """Whether `exc` says the place is read-only (rather than full or failing)."""
    if isinstance(exc, OSError):
        return exc.errno in _READ_ONLY
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_READONLY", "SQLITE_PERM"))
