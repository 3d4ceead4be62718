"""The workspace's build slot: one build at a time, whoever starts it.

One concept with a backend per medium, taken in one place (the build run's own resource, at the
start of every run of the build job, whatever door launched it) and always in one order:

1. this machine: an `fcntl.flock` on `.codex/build.lock` (the kernel frees it when its holder
   exits, however it exits; the file stays, holding the holder's note for waiters);
2. the instance, when it is kept in PostgreSQL (`lib.build_slot`): an advisory lock of the
   database, which machines sharing the instance meet at;
3. the bucket, when the workspace has one (`core.workspace.remote`): its build lease, which
   machines sharing only the bucket meet at.

Nothing else takes any of them: a command never holds the slot for a run it waits for, so no
two paths can wait on each other (docs/OPERATIONS.md, "Who waits for whom"). Each backend waits
up to the same deadline and then fails with BUILD_IN_PROGRESS naming the holder.

Before the file is opened (a build's first write), the lock and every place a build writes
(`Workspace.write_places`) are checked to be real places inside the workspace: a symlink on the
way is UNSAFE_PATH, with nothing written.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from registry_pipeline.core.errors import BuildInProgress, RegistryError
from registry_pipeline.core.workspace.input_files import read_regular_file
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.remote import shared_build_slot

BUILD_SLOT_RELPATH = ".codex/build.lock"
DEFAULT_WAIT = 300.0
"""Seconds a build waits for another one before failing with BUILD_IN_PROGRESS."""
POLL_LIMIT = 0.25
NOTE_LIMIT = 64 << 10
"""The most of the slot's note a waiter reads (the note is one short line)."""
"""The longest pause between two looks at a busy slot (a wait on another process)."""

Waiting = Callable[[str], None]
"""Told once, with who holds it, when a backend finds the slot busy."""
Backend = Callable[[str, float, Waiting | None], AbstractContextManager[object]]
"""One medium's hold on the slot: (holder text, seconds left to wait, told while waiting)."""


@contextmanager
def build_slot(
    workspace: Workspace,
    holder: str,
    *,
    wait: float = DEFAULT_WAIT,
    on_wait: Waiting | None = None,
    shared: Sequence[Backend] = (),
    on_lost: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the workspace's build slot for the block: this machine's file lock, then each
    `shared` backend (the instance's), then the bucket's lease, all within `wait` seconds.
    `holder` says who holds it (waiters print it); `on_lost` is told if the bucket's lease is
    lost while held (its term lapsed: the build must stop writing)."""
    path = require_safe(workspace)
    deadline = time.monotonic() + max(wait, 0.0)

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    with ExitStack() as stack:
        stack.enter_context(file_slot(path, holder, wait, on_wait))
        for backend in shared:
            stack.enter_context(backend(holder, left(), on_wait))
        stack.enter_context(shared_build_slot(workspace, holder, left(), on_wait, on_lost))
        yield


def require_safe(workspace: Workspace) -> Path:
    """The slot's file, once it and every place a build writes are known to be real places
    inside the workspace (UNSAFE_PATH naming the first link on the way, nothing written)."""
    path = workspace.root / BUILD_SLOT_RELPATH
    workspace.require_writable(path, *workspace.write_places)
    return path


@contextmanager
def file_slot(path: Path, holder: str, wait: float, on_wait: Waiting | None) -> Iterator[None]:
    """This machine's part of the slot: the flock on `path`, its note naming `holder`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RegistryError(
            f"cannot open the build slot: {exc.strerror or exc}", code="IO_ERROR", path=str(path)
        ) from None
    try:
        _acquire(fd, path, holder, wait, on_wait)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _acquire(fd: int, path: Path, holder: str, wait: float, on_wait: Waiting | None) -> None:
    deadline = time.monotonic() + max(wait, 0.0)
    delay = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise in_progress(holder_of(path), str(path), wait) from None
            if on_wait is not None:
                on_wait(holder_of(path))
                on_wait = None
            time.sleep(delay)  # waiting on another process, not synchronizing a test
            delay = min(delay * 2, POLL_LIMIT)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps({"holder": holder, "pid": os.getpid()}) + "\n").encode(), 0)
    except OSError:
        pass  # the note only tells waiters who holds it


def holder_of(path: Path) -> str:
    """Who holds the file slot, as its note says ("a build" when it says nothing readable)."""
    try:  # the note is one short line; a FIFO or a device there says nothing
        note = json.loads(read_regular_file(path, limit=NOTE_LIMIT, what="build slot note"))
    except (OSError, ValueError, RegistryError):
        return "a build"
    if not isinstance(note, dict) or not isinstance(note.get("holder"), str):
        return "a build"
    return str(note["holder"])


def in_progress(holder: str, where: str, wait: float) -> BuildInProgress:
    """BUILD_IN_PROGRESS naming the holder and the place it holds."""
    waited = f" after waiting {wait:g} s" if wait > 0 else ""
    return BuildInProgress(
        f"another build of this workspace holds its build slot ({where}): {holder}{waited}; "
        "start it again when that one finishes",
        path=where,
    )
