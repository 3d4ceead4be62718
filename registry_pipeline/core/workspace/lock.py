"""The pointer lock: an `fcntl.flock` on `ACTIVE_REGISTRY_POINTERS_v0_1.json.lock`.

The kernel releases the lock when its holder exits, however it exits, so a killed promotion or
build never leaves a lock that blocks the next writer: a lock cannot go stale. The file exists
while someone holds it and names the holder (pid, host, time); the holder removes it when done.
A killed holder leaves the file behind, unlocked: the next writer takes it as free. A waiter
polls up to a timeout, then fails with `LOCKED`, naming the lock file, the holder and its age.
After taking the flock, a writer checks that the file it locked is still the one at the path (a
holder that released meanwhile removed it), so two writers never both hold the lock.
"""

from __future__ import annotations

import fcntl
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
    """Another writer holds the lock."""

    code = "LOCKED"


@contextmanager
def exclusive_lock(path: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the lock at `path` for the block; wait up to `timeout` seconds for it."""
    fd = _acquire(path, time.monotonic() + timeout)
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": _stamp()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)
        except OSError:
            pass  # the owner note is for humans; the flock is the lock
        yield
    finally:
        try:
            path.unlink(missing_ok=True)  # ours while we hold the flock
        finally:
            os.close(fd)  # releases the flock, whatever happened to the file


def _acquire(path: Path, deadline: float) -> int:
    delay = 0.0005
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise _locked(path) from None
            time.sleep(delay)  # waiting on another process, not synchronizing a test
            delay = min(delay * 2, 0.05)
            continue
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # its holder removed it after we opened it: lock the new one


def lock_state(path: Path) -> str | None:
    """None when nobody holds the lock (a file left by a killed holder included), else "held"."""
    try:
        fd = os.open(path, os.O_RDONLY)
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


def _stamp() -> str:
    return now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner(path: Path) -> dict[str, object] | None:
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _locked(path: Path) -> LockedError:
    owner = _owner(path)
    if owner is None:
        return LockedError(
            "the lock is held by a process that has not written its name yet; retry",
            path=str(path),
        )
    pid, host, since = owner.get("pid"), owner.get("host"), owner.get("since")
    where = "" if host == socket.gethostname() else f" on host {host}"
    return LockedError(
        f"the lock is held by pid {pid}{where} since {since}{_age(since)}; retry when "
        "it finishes (a lock dies with its holder: it never needs removing)",
        path=str(path),
    )


def _age(since: object) -> str:
    try:
        then = datetime.strptime(str(since), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    return f", {max(0, int((now_utc() - then).total_seconds()))} s ago"
