"""`PointerStore.promote_set`: a build's registries promoted in one journaled compare-and-swap,
each judged by the rules of an automatic `promote`; every reader sees the set whole."""

from __future__ import annotations

import errno
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers import store as store_module
from registry_pipeline.core.pointers.journal import (
    SET_VERSION,
    last_effective_record_of,
    last_record,
    read_records,
    records_of,
    verify_journal,
)
from registry_pipeline.core.pointers.store import (
    Move,
    MoveOutcome,
    PointerRefused,
    PointerStore,
)
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline_tests._helpers import registry, seal_checked
from registry_pipeline_tests.core_tests.pointers.test_promote_set_crash import STEPS

ACTOR = {"kind": "dagster_run", "id": "run-1"}
PERSON = {"kind": "cli_user", "id": "tester@host"}
RELPATH = "ALPHA.json"
Snap = Callable[..., SealedRun]
BUILD_CHECKS = {"rules": {"passed": True, "status": "SUCCEEDED", "source": "test"}}


def move(run: SealedRun, registry_id: str) -> Move:
    return Move(registry_id, run.run_id, RELPATH, BUILD_CHECKS)


def promote_set(pstore: PointerStore, moves: list[Move], **kwargs: Any) -> list[MoveOutcome]:
    kwargs.setdefault("admit", admission)
    return pstore.promote_set(moves, reason="a build", actor=ACTOR, **kwargs)


def promote(pstore: PointerStore, run: SealedRun, registry_id: str) -> None:
    pstore.promote(registry_id, run.run_id, relpath=RELPATH, reason="by hand", actor=PERSON,
                   admit=admission)  # fmt: skip


def lines(pstore: PointerStore) -> list[bytes]:
    """The journal's lines (none before its first)."""
    journal = pstore.journal_path
    return journal.read_bytes().splitlines() if journal.exists() else []


def codes(outcomes: list[MoveOutcome]) -> dict[str, str]:
    """Each move's result as one word: its refusal's code, `moved` or `active` (no change)."""
    return {
        o.registry_id: o.refusal.code if o.refusal else
        "moved" if o.change is not None and o.change.changed else "active"
        for o in outcomes
    }  # fmt: skip


def json_of(*args: str) -> Any:
    code, out, err = registry(*args, "--json")
    assert code == 0, out + err
    return json.loads(out)


@pytest.fixture
def three(pstore: PointerStore, snap: Snap) -> dict[str, tuple[SealedRun, SealedRun]]:
    """alpha, beta and gamma each with an active snapshot (promoted one by one) and a newer one."""
    olds = {rid: snap(rid) for rid in ("alpha", "beta", "gamma")}
    for rid, run in olds.items():
        promote(pstore, run, rid)
    return {rid: (run, snap(rid)) for rid, run in olds.items()}


def test_a_set_of_three_is_one_journal_line_and_one_pointer_file_replace(
    pstore: PointerStore, three: dict[str, tuple[SealedRun, SealedRun]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    before, file_before = lines(pstore), pstore.pointers_path.read_bytes()
    steps: list[str] = []
    monkeypatch.setattr(store_module, "crash_point", steps.append)
    outcomes = promote_set(pstore, [move(new, rid) for rid, (_old, new) in three.items()])

    assert steps == list(STEPS)  # one append, one replace: the steps the crash tests kill at
    after = lines(pstore)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    entry = json.loads(after[-1])
    assert entry["journal_version"] == SET_VERSION and entry["seq"] == 4
    assert [(m["registry_id"], m["from_ref"]["run_id"], m["to_ref"]["run_id"])
            for m in entry["moves"]] == [
        (rid, old.run_id, new.run_id) for rid, (old, new) in three.items()]  # fmt: skip
    for item in entry["moves"]:
        assert item["checks"]["rules"] == BUILD_CHECKS["rules"]
        assert item["checks"]["receipt"]["source"] == "promotion receipt"
    head = last_record(pstore.journal_path)
    assert head is not None
    assert codes(outcomes) == dict.fromkeys(three, "moved")
    for outcome in outcomes:
        change = outcome.change
        assert change is not None and change.record is not None and change.current is not None
        assert (change.record.seq, change.record.sha256) == (4, head.sha256)
        assert change.record.registry_id == change.registry_id == outcome.registry_id
        assert change.current.run_id == three[outcome.registry_id][0].run_id  # where it was

    # the pointer file, replay and verify
    assert pstore.pointers_path.read_bytes() != file_before
    shown = pstore.explained()
    assert {rid: shown.active(rid).run_id for rid in three} == {
        rid: new.run_id for rid, (_old, new) in three.items()}  # fmt: skip
    assert shown.last_updated_utc == entry["created_utc"]
    report = pstore.verify(admit=admission)
    assert report.ok and report.notes == [] and report.records == 4 and report.head == head.sha256
    assert verify_journal(pstore.journal_path, pstore.read()).ok

    # history: each registry shows its move, naming the shared entry (seq and hash)
    for rid, (old, new) in three.items():
        history = json_of("pointers", "history", rid, "--workspace", str(pstore.workspace.root))
        last = history[-1]
        assert (last["registry_id"], last["seq"], last["sha256"]) == (rid, 4, head.sha256)
        assert (last["from_ref"]["run_id"], last["to_ref"]["run_id"]) == (old.run_id, new.run_id)
        assert next(records_of(pstore.journal_path, rid)).seq == 4
    assert [r.seq for r in read_records(pstore.journal_path)] == [1, 2, 3, 4, 4, 4]

    # as-of: the whole old set before the entry, the whole new set from its moment
    third = json.loads(before[-1])["created_utc"]
    for moment, index in ((third, 0), (entry["created_utc"], 1)):
        document = json_of("pointers", "as-of", moment, "--workspace", str(pstore.workspace.root))
        at = {row["registry_id"]: row["active_ref"]["run_id"] for row in document["pointers"]}
        assert at == {rid: runs[index].run_id for rid, runs in three.items()}


def test_held_and_not_newer_registries_stay_out_and_the_rest_move_in_one_entry(
    pstore: PointerStore, snap: Snap, three: dict[str, tuple[SealedRun, SealedRun]]
) -> None:
    pstore.hold("alpha", reason="freeze", actor=PERSON, admit=admission)
    older = snap("delta")  # delta: a registry with no pointer yet
    beta_old, _beta_new = three["beta"]
    before = lines(pstore)
    outcomes = promote_set(pstore, [
        move(three["alpha"][1], "alpha"),  # held
        Move("beta", beta_old.run_id, RELPATH),  # the active one again: no change
        move(three["gamma"][1], "gamma"),
        move(older, "delta"),
        Move("epsilon", "2026-01-01__000000__epsilon_build", RELPATH),  # no such folder
    ])  # fmt: skip
    assert codes(outcomes) == {"alpha": "HELD", "beta": "active", "gamma": "moved",
                               "delta": "moved", "epsilon": "TARGET_MISSING"}  # fmt: skip
    after = lines(pstore)
    assert len(after) == len(before) + 1
    entry = json.loads(after[-1])
    assert [m["registry_id"] for m in entry["moves"]] == ["gamma", "delta"]
    assert pstore.read().active("alpha") == pstore.recorded("alpha")
    assert pstore.recorded("alpha").run_id == three["alpha"][0].run_id

    outcomes = promote_set(pstore, [
        move(three["gamma"][0], "gamma"),  # older than the active one now
        move(snap("delta"), "delta"),
    ])  # fmt: skip
    assert codes(outcomes) == {"gamma": "NOT_NEWER", "delta": "moved"}
    one = json.loads(lines(pstore)[-1])  # one move admitted: a one-registry line, as `promote`'s
    assert one["journal_version"] == "0.1" and one["registry_id"] == "delta"
    assert "moves" not in one
    assert verify_journal(pstore.journal_path, pstore.read()).ok


def test_nothing_admitted_or_no_gate_writes_nothing(
    pstore: PointerStore, three: dict[str, tuple[SealedRun, SealedRun]]
) -> None:
    def files() -> tuple[bytes, bytes]:
        return pstore.journal_path.read_bytes(), pstore.pointers_path.read_bytes()

    before = files()
    news = [move(new, rid) for rid, (_old, new) in three.items()]
    assert codes(promote_set(pstore, news, admit=None)) == dict.fromkeys(three, "NO_GATE")
    assert codes(promote_set(pstore, [])) == {}
    assert files() == before
    pstore.hold("alpha", reason="freeze", actor=PERSON, admit=admission)
    before = files()
    outcomes = promote_set(pstore, [move(three["alpha"][1], "alpha"),
                                    move(three["beta"][0], "beta")])  # fmt: skip
    assert codes(outcomes) == {"alpha": "HELD", "beta": "active"}
    assert files() == before


def test_the_gate_refuses_one_move_and_the_others_go(
    pstore: PointerStore, three: dict[str, tuple[SealedRun, SealedRun]]
) -> None:
    failed, _root = seal_checked(pstore.workspace.root, "delta", 1, "failed")
    outcomes = promote_set(pstore, [Move("delta", failed, "DELTA.json"),
                                    move(three["beta"][1], "beta")])  # fmt: skip
    assert codes(outcomes) == {"delta": "CHECK_FAILED", "beta": "moved"}
    assert pstore.read().active("delta") is None


def test_a_hand_edited_pointer_refuses_every_move_as_promote_would(
    pstore: PointerStore, three: dict[str, tuple[SealedRun, SealedRun]]
) -> None:
    """While the file shows a pointer the journal does not explain, `promote` of any registry is
    refused (POINTER_MISMATCH): so is every move of a set, and nothing is written."""
    document = json.loads(pstore.pointers_path.read_text())
    document["pointers"][0]["active_ref"]["run_id"] = three["alpha"][1].run_id  # by hand
    pstore.pointers_path.write_text(json.dumps(document))
    journal = pstore.journal_path.read_bytes()
    outcomes = promote_set(pstore, [move(new, rid) for rid, (_old, new) in three.items()])
    assert codes(outcomes) == dict.fromkeys(three, "POINTER_MISMATCH")
    assert pstore.journal_path.read_bytes() == journal
    for rid, (_old, new) in three.items():
        with pytest.raises(PointerRefused) as caught:
            pstore.promote(rid, new.run_id, relpath=RELPATH, reason="", actor=ACTOR,
                           admit=admission, automatic=True)  # fmt: skip
        assert caught.value.code == "POINTER_MISMATCH"


def test_a_registry_twice_in_a_set_is_refused_before_anything(
    pstore: PointerStore, three: dict[str, tuple[SealedRun, SealedRun]]
) -> None:
    old, new = three["alpha"]
    with pytest.raises(UsageError) as caught:
        promote_set(pstore, [move(new, "alpha"), move(old, "alpha")])
    assert caught.value.code == "DUPLICATE_MOVE"


def test_a_failed_pointer_write_aborts_the_whole_set(
    pstore: PointerStore, snap: Snap, three: dict[str, tuple[SealedRun, SealedRun]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    file_before = pstore.pointers_path.read_bytes()
    real = store_module.write_atomic

    def full(path: Path, data: bytes, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store_module, "write_atomic", full)
    with pytest.raises(PointerRefused) as caught:
        promote_set(pstore, [move(new, rid) for rid, (_old, new) in three.items()])
    assert caught.value.code == "IO_ERROR"
    monkeypatch.setattr(store_module, "write_atomic", real)
    assert pstore.pointers_path.read_bytes() == file_before
    failed, aborted = (json.loads(line) for line in lines(pstore)[-2:])
    assert (failed["action"], aborted["action"]) == ("promote", "abort")
    assert [(m["registry_id"], m["from_ref"], m["to_ref"]) for m in aborted["moves"]] == [
        (m["registry_id"], m["to_ref"], m["from_ref"]) for m in failed["moves"]]  # fmt: skip
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and [n.code for n in report.notes] == ["ABORTED"] * 3
    for rid, (old, _new) in three.items():
        effective = last_effective_record_of(pstore.journal_path, rid)
        assert effective is not None and effective.to_ref.run_id == old.run_id
    pstore.hold("alpha", reason="a later change", actor=PERSON, admit=admission)  # no redo
    assert pstore.pointers_path.read_bytes() == file_before
    assert {rid: pstore.read().active(rid).run_id for rid in three} == {
        rid: old.run_id for rid, (old, _new) in three.items()}  # fmt: skip
    assert verify_journal(pstore.journal_path, pstore.read()).ok


def test_a_torn_set_line_is_dropped_and_readers_see_the_old_set(
    pstore: PointerStore, three: dict[str, tuple[SealedRun, SealedRun]]
) -> None:
    """A writer killed while appending the set's line: every reader sees the old set, and the
    next change cuts the line off without applying any of it."""
    journal, pointers = pstore.journal_path.read_bytes(), pstore.pointers_path.read_bytes()
    promote_set(pstore, [move(new, rid) for rid, (_old, new) in three.items()])
    whole = lines(pstore)[-1]
    pstore.journal_path.write_bytes(journal + whole[: len(whole) // 2])  # killed mid-append
    pstore.pointers_path.write_bytes(pointers)  # before the replace
    olds = {rid: old.run_id for rid, (old, _new) in three.items()}
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and [n.code for n in report.notes] == ["TORN_TAIL"]
    assert {rid: pstore.explained().active(rid).run_id for rid in three} == olds
    assert {rid: pstore.recorded(rid).run_id for rid in three} == olds
    pstore.hold("alpha", reason="a later change", actor=PERSON, admit=admission)
    assert pstore.journal_path.read_bytes().startswith(journal)
    assert [json.loads(line)["action"] for line in lines(pstore)[-1:]] == ["hold"]
    assert {rid: pstore.read().active(rid).run_id for rid in three} == olds
    assert verify_journal(pstore.journal_path, pstore.read()).ok


# -- the same rules as `promote` --------------------------------------------------------------

STATES = ("newer", "older", "active", "held", "failed", "missing", "new_registry")


@settings(max_examples=settings().max_examples // 4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(states=st.lists(st.sampled_from(STATES), min_size=1, max_size=4))
def test_each_move_gets_what_an_automatic_promote_would_get(states: list[str]) -> None:
    """Any mix of candidates: `promote_set` gives each the outcome `promote(automatic=True)`
    gives it alone, and moves exactly the admitted ones, in one line."""
    base = Path(tempfile.mkdtemp(prefix="promote-set-"))
    try:
        init_workspace(base / "a")
        moves = []
        for index, state in enumerate(states):
            rid = f"r{index}"
            moves.append(_candidate(base / "a", rid, state))
        shutil.copytree(base / "a", base / "b", symlinks=True)
        one_by_one: dict[str, str] = {}
        single = PointerStore(Workspace(base / "b"), lock_timeout=0.2)
        for candidate in moves:
            try:
                change = single.promote(candidate.registry_id, candidate.run_id,
                                        relpath=candidate.relpath, reason="a build", actor=ACTOR,
                                        admit=admission, automatic=True)  # fmt: skip
                one_by_one[candidate.registry_id] = "moved" if change.changed else "active"
            except PointerRefused as exc:
                one_by_one[candidate.registry_id] = exc.code
        together = PointerStore(Workspace(base / "a"), lock_timeout=0.2)
        before = len(lines(together))
        outcomes = together.promote_set(moves, reason="a build", actor=ACTOR, admit=admission)
        assert codes(outcomes) == one_by_one
        moved = [rid for rid, code in one_by_one.items() if code == "moved"]
        assert len(lines(together)) == before + (1 if moved else 0)
        assert {rid: together.read().active(rid) for rid in one_by_one} == {
            rid: single.read().active(rid) for rid in one_by_one}  # fmt: skip
        assert verify_journal(together.journal_path, together.read()).ok
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _candidate(root: Path, registry_id: str, state: str) -> Move:
    """Registry `registry_id` set up in the workspace at `root` as `state` says; its move."""
    pstore = PointerStore(Workspace(root), lock_timeout=0.2)
    relpath = f"{registry_id.upper()}.json"
    if state == "missing":
        return Move(registry_id, f"2026-01-01__000009__{registry_id}_build", relpath)
    if state == "failed":
        return Move(registry_id, seal_checked(root, registry_id, 9, "failed")[0], relpath)
    if state == "new_registry":
        return Move(registry_id, seal_checked(root, registry_id, 9, "passed")[0], relpath)
    old = seal_checked(root, registry_id, 1, "passed")[0]
    active = seal_checked(root, registry_id, 2, "passed")[0]
    newer = seal_checked(root, registry_id, 3, "passed")[0]
    pstore.promote(registry_id, active, relpath=relpath, reason="", actor=PERSON, admit=admission)
    if state == "held":
        pstore.hold(registry_id, reason="freeze", actor=PERSON, admit=admission)
    target = {"older": old, "active": active}.get(state, newer)
    return Move(registry_id, target, relpath)
