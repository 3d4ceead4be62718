"""The workspace's build slot: one build at a time, whoever starts it; see docs/OPERATIONS.md."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from registry_pipeline.core.errors import BuildInProgress, io_error
from registry_pipeline.core.lock import FileLock, Medium, Owner, Waiting, hold
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.remote import remote_for

BUILD_SLOT_RELPATH = ".codex/build.lock"
DEFAULT_WAIT = 300.0
"""Seconds a build waits for another one before failing with BUILD_IN_PROGRESS."""


@contextmanager
def build_slot(
    workspace: Workspace,
    holder: str,
    *,
    wait: float = DEFAULT_WAIT,
    on_wait: Waiting | None = None,
    shared: Sequence[Medium] = (),
    on_lost: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the build slot for the block, within `wait`; `on_lost`: lease lapsed, stop writing."""
    path = require_safe(workspace)
    deadline = time.monotonic() + max(wait, 0.0)

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    with ExitStack() as stack:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            here = FileLock(path, keep=True, unnamed="a build")
            stack.enter_context(slot(here, holder, wait, on_wait))
        except OSError as exc:
            raise io_error(exc, path, done="no build started (no build slot)") from None
        for medium in shared:
            stack.enter_context(slot(medium, holder, left(), on_wait))
        remote = remote_for(workspace)
        if remote is not None:
            lease = remote.lease(on_lost)
            stack.enter_context(slot(lease, holder, left(), on_wait, lease.refused))
            remote.grant = lease.grant  # the process's one client of this bucket: its writes
            stack.callback(setattr, remote, "grant", None)
        yield


def slot(
    medium: Medium,
    holder: str,
    wait: float,
    on_wait: Waiting | None = None,
    refused: Callable[[str], BaseException] | None = None,
) -> AbstractContextManager[None]:
    """`medium`'s part of the slot as `holder`; `refused` after `wait` s (BUILD_IN_PROGRESS)."""
    refused = refused or (lambda who: in_progress(who, medium.where, wait))
    return hold(medium, Owner(holder), wait=wait, refused=refused, on_wait=on_wait)


def require_safe(workspace: Workspace) -> Path:
    """The slot's file, once it and every place a build writes are real places in the workspace."""
    path = workspace.root / BUILD_SLOT_RELPATH
    workspace.require_writable(path, *workspace.write_places)
    return path


def in_progress(holder: str, where: str, wait: float) -> BuildInProgress:
    """BUILD_IN_PROGRESS naming the holder and the place it holds."""
    waited = f" after waiting {wait:g} s" if wait > 0 else ""
    return BuildInProgress.of("BUILD_IN_PROGRESS", path=where, holder=holder, waited=waited)
