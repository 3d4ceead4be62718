"""The build lock's delegate: a holder (`registry build`) names the Dagster run it executes, and
that run, in another process, goes on without taking the lock; every other request waits.

The holder runs in another thread of this process (a descriptor of its own, so its flock meets
this thread's as another process's would); it is synchronized on events, never on time."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from registry_pipeline.core.pointers._lock import lock_state
from registry_pipeline.core.workspace.build_lock import (
    BUILD_LOCK_RELPATH,
    BuildInProgress,
    build_lock,
)
from registry_pipeline.core.workspace.layout import Workspace

RUN = "5b0c5d3e-0000-4000-8000-000000000001"
OTHER_RUN = "5b0c5d3e-0000-4000-8000-000000000002"

Holding = Callable[..., AbstractContextManager[None]]


@pytest.fixture
def holding(workspace: Workspace) -> Iterator[Holding]:
    """`holding(delegate=...)`: the lock held by another thread for the block."""

    @contextmanager
    def hold(delegate: str | None = None) -> Iterator[None]:
        held, release, failed = threading.Event(), threading.Event(), []

        def holder() -> None:
            try:
                with build_lock(workspace, wait=0, command="holder", delegate=delegate):
                    held.set()
                    release.wait(timeout=60)
            except BaseException as exc:  # said to the test below, not lost in the thread
                failed.append(exc)
                held.set()

        thread = threading.Thread(target=holder)
        thread.start()
        held.wait(timeout=60)
        assert not failed, failed
        try:
            yield
        finally:
            release.set()
            thread.join(timeout=60)

    yield hold


def _held(workspace: Workspace) -> bool:
    return lock_state(workspace.root / BUILD_LOCK_RELPATH) == "held"


def test_the_run_the_holder_names_goes_on_and_the_holder_keeps_the_lock(
    workspace: Workspace, holding: Holding
) -> None:
    with holding(delegate=RUN):
        note = json.loads((workspace.root / BUILD_LOCK_RELPATH).read_text())
        assert note["delegate"] == RUN and note["command"] == "holder"
        with build_lock(workspace, wait=0, token=RUN):  # at once: no BuildInProgress
            assert _held(workspace)
        assert _held(workspace)  # the delegate leaving released nothing
        with pytest.raises(BuildInProgress), build_lock(workspace, wait=0):
            pass  # the holder still holds it against everyone else


@pytest.mark.parametrize(
    ("delegate", "token"),
    [
        (RUN, OTHER_RUN),  # a re-execution of the holder's run: a new run id
        (RUN, None),  # a request that names no run
        (None, RUN),  # a holder that names no delegate shares with nobody, its own run included
    ],
)
def test_an_impostor_waits_for_the_holder(
    workspace: Workspace, holding: Holding, delegate: str | None, token: str | None
) -> None:
    with (
        holding(delegate=delegate),
        pytest.raises(BuildInProgress) as refused,
        build_lock(workspace, wait=0, token=token),
    ):
        pass
    assert "(holder)" in refused.value.message


def test_a_delegate_whose_holder_is_gone_takes_the_lock_itself(
    workspace: Workspace, holding: Holding
) -> None:
    with holding(delegate=RUN):
        pass
    note = json.loads((workspace.root / BUILD_LOCK_RELPATH).read_text())
    assert note["delegate"] == RUN  # the gone holder's note stays; the flock is free
    assert not _held(workspace)
    outcome: list[str] = []
    with build_lock(workspace, wait=0, token=RUN, command="the run"):
        assert _held(workspace)  # taken, not shared: nobody holds it for this run
        note = json.loads((workspace.root / BUILD_LOCK_RELPATH).read_text())
        assert note["command"] == "the run" and "delegate" not in note
        thread = threading.Thread(target=lambda: outcome.append(_try(workspace, OTHER_RUN)))
        thread.start()
        thread.join(timeout=60)
    assert outcome == ["refused"]


def _try(workspace: Workspace, token: str) -> str:
    try:
        with build_lock(workspace, wait=0, token=token):
            return "entered"
    except BuildInProgress:
        return "refused"
