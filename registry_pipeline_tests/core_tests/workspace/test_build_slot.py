"""The build slot: one holder at a time (thread or process), freed however its holder exits."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from registry_pipeline.core.errors import BuildInProgress
from registry_pipeline.core.lock import read_note
from registry_pipeline.core.workspace.build_slot import BUILD_SLOT_RELPATH, build_slot
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import slot_holder


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    (tmp_path / ".codex" / "RUNS").mkdir(parents=True)
    return Workspace(tmp_path)


def _holder(workspace: Workspace) -> object:
    """Who holds the slot, as its note says."""
    note = read_note(workspace.root / BUILD_SLOT_RELPATH)
    return note and note.get("holder")


def test_a_second_holder_is_refused_even_in_the_same_process_and_the_holder_is_named(
    workspace: Workspace,
) -> None:
    outcome: list[str] = []

    def other_thread() -> None:
        try:
            with build_slot(workspace, "the other one", wait=0):
                outcome.append("entered")
        except BuildInProgress as exc:
            outcome.append(str(exc))

    with build_slot(workspace, "pid 1 (first)", wait=0):
        assert _holder(workspace) == "pid 1 (first)"
        # no re-entrance: a second hold is a second build
        with pytest.raises(BuildInProgress), build_slot(workspace, "same thread", wait=0):
            pass
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert len(outcome) == 1 and "pid 1 (first)" in outcome[0]
    with build_slot(workspace, "after", wait=0):  # released for good
        pass


def test_a_waiter_is_told_once_who_holds_it_and_runs_when_it_is_freed(
    workspace: Workspace,
) -> None:
    told: list[str] = []
    entered = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with build_slot(workspace, "the holder", wait=0):
            entered.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert entered.wait(30)

    def on_wait(who: str) -> None:
        told.append(who)
        release.set()  # the holder finishes once the waiter waits

    with build_slot(workspace, "the waiter", wait=30, on_wait=on_wait):
        assert _holder(workspace) == "the waiter"
    thread.join()
    assert told == ["the holder"]


def test_a_killed_holder_frees_the_slot(workspace: Workspace) -> None:
    """The kernel frees the flock of a process however it ends; its note stays, harmless."""
    child = slot_holder(workspace.root, "the killed one")  # once it holds the slot
    try:
        with pytest.raises(BuildInProgress) as raised, build_slot(workspace, "me", wait=0):
            pass
        assert "the killed one" in str(raised.value)
        assert raised.value.path == str(workspace.root / BUILD_SLOT_RELPATH)
    finally:
        child.kill()
        child.wait()
    with build_slot(workspace, "me", wait=0):
        pass
