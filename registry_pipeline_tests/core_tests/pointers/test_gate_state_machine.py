"""A rule-based state machine: builds (snapshots checked or failed), promotions, rollbacks, hand
edits of the pointer file, deleted and tampered snapshots, broken journals, torn appends and
repairs, in random order, against a model of what the gate allows. After every step the active
pointer is exactly the model's, and every active snapshot has a passing receipt."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.gate.receipts import ReceiptStore
from registry_pipeline.core.pointers.repair import repair
from registry_pipeline.core.pointers.store import ANY, PointerRefused, PointerStore
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline_tests._helpers import seal_checked

ACTOR = {"kind": "cli_user", "id": "model@test"}
REGISTRY = "alpha"
POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"


@dataclass
class Snap:
    """The model of one snapshot: its place in time, its receipt, what happened to it."""

    run_id: str
    root: str
    receipt: str  # "passed", "failed" or "none"
    gone: bool = False
    tampered: bool = False


class GateMachine(RuleBasedStateMachine):
    """The pointer store with its gate, driven at random."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="gate-sm-"))
        init_workspace(self.tmp)
        self.workspace = Workspace(self.tmp)
        self.store = PointerStore(self.workspace, lock_timeout=0.5)
        self.snaps: list[Snap] = []
        self.active: Snap | None = None  # what the journal says
        self.edited_to: Snap | None = None  # a hand edit of the pointer file, not journaled
        self.edited_bytes: bytes | None = None
        self.broken = False  # a middle journal line removed
        self.counter = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- what happens to the workspace ---------------------------------------------------------

    @rule(receipt=st.sampled_from(["passed", "failed", "none"]))
    def build(self, receipt: str) -> None:
        """A snapshot sealed; a build wrote its receipt (passed or failed), or `registry seal`
        wrote none."""
        self.counter += 1
        run_id, root = seal_checked(self.tmp, REGISTRY, self.counter, receipt)
        self.snaps.append(Snap(run_id, root, receipt))

    @precondition(lambda self: self.snaps)
    @rule(action=st.sampled_from(["promote", "rollback"]), data=st.data())
    def move(self, action: str, data: st.DataObject) -> None:
        self._move(action, self._drawn(data))

    @precondition(lambda self: self.snaps)
    @rule(data=st.data())
    def delete_a_snapshot(self, data: st.DataObject) -> None:
        snap = self._drawn(data)
        if snap.gone:
            return
        shutil.rmtree(self.workspace.runs_dir / snap.run_id)
        snap.gone = True

    @precondition(lambda self: self.snaps)
    @rule(data=st.data())
    def tamper_with_a_snapshot(self, data: st.DataObject) -> None:
        snap = self._drawn(data)
        if snap.gone or snap.tampered:
            return
        (self.workspace.runs_dir / snap.run_id / "ALPHA.json").write_bytes(b'{"n": -1}\n')
        snap.tampered = True

    @precondition(lambda self: self.active is not None and self.edited_to is None)
    @rule(data=st.data())
    def hand_edit_the_pointer(self, data: st.DataObject) -> None:
        snap = self._drawn(data)
        if self.active is not None and snap.run_id == self.active.run_id:
            return
        path = self.tmp / POINTERS
        self.edited_bytes = path.read_bytes()
        document = json.loads(self.edited_bytes)
        for pointer in document["pointers"]:
            if pointer["registry_id"] == REGISTRY:
                pointer["active_ref"]["run_id"] = snap.run_id
                pointer["active_ref"]["manifest_sha256"] = snap.root
        path.write_text(json.dumps(document, indent=2) + "\n")
        self.edited_to = snap

    @precondition(lambda self: self.edited_to is not None)
    @rule()
    def undo_the_hand_edit(self) -> None:
        assert self.edited_bytes is not None
        (self.tmp / POINTERS).write_bytes(self.edited_bytes)
        self.edited_to = None

    @precondition(lambda self: not self.broken)
    @rule()
    def remove_a_middle_journal_record(self) -> None:
        journal = self.tmp / JOURNAL
        lines = journal.read_bytes().splitlines(keepends=True) if journal.exists() else []
        if len(lines) < 3:
            return
        journal.write_bytes(b"".join(lines[:1] + lines[2:]))
        self.broken = True

    @precondition(lambda self: (self.tmp / JOURNAL).exists())
    @rule()
    def a_killed_append_leaves_a_torn_line(self) -> None:
        with (self.tmp / JOURNAL).open("ab") as handle:
            handle.write(b'{"journal_version":"0.1","seq":')

    @rule(restore=st.booleans())
    def repair(self, restore: bool) -> None:
        registry = REGISTRY if restore else None
        try:
            repair(self.store, registry, reason="model repair", actor=ACTOR, admit=admission)
        except PointerRefused as exc:
            if restore:
                assert self.broken or self.edited_to is None, exc
            else:
                refusals = ("CHECK_FAILED", "NO_RECEIPT", "TARGET_INVALID", "TARGET_UNSEALED")
                assert not self.broken or exc.code in refusals, exc
            return
        if restore:
            assert not self.broken and self.edited_to is not None
            self.edited_to = None
        else:
            assert self.broken
            self.broken = False
            if self.edited_to is not None:  # the file was adopted as found: its edit passed
                self.active, self.edited_to = self.edited_to, None

    # -- the gate's decision, modeled --------------------------------------------------------

    def _move(self, action: str, snap: Snap) -> None:
        current = self.active
        move = self.store.promote if action == "promote" else self.store.rollback
        try:
            move(REGISTRY, snap.run_id, relpath="ALPHA.json", reason="m", actor=ACTOR, expect=ANY,
                 admit=admission)  # fmt: skip
        except PointerRefused as exc:
            self._expect_refusal(action, snap, current, exc.code)
            return
        assert not self.broken and self.edited_to is None, "moved on a broken history"
        assert not snap.gone and not snap.tampered, "moved to a lost or altered snapshot"
        assert snap.receipt != "failed", "a snapshot that failed its checks became active"
        if action == "rollback":
            assert snap.receipt == "passed", "rolled back to a snapshot with no receipt"
        snap.receipt = "passed"
        self.active = snap

    def _expect_refusal(self, action: str, snap: Snap, current: Snap | None, code: str) -> None:
        allowed = {"CHAIN_BROKEN", "SEQ_GAP", "FROM_MISMATCH", "RECORD_UNREADABLE",
                   "POINTER_MISMATCH", "TARGET_MISSING", "TARGET_INVALID", "TARGET_UNSEALED",
                   "CHECK_FAILED", "NO_RECEIPT", "NOT_NEWER", "NOT_OLDER"}  # fmt: skip
        assert code in allowed, code
        sound = (
            self.broken
            or self.edited_to is not None
            or snap.gone
            or snap.tampered
            or snap.receipt == "failed"
            or (action == "rollback" and (snap.receipt != "passed" or current is None))
            or current is not None
        )
        assert sound, f"{action} {snap} refused with {code} for no reason the model knows"

    def _drawn(self, data: st.DataObject) -> Snap:
        """A snapshot drawn from those sealed (the newest of its name)."""
        return self._named(self.snaps[data.draw(st.integers(0, len(self.snaps) - 1))].run_id)

    def _named(self, run_id: str) -> Snap:
        """The newest snapshot of that name (a deleted folder's name can be sealed again)."""
        return [s for s in self.snaps if s.run_id == run_id][-1]

    # -- after every step --------------------------------------------------------------------

    @invariant()
    def the_active_pointer_is_what_the_gate_allowed(self) -> None:
        shown = self.store.read().active(REGISTRY)
        expected = self.edited_to or self.active
        assert (shown.manifest_sha256 if shown else None) == (expected.root if expected else None)
        if self.active is not None:
            receipt = ReceiptStore(self.workspace).find(self.active.root)
            assert receipt is not None and receipt.passed

    @invariant()
    def verify_fails_exactly_when_something_is_wrong(self) -> None:
        report = self.store.verify(admit=admission)
        active = self.active
        reused = active is not None and self._named(active.run_id) is not active
        lost = active is not None and (active.gone or reused)  # gone, or its name sealed again
        wrong = self.broken or self.edited_to is not None or lost
        assert report.ok is not wrong, report.problems


TestGate = GateMachine.TestCase
TestGate.settings = settings(
    max_examples=settings().max_examples * 3 // 5,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,  # the same walks on every run: a failure is reproducible, never a flake
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the printed steps are the report
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
