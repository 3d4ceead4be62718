"""One build at a time per workspace: an `fcntl.flock` on `.codex/build.lock`.

The kernel releases the lock when its holder exits, however it exits, so a killed build leaves
nothing to clean up. The file itself stays (removing a lock file others may hold open would let
two holders in); the holder writes its pid, command and start time into it so that a waiter can
say who it waits for. The lock is re-entrant within one thread: `registry build` holds it and
the Dagster run it executes in process (same thread) asks for it again; another thread of the
same process opens its own descriptor and waits like another process.

A holder may name a `delegate` in its note (`registry build`: the id of the Dagster run it
executes). A request whose `token` is that id, while the lock is held, is the holder's delegate
(that run, in a run worker: another process) and goes on without taking the lock: the holder
keeps it for both. Every other request waits, whoever launched it (the UI, a schedule, a
re-execution of the delegated run, whose run id is new, or another process of the same run: a
holder that names no delegate shares with nobody); a delegate named by a holder that is gone
opens nothing (the request then takes the free lock like any other).

On a workspace with a bucket (`core.workspace.remote`), the holder also takes the bucket's
build lease, which machines sharing only the bucket see; the delegate is recognised there by
the same run id.

Before the lock is opened (a build's first write), the lock and every place a build writes
(`Workspace.write_places`) are checked to be real places inside the workspace: a symlink on the
way is UNSAFE_PATH, with nothing written.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.remote import shared_build_slot

BUILD_LOCK_RELPATH = ".codex/build.lock"
DEFAULT_WAIT = 300.0
"""Seconds a build waits for another one before failing with BUILD_IN_PROGRESS."""

_held: dict[tuple[str, int], int] = {}
"""(lock path, thread id) -> how many times that thread holds it (re-entrance)."""
_guard = threading.Lock()


class BuildInProgress(RegistryError):
    """Another build of this workspace holds the build lock."""

    code = "BUILD_IN_PROGRESS"


@contextmanager
def build_lock(
    workspace: Workspace,
    *,
    wait: float = DEFAULT_WAIT,
    command: str = "build",
    on_wait: Callable[[str], None] | None = None,
    delegate: str | None = None,
    token: str | None = None,
) -> Iterator[None]:
    """Hold the workspace's build lock for the block, waiting up to `wait` seconds for it;
    `on_wait` is told once, with who holds it, when the lock is busy. The holder names
    `delegate` in its note; a request whose `token` a live holder names goes on as its delegate,
    taking nothing (module doc)."""
    path = workspace.root / BUILD_LOCK_RELPATH
    key = (str(path), threading.get_ident())
    with _guard:
        if _held.get(key):
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:  # checked when it was first taken
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    workspace.require_writable(path, *workspace.write_places)
    fd = _acquire(path, wait, command, on_wait, delegate, token)
    # a workspace on object storage: the bucket's lease too, across machines (same delegation)
    lease = shared_build_slot(
        workspace, wait=wait, command=command, on_wait=on_wait, token=delegate or token
    )
    if fd is None:  # the holder's delegate: the holder keeps the lock for both
        with lease:
            yield
        return
    with _guard:
        _held[key] = 1
    try:
        with lease:
            yield
    finally:
        with _guard:
            _held.pop(key, None)
        os.close(fd)  # closing the descriptor releases the flock


def _acquire(
    path: Path,
    wait: float,
    command: str,
    on_wait: Callable[[str], None] | None = None,
    delegate: str | None = None,
    token: str | None = None,
) -> int | None:
    """The descriptor holding the lock, or None when the holder names `token` its delegate."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RegistryError(
            f"cannot open the build lock: {exc.strerror or exc}",
            code="IO_ERROR",
            path=str(path),
        ) from None
    deadline = time.monotonic() + max(wait, 0.0)
    delay = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if token is not None and _owner(path, fd).get("delegate") == token:
                os.close(fd)  # held, by the holder that named this request its delegate
                return None
            if time.monotonic() >= deadline:
                os.close(fd)
                raise _in_progress(path, wait) from None
            if on_wait is not None:
                on_wait(f"waiting up to {wait:g} s for another build of this workspace: "
                        f"{_holder(path)} (Ctrl-C to stop waiting)")  # fmt: skip
                on_wait = None
            time.sleep(delay)  # waiting on another process, not synchronizing a test
            delay = min(delay * 2, 0.25)
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
             "since": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
    if delegate is not None:
        owner["delegate"] = delegate
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)
    except OSError:
        pass  # the note tells who holds it; unwritten, it names no delegate (that run waits)
    return fd


def _owner(path: Path, fd: int | None = None) -> dict[str, object]:
    """The holder's note (empty when unreadable, or not written yet), through `fd` if given."""
    try:
        text = os.pread(fd, 4096, 0) if fd is not None else path.read_bytes()
        owner = json.loads(text)
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _holder(path: Path) -> str:
    owner = _owner(path)
    pid, since = owner.get("pid", "?"), owner.get("since", "?")
    return f"pid {pid} ({owner.get('command', 'a build')}) since {since}"


def _in_progress(path: Path, wait: float) -> BuildInProgress:
    who = _holder(path)
    waited = f" after waiting {wait:g} s" if wait > 0 else ""
    return BuildInProgress(
        f"another build of this workspace is running: {who}{waited}; retry when it finishes "
        "or pass --wait SECONDS",
        path=str(path),
    )
