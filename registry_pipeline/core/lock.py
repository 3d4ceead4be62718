"""The one lock: one holder at a time, a backend per medium; see docs/POINTERS.md."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.fs import REGULAR_ONLY
from registry_pipeline.core.verified import read_cache

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for a busy lock before failing with LOCKED."""
FIRST_POLL = 0.0005
"""The first pause before looking at a busy lock again (doubled up to the medium's `poll`)."""
NOTE_LIMIT = 64 << 10
"""The most of a lock's note a waiter reads (the note is one short line)."""
STAMP = "%Y-%m-%dT%H:%M:%SZ"
LOOK_ONLY = REGULAR_ONLY & ~os.O_NOFOLLOW
"""How `lock_state` opens a lock to look at it: a FIFO never blocks the open (a folder, which
a lock may be, and a link a lock may follow are opened as `FileLock` takes them)."""

Waiting = Callable[[str], None]
"""Told once, with who holds it, when a lock is found busy."""


def _now() -> str:
    return datetime.now(UTC).strftime(STAMP)


def command_line() -> str:
    """This process's command, as a lock's note names it (at most 200 characters)."""
    words = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    return " ".join(words)[:200]


@dataclass(frozen=True)
class Owner:
    """Who holds a lock: the note it leaves for waiters."""

    holder: str
    """What the holder is doing, in words (a command line, `dagster run ... (started by ...)`)."""
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    since: str = field(default_factory=_now)
    """When it took the lock, UTC, to the second."""

    def note(self) -> bytes:
        fields = {"holder": self.holder, "pid": self.pid, "host": self.host, "since": self.since}
        return (json.dumps(fields) + "\n").encode()


class Medium(Protocol):
    """One place a lock is held (a file, a database, a bucket): what `hold` needs of it."""

    where: str
    """The place, as messages name it (a path, a database's lock, a bucket's key)."""
    poll: float
    """The longest pause between two looks at it while busy."""

    def try_take(self, owner: Owner) -> bool:
        """Take it now if nobody holds it, leaving `owner`'s note; False when it is held."""
        ...

    def holder(self) -> str:
        """Who holds it, as its note says (the medium's own words when it says nothing)."""
        ...

    def release(self) -> None:
        """Give it up if taken, and what waiting for it held (a connection); called once."""
        ...


@contextmanager
def hold(
    medium: Medium,
    owner: Owner,
    *,
    wait: float,
    refused: Callable[[str], BaseException],
    on_wait: Waiting | None = None,
) -> Iterator[None]:
    """Hold `medium` as `owner` for the block, waiting up to `wait` s, else `refused(holder)`."""
    deadline = time.monotonic() + max(wait, 0.0)
    delay = FIRST_POLL
    try:
        while not medium.try_take(owner):
            left = deadline - time.monotonic()
            if left <= 0:
                raise refused(medium.holder())
            if on_wait is not None:
                on_wait(medium.holder())
                on_wait = None
            time.sleep(min(delay, left))  # waiting on another process, not synchronizing a test
            delay = min(delay * 2, medium.poll)
        yield
    finally:
        medium.release()


class FileLock:
    """The lock on this machine: an flock on `path` (a file, created if absent, or a folder)."""

    poll = 0.05

    def __init__(self, path: Path, *, keep: bool = False, unnamed: str = "another process"):
        self.path = path
        self.where = str(path)
        self.keep = keep
        self.unnamed = unnamed
        self._fd: int | None = None

    def try_take(self, owner: Owner | None) -> bool:
        """Take the flock now if free (leaving `owner`'s note, if any); False when held."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except IsADirectoryError:
                fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # its holder removed it after we opened it: lock the new one
        self._fd = fd
        if owner is not None:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, owner.note(), 0)
            except OSError:
                pass  # the note only tells waiters who holds it; the flock is the lock
        return True

    def holder(self) -> str:
        note = read_note(self.path)
        holder = note.get("holder") if note else None
        return holder if isinstance(holder, str) else self.unnamed

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if not self.keep:
                self.path.unlink(missing_ok=True)  # ours while we hold the flock
        finally:
            os.close(fd)  # releases the flock, whatever happened to the file


def exclusive_lock(
    path: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    holder: str | None = None,
) -> AbstractContextManager[None]:
    """Hold the file lock at `path` for the block, waiting up to `timeout` seconds, then LOCKED."""
    return hold(
        FileLock(path),
        Owner(holder if holder is not None else command_line()),
        wait=timeout,
        refused=lambda _holder: _locked(path),
    )


def lock_state(path: Path) -> str | None:
    """None when nobody holds the lock at `path` (a killed holder's included), else "held";
    whatever is there (a file, a folder, a FIFO) is looked at without waiting on it."""
    try:
        fd = os.open(path, LOOK_ONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return "held"
    finally:
        os.close(fd)
    return None


def describe_lock(path: Path) -> str:
    """One line on who holds the lock at `path`, since when."""
    return _locked(path).message


def read_note(path: Path) -> dict[str, object] | None:
    """The note of the lock at `path`, or None when none is readable (a FIFO is never waited on)."""
    note = read_cache(path, NOTE_LIMIT)
    return note if isinstance(note, dict) else None


def _locked(path: Path) -> RegistryError:
    """LOCKED: another writer holds the lock at `path` (who, since when, if its note says)."""
    owner = read_note(path) or {}
    pid, host, since = owner.get("pid"), owner.get("host"), owner.get("since")
    where = "" if host == socket.gethostname() else f" on host {host}"
    unnamed = "a process that has not written its name yet"  # no note yet, or none readable
    holder = f"pid {pid}{where} since {since}{_age(since)}" if owner else unnamed
    return RegistryError.of("LOCKED", path=path, holder=holder)


def _age(since: object) -> str:
    try:
        then = datetime.strptime(str(since), STAMP).replace(tzinfo=UTC)
    except ValueError:
        return ""
    return f", {max(0, int((datetime.now(UTC) - then).total_seconds()))} s ago"
