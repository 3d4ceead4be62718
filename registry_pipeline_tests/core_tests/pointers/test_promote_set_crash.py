"""Crash tests of `promote_set`: a child process promoting three registries in one set is
killed (SIGKILL) at each named step between its writes. Afterwards every reader (the pointer
file, `explained`, as-of, verify, with and without the checkpoint) sees the whole old set or the
whole new one, never part of it; and the next change, with no one removing anything, completes
a journaled set whole before its own."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.journal import read_records, state_as_of, verify_journal
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests.core_tests.pointers._processes import (
    assert_the_lock_died_with_its_holder,
    crashed_at,
)

REGISTRIES = ("alpha", "beta", "gamma")
RELPATH = "ALPHA.json"
PERSON = {"kind": "cli_user", "id": "tester@host"}
STEPS = ("pointer_locked", "set_judged", "journal_appended", "pointer_temp_written",
         "pointer_renamed")  # fmt: skip
"""`promote_set`'s named steps, in order (`test_promote_set.py` pins them on a set of three)."""
JOURNALED = frozenset({"journal_appended", "pointer_temp_written", "pointer_renamed"})
"""Steps reached after the set's line was appended and fsynced."""
REPLACED = frozenset({"pointer_renamed"})
"""Steps reached after the new pointer file replaced the old one."""
CHILD = """
import sys
from pathlib import Path
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.store import Move, PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests.core_tests.pointers._processes import (
    assert_the_lock_died_with_its_holder,
    crashed_at,
)
root, *pairs = sys.argv[1:]
moves = [Move(rid, run_id, "ALPHA.json") for rid, run_id in (p.split("=") for p in pairs)]
PointerStore(Workspace(Path(root)), lock_timeout=5).promote_set(
    moves, reason="crash test", actor={"kind": "dagster_run", "id": "crash"}, admit=admission)
"""


@pytest.fixture
def runs(make_run: Callable[..., SealedRun], workspace: Workspace) -> dict[str, list[str]]:
    """Three snapshots of each registry, oldest first; the first of each active."""
    made = {
        rid: [make_run({RELPATH: b'{"%s": %d}\n' % (rid.encode(), n)}, registry_id=rid).run_id
              for n in range(3)]
        for rid in REGISTRIES
    }  # fmt: skip
    pstore = PointerStore(workspace)
    for rid, run_ids in made.items():
        pstore.promote(rid, run_ids[0], relpath=RELPATH, reason="setup", actor=PERSON,
                       admit=admission)  # fmt: skip
    return made


def _set_in_child(
    workspace: Workspace, targets: dict[str, str], crash_at: str | None
) -> subprocess.CompletedProcess[str]:
    pairs = [f"{rid}={run_id}" for rid, run_id in targets.items()]
    return crashed_at([sys.executable, "-c", CHILD, str(workspace.root), *pairs], crash_at)


def _whole(pstore: PointerStore, runs: dict[str, list[str]], index: int) -> None:
    """Every reader shows snapshot `index` of every registry: the set whole."""
    expected = {rid: run_ids[index] for rid, run_ids in runs.items()}
    assert {rid: pstore.read().active(rid).run_id for rid in runs} == expected  # type: ignore[union-attr]
    assert {rid: pstore.explained().active(rid).run_id for rid in runs} == expected  # type: ignore[union-attr]


def _as_of_sets(pstore: PointerStore, runs: dict[str, list[str]]) -> list[dict[str, str]]:
    """The set as-of each moment the journal names: each must be one whole build's."""
    records = list(read_records(pstore.journal_path))
    seen = []
    for moment in sorted({record.created_utc for record in records}):
        state = state_as_of(iter(records), moment)
        seen.append({rid: state[rid].to_ref.run_id for rid in runs if rid in state})  # type: ignore[union-attr]
    return seen


@pytest.mark.parametrize("step", STEPS)
def test_a_set_killed_at_each_step_is_seen_whole_and_completed_whole(
    workspace: Workspace, runs: dict[str, list[str]], step: str
) -> None:
    pstore = PointerStore(workspace, lock_timeout=0.2)
    lines_before = len(pstore.journal_path.read_bytes().splitlines())
    killed = _set_in_child(workspace, {rid: run_ids[1] for rid, run_ids in runs.items()}, step)
    assert killed.returncode == -signal.SIGKILL, (step, killed.returncode, killed.stderr)

    journaled, replaced = step in JOURNALED, step in REPLACED
    _whole(pstore, runs, 1 if replaced else 0)
    lines = pstore.journal_path.read_bytes().splitlines()
    assert len(lines) == lines_before + (1 if journaled else 0)
    olds = {rid: run_ids[0] for rid, run_ids in runs.items()}
    news = {rid: run_ids[1] for rid, run_ids in runs.items()}
    assert _as_of_sets(pstore, runs)[-1] == (news if journaled else olds)
    for seen in _as_of_sets(pstore, runs):  # only the setup's promotions build the first set
        assert len(seen) < len(runs) or seen in (olds, news)
    pending = journaled and not replaced
    for report in (verify_journal(pstore.journal_path, pstore.read()),
                   pstore.verified(pstore.read(), checkpoint=True),
                   pstore.verify(admit=admission)):  # fmt: skip
        assert report.ok, report.problems
        assert [n.code for n in report.notes] == (["PENDING_RECORD"] if pending else [])
    assert_the_lock_died_with_its_holder(pstore)

    # the next change completes a journaled set whole, then applies its own
    pstore.promote("alpha", runs["alpha"][2], relpath=RELPATH, reason="after the crash",
                   actor=PERSON, admit=admission)  # fmt: skip
    shown = pstore.explained()
    expected = {**(news if journaled else olds), "alpha": runs["alpha"][2]}
    assert {rid: shown.active(rid).run_id for rid in runs} == expected  # type: ignore[union-attr]
    after = pstore.verify(admit=admission)
    assert after.ok and after.notes == [], (after.problems, after.notes)
    assert len(pstore.journal_path.read_bytes().splitlines()) == len(lines) + 1


def test_a_crash_while_completing_a_pending_set_leaves_it_whole(
    workspace: Workspace, runs: dict[str, list[str]]
) -> None:
    """The next change is killed too, right after its completion of the pending set replaced
    the file: the first set is shown whole, the second was never journaled."""
    pstore = PointerStore(workspace, lock_timeout=0.2)
    first = _set_in_child(workspace, {rid: r[1] for rid, r in runs.items()}, "journal_appended")
    assert first.returncode == -signal.SIGKILL, first.stderr
    lines = pstore.journal_path.read_bytes()
    second = _set_in_child(workspace, {rid: r[2] for rid, r in runs.items()}, "pointer_renamed")
    assert second.returncode == -signal.SIGKILL, second.stderr
    assert pstore.journal_path.read_bytes() == lines
    _whole(pstore, runs, 1)
    report = pstore.verify(admit=admission)
    assert report.ok and report.notes == []
    done = _set_in_child(workspace, {rid: r[2] for rid, r in runs.items()}, None)
    assert done.returncode == 0, done.stderr
    _whole(pstore, runs, 2)
    assert pstore.verify(admit=admission).ok
