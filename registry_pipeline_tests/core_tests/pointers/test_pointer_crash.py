"""Crash tests: `registry pointers promote` killed by SIGKILL at each named step of a change.

Afterwards the pointer file parses and names a folder that validates, the journal verifies (an
interrupted change shows as a PENDING_RECORD note), the lock died with its holder (its file is left,
naming the killed process, but nobody holds it), and the next promotion, with no one removing
anything, completes the interrupted change, applies its own, and the journal verifies clean.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.journal import read_records, verify_journal
from registry_pipeline.core.pointers.pointer_file import read_pointer_file
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import registry
from registry_pipeline_tests.core_tests.pointers._processes import (
    assert_the_lock_died_with_its_holder,
    crashed_at,
)

REGISTRY = "alpha"
RELPATH = "ALPHA.json"
ACTOR = {"kind": "cli_user", "id": "tester@host"}
STEPS = ("pointer_locked", "journal_appended", "pointer_temp_written", "pointer_renamed")
JOURNALED = frozenset({"journal_appended", "pointer_temp_written", "pointer_renamed"})
"""Steps reached after the record was appended and fsynced."""
REPLACED = frozenset({"pointer_renamed"})
"""Steps reached after the new pointer file replaced the old one."""


@pytest.fixture
def snapshots(make_run: Callable[..., SealedRun]) -> list[SealedRun]:
    """Three sealed snapshots of alpha, oldest first."""
    return [make_run({RELPATH: b'{"n": %d}\n' % n}, registry_id=REGISTRY) for n in range(3)]


def _promote_cli(
    workspace: Workspace, run_id: str, crash_at: str | None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "registry_pipeline", "pointers", "promote", REGISTRY, run_id]
    argv += ["--workspace", str(workspace.root), "--reason", "crash test", "--json"]
    return crashed_at(argv, crash_at)


def _assert_pointer_names_a_valid_folder(pstore: PointerStore, allowed: set[str]) -> str:
    """The pointer file parses and its alpha entry names a folder that validates, with its root."""
    pointers = read_pointer_file(pstore.pointers_path, pstore.schemas)
    ref = pointers.active(REGISTRY)
    assert ref is not None and ref.run_id in allowed, ref
    report = inspect_run_folder(pstore.workspace.runs_dir / ref.run_id, schemas=pstore.schemas)
    assert report.ok, report.problems
    assert report.root_sha256 == ref.manifest_sha256
    return ref.run_id


@pytest.mark.parametrize("first", [False, True], ids=["second", "first"])
@pytest.mark.parametrize("step", STEPS)
def test_a_promotion_killed_at_each_step_leaves_a_consistent_store(
    workspace: Workspace, snapshots: list[SealedRun], step: str, first: bool
) -> None:
    """The second promotion killed, or (`first`) the first: with no pointer file yet the crash
    leaves none, or one naming the target."""
    runs = [run.run_id for run in snapshots]
    before, (target, after) = ([] if first else runs[:1]), runs[1:]
    if before:  # in this process: only the killed promotion needs its own
        code, out, err = registry("pointers", "promote", REGISTRY, *before, "--workspace",
                                  str(workspace.root), "--reason", "crash test")  # fmt: skip
        assert code == 0, out + err
    pstore = PointerStore(workspace, lock_timeout=0.2)

    killed = _promote_cli(workspace, target, step)
    assert killed.returncode == -signal.SIGKILL, (step, killed.returncode, killed.stderr)

    journaled = [*before, target] if step in JOURNALED else before
    if first and step not in REPLACED:
        assert not pstore.pointers_path.exists()
    else:
        active = _assert_pointer_names_a_valid_folder(pstore, {*before, target})
        assert active == (target if step in REPLACED else before[-1])
    assert [r.to_ref.run_id for r in read_records(pstore.journal_path)] == journaled
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok, report.problems
    pending = step in JOURNALED and step not in REPLACED
    assert [(n.code, n.extra["seq"]) for n in report.notes] == (
        [("PENDING_RECORD", len(journaled))] if pending else [])  # fmt: skip

    assert_the_lock_died_with_its_holder(pstore)

    expected_now = journaled[-1] if journaled else None
    change = pstore.promote(REGISTRY, after, relpath=RELPATH, reason="after the crash",
                            actor=ACTOR, expect=expected_now, admit=admission)  # fmt: skip
    assert change.changed and (change.current.run_id if change.current else None) == expected_now
    assert _assert_pointer_names_a_valid_folder(pstore, {after}) == after
    assert [r.to_ref.run_id for r in read_records(pstore.journal_path)] == [*journaled, after]
    done = verify_journal(pstore.journal_path, pstore.read())
    assert done.ok and done.notes == [], (done.problems, done.notes)
    assert not pstore.lock_path.exists()


def test_the_named_steps_are_the_ones_the_store_passes(
    workspace: Workspace, snapshots: list[SealedRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the list above: a renamed or new crash point in the store fails here."""
    from registry_pipeline.core.pointers import store

    reached: list[str] = []
    monkeypatch.setattr(store, "crash_point", reached.append)
    pstore = PointerStore(workspace)
    pstore.promote(
        REGISTRY, snapshots[0].run_id, relpath=RELPATH, reason="", actor=ACTOR, admit=admission
    )
    assert reached == list(STEPS)
