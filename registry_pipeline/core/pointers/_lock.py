"""A create-exclusive lock file, like git's `index.lock`: whoever creates it owns the pointer file.

The lock is never broken silently. A process that finds it held by a live process waits (polling,
up to a timeout), then fails with `LOCKED`; one left by a process that no longer runs on this host
(stale) fails at once. Either names the lock file and what its owner wrote into it (pid, host,
time, age): a stale lock must be removed by a person who has checked, never by the next writer.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.seal.run_id import now_utc

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for a busy lock before failing with LOCKED."""


class LockedError(RegistryError):
    """Another writer holds the lock (or left it behind)."""

    code = "LOCKED"


@contextmanager
def exclusive_lock(path: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold `path` (created exclusively) for the block; wait up to `timeout` seconds for it."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            if time.monotonic() >= deadline or lock_state(path) == "stale":
                raise _locked(path) from None
            time.sleep(delay)  # waiting on another process, not synchronizing a test
            delay = min(delay * 2, 0.05)
    try:
        mine = os.fstat(fd).st_ino
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": _stamp()}
        os.write(fd, (json.dumps(owner) + "\n").encode())
    except BaseException:
        os.unlink(path)  # never leave a lock behind that nobody holds
        raise
    finally:
        os.close(fd)
    try:
        yield
    finally:
        _release(path, mine)


def _release(path: Path, inode: int) -> None:
    """Remove the lock if it is still ours (a person may have removed it and another writer
    taken it since: theirs is left alone)."""
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _stamp() -> str:
    return now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner(path: Path) -> dict[str, object] | None:
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def lock_state(path: Path) -> str | None:
    """None (free), "held" (by a live or unknown owner) or "stale" (its pid is gone here)."""
    if not path.exists():
        return None
    owner = _owner(path)
    if owner is None:
        return "held"  # being written, or unreadable: never called stale
    pid = owner.get("pid")
    if owner.get("host") == socket.gethostname() and isinstance(pid, int) and not _running(pid):
        return "stale"
    return "held"


def describe_lock(path: Path) -> str:
    """One line on who holds the lock at `path`, since when, and whether it is stale."""
    return _locked(path).message


def _locked(path: Path) -> LockedError:
    owner = _owner(path)
    if owner is None:
        return LockedError(
            "the pointer lock is held and its owner is unknown; if no registry command is "
            "running, remove the lock file and retry",
            path=str(path),
        )
    pid, host, since = owner.get("pid"), owner.get("host"), owner.get("since")
    here = host == socket.gethostname()
    alive = here and isinstance(pid, int) and _running(pid)
    state = (
        "still running"
        if alive
        else ("not running: the lock is stale" if here else f"on host {host}, cannot check")
    )
    return LockedError(
        f"the pointer lock is held by pid {pid} since {since}{_age(since)} ({state}); "
        + (
            "retry when it finishes"
            if alive
            else "check that no promotion is in progress, then remove the lock file"
        ),
        path=str(path),
    )


def _age(since: object) -> str:
    try:
        then = datetime.strptime(str(since), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    return f", {max(0, int((now_utc() - then).total_seconds()))} s ago"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
