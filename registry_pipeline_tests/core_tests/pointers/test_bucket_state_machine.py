"""The gate's state machine on a bucket: two machines share one bucket (obstore's in-memory
store) and build, promote, roll back, hold, release and repair in random order, while a writer
with rights on the bucket's objects forges (its chain broken, or chained as a writer would but
past the gate), replays or garbles the next journal entry (with a pointer file naming a snapshot
past the gate, or none), deletes the last entry (and later puts it back from a backup, unless a
build's fence took its place) or deletes the whole pointer history. After
every step each machine syncs, as every command first does: the sync either refuses with a
code whose message names `registry pointers repair`, or shows exactly the active pointer the
model's gate allowed, with a passing receipt; on a sound bucket it never refuses, so both
machines agree; it never writes to the bucket. Every change is refused while the bucket's
history does not verify, and one `registry pointers repair` on either machine gets out of
every such state.

A forged first record chained as a writer would (no record in the ledger yet) is tested alone
(`test_a_forged_first_record_past_the_gate_is_refused_and_set_aside`): the ledger's first entry
is a disk's history taken as found, so there only a failed receipt refuses, where the model
refuses a never-checked snapshot too. A deleted first entry is tested alone too
(`test_a_bucket_without_its_first_entry_is_refused_and_repaired`), and so is a repair after an
entry the machines had mirrored was deleted
(`test_a_machine_that_mirrored_a_deleted_entry_follows_the_repair`).

(`test_gate_state_machine.py` walks one workspace on a disk; `s3_tests/test_bucket_history.py`
runs the same acts through the CLI on a real S3 server.)"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest import mock

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.gate import admission, share, sync
from registry_pipeline.core.gate.receipts import ReceiptStore
from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.pointers.journal import JournalRecord, parse_record
from registry_pipeline.core.pointers.pointer_file import PointerFile
from registry_pipeline.core.pointers.store import ANY, Change, PointerStore
from registry_pipeline.core.pointers.targets import apply_record
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.workspace import remote
from registry_pipeline.core.workspace.build_slot import build_slot
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline_tests._helpers import seal_checked
from registry_pipeline_tests.core_tests.pointers.test_gate_state_machine import (
    ACTOR,
    REGISTRY,
    Snap,
)

URL = "s3://state-machine/ws"
MACHINES = ("a", "b")
REFUSALS = frozenset({"CHAIN_BROKEN", "RECORD_UNREADABLE", "SEQ_GAP", "FROM_MISMATCH",
                      "REMOTE_STATE_INVALID", "POINTERS_MISSING", "CHECK_FAILED",
                      "NO_RECEIPT"})  # fmt: skip
"""What a machine says of a bucket whose pointer history does not verify or names a snapshot
past the gate."""
GATE = frozenset({"CHECK_FAILED", "NO_RECEIPT", "NOT_NEWER", "NOT_OLDER"})
HOSTILE = ("forged", "chained", "replayed", "garbage", "junk")
"""The next entry a hostile writer creates: a record moving the pointer to a snapshot with no
passing receipt, its chain broken or chained as a writer would; an old entry's text again;
`{"entry": "5"}`; not JSON."""
ACTS = (*HOSTILE, "delete-last-entry", "delete-history")
MOVES = ("promote", "rollback")
CHANGES = (*MOVES, "hold", "release")
UNVERIFIABLE = ("hostile", "wiped")
"""Damage every machine sees: an entry that does not verify, or no history at all (a deleted
entry, "gap", is seen only by a machine that had not mirrored it: both have, here)."""


@contextmanager
def on_bucket(store: ObjectStore) -> Iterator[None]:
    """Every workspace of this process on `store`: REGISTRY_STORE names a bucket, and the
    process's one client of it (`remote._remote`, keyed by URL and settings) is `store`'s. The
    package knows no in-memory URL; this is the one place these tests stand in for S3."""
    shared = remote.Remote(store)
    with (
        mock.patch.dict(os.environ, {remote.STORE_ENV: URL}),
        mock.patch.object(remote, "_remote", lambda url, settings: shared),
    ):
        yield


def machine(root: Path) -> Workspace:
    """A new checkout at `root` joining the bucket (`registry init` with the bucket set)."""
    root.mkdir()
    init_workspace(root)
    workspace = Workspace(root)
    share(workspace)
    return workspace


def build(workspace: Workspace, n: int, receipt: str) -> Snap:
    """A build's writes (after its sync): the build slot (the bucket's lease, whose take fences
    the ledger), snapshot `n` sealed and published, its receipt ("passed", "failed", "none")."""
    with build_slot(workspace, f"model@{workspace.root.name}", wait=0.5):
        run_id, root = seal_checked(workspace.root, REGISTRY, n, receipt)
    return Snap(run_id, root, receipt)


def change(workspace: Workspace, action: str, snap: Snap | None = None) -> Change:
    """`registry pointers promote/rollback` to `snap`, or `hold/release`."""
    store = PointerStore(workspace, lock_timeout=0.5)
    if snap is None:
        mark = store.hold if action == "hold" else store.release
        return mark(REGISTRY, reason="model", actor=ACTOR, admit=admission)
    move = store.promote if action == "promote" else store.rollback
    return move(REGISTRY, snap.run_id, relpath="ALPHA.json", reason="model", actor=ACTOR,
                admit=admission, expect=ANY)  # fmt: skip


def repair(workspace: Workspace) -> None:
    """`registry pointers repair --reason TEXT`."""
    from registry_pipeline.core.pointers.repair import repair as repair_pointers

    store = PointerStore(workspace, lock_timeout=0.5)
    repair_pointers(store, None, reason="model repair", actor=ACTOR, admit=admission)


def shown(workspace: Workspace, store: PointerStore | None = None) -> tuple[str | None, str | None]:
    """The active snapshot (run id, root) the machine's copy names (read after its sync),
    through `store` when given (a pointer store of `workspace`)."""
    ref = (store or PointerStore(workspace)).read().active(REGISTRY)
    return (ref.run_id, ref.manifest_sha256) if ref else (None, None)


def objects(store: ObjectStore) -> dict[str, bytes]:
    """Every object of the bucket, by key: what a sync must leave as it was."""
    found = {}
    for key in store.keys(""):
        blob = store.get(key)
        if blob is not None:
            found[key] = blob.data
    return found


def refused(error: RegistryError) -> str:
    """`error` as an assertion's message."""
    return f"{error.code}: {error.message}"


class BucketMachine(RuleBasedStateMachine):
    """Two machines' pointer stores on one bucket with its gate, and a hostile writer."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="bucket-sm-"))
        self.store = ObjectStore.in_memory()
        self.ledger = Ledger(self.store, remote.POINTERS_PREFIX)
        self.bucket = ExitStack()
        self.bucket.enter_context(on_bucket(self.store))
        try:
            self.machines = {name: machine(self.tmp / name) for name in MACHINES}
        except BaseException:
            self.teardown()
            raise
        self.snaps: list[Snap] = []
        self.active: Snap | None = None  # what the gate allowed, as the verified journal says
        self.damage: str | None = None  # "hostile", "wiped", "gap", or None: sound
        self.head_over = False  # the hostile entry carries a pointer file past the gate too
        self.deleted: tuple[str, bytes] | None = None  # the entry deleted ("gap"), as it was
        self.trail: dict[int, Snap | None] = {}  # the active snapshot after each last entry
        self.before_gap: Snap | None = None  # the active snapshot before the deleted entry

    def teardown(self) -> None:
        self.bucket.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the machines ------------------------------------------------------------------------

    @initialize(name=st.sampled_from(MACHINES))
    def a_first_promotion(self, name: str) -> None:
        """Every walk starts from a history: one snapshot built and promoted."""
        snap = build(self.machines[name], 1, "passed")
        change(self.machines[name], "promote", snap)
        self.snaps, self.active = [snap], snap

    @rule(name=st.sampled_from(MACHINES), receipt=st.sampled_from(["passed", "failed", "none"]))
    def build(self, name: str, receipt: str) -> None:
        """A build: the sync every command starts with, then its writes."""
        workspace = self.machines[name]
        if not self._refused_by_bucket(lambda: sync(workspace)):
            self.snaps.append(build(workspace, len(self.snaps) + 1, receipt))
            if self.deleted is not None and self.store.get(self.deleted[0]) is not None:
                # the lease's fence took the deleted last entry's place: the bucket's history
                # is the one before it, which each machine takes (its copy kept aside)
                self.active, self.damage, self.deleted = self.before_gap, None, None

    @precondition(lambda self: self.snaps)
    @rule(name=st.sampled_from(MACHINES), action=st.sampled_from(CHANGES),
          index=st.integers(0, 63))  # fmt: skip
    def change(self, name: str, action: str, index: int) -> None:
        """`registry pointers promote/rollback` to snapshot `index` (modulo how many there
        are), or `hold/release`: each pulls the bucket's history, verifying it, first."""
        snap = self.snaps[index % len(self.snaps)]
        try:
            done = change(self.machines[name], action, snap if action in MOVES else None)
        except RegistryError as exc:
            if self.damage in UNVERIFIABLE:
                self._expect_refusal(exc)
            elif action not in MOVES:
                assert exc.code == "NO_POINTER" and self.active is None, refused(exc)
            else:
                assert exc.code in GATE, refused(exc)
                assert not self._allowed(action, snap), f"{action} {snap}: {refused(exc)}"
            return
        assert self.damage not in UNVERIFIABLE, f"{action} on a {self.damage} bucket went through"
        if action in MOVES:
            assert self._allowed(action, snap), f"{action} {snap} went past the gate"
            if done.record is not None:
                snap.receipt = "passed"
                self.active = snap

    @precondition(lambda self: self.damage in UNVERIFIABLE)  # a gap: a test of its own, below
    @rule(name=st.sampled_from(MACHINES))
    def repair(self, name: str) -> None:
        """`registry pointers repair` on one machine: the hostile entry set aside (the head
        back on the last entry that verifies), or the vanished history put back, journaled;
        the active pointer stays what the gate allowed. (On a sound bucket:
        `test_repair_of_a_sound_bucket_changes_nothing`.)"""
        try:
            repair(self.machines[name])
        except RegistryError as exc:
            raise AssertionError(f"no way out of a {self.damage} bucket: {refused(exc)}") from exc
        self.damage, self.head_over = None, False

    # -- the hostile writer ------------------------------------------------------------------

    @precondition(lambda self: self.damage is None and self._head() >= 1)
    @rule(act=st.sampled_from(ACTS), index=st.integers(0, 63))
    def hostile_write(self, act: str, index: int) -> None:
        """What a hostile writer does to a sound bucket: create the next entry (`HOSTILE`;
        `index`: which old entry is replayed), delete the head's entry (once a change precedes
        it: see the module's xfail tests), or delete every `pointers/` object (the run folders
        and receipts stay)."""
        if act == "delete-last-entry":
            if self._a_change_before_the_last():  # both machines mirrored it: they go on
                last = self._head()
                key = self.ledger.entry_key(last)
                blob = self.store.get(key)
                assert blob is not None
                self.store.delete(key)
                self.damage, self.deleted = "gap", (key, blob.data)
                self.before_gap = self.trail[max(seq for seq in self.trail if seq < last)]
        elif act == "delete-history":
            for key in list(self.store.keys(f"{remote.POINTERS_PREFIX}/")):
                self.store.delete(key)
            self.damage = "wiped"
        else:
            self.store.create(self.ledger.entry_key(self._head() + 1), self._entry(act, index))
            self.damage = "hostile"

    @precondition(lambda self: self.damage == "hostile" and not self.head_over)
    @rule()
    def forge_its_pointer_file(self) -> None:
        """The hostile entry rewritten to carry a pointer file naming a snapshot past the gate
        (its state: what a machine that applied it would show)."""
        key = self.ledger.entry_key(self._head())
        blob = self.store.get(key)
        assert blob is not None
        changes = [entry for entry in self.ledger.entries(0, strict=False) if entry.state]
        state, failed = changes[-1].state if changes else "", self._past_the_gate()
        if self.active is not None and failed is not None and state:
            state = state.replace(self.active.run_id, failed.run_id)
            state = state.replace(self.active.root, failed.root)
        try:
            body = {**json.loads(blob.data), "state": state}
        except ValueError:  # not JSON: nothing to add it to
            body = None
        if body is not None:
            self.store.put(key, json.dumps(body).encode())
        self.head_over = True

    @precondition(lambda self: self.damage == "gap")
    @rule()
    def put_the_deleted_entry_back(self) -> None:
        """The deleted entry restored from a backup or the bucket's versions, byte for byte."""
        assert self.deleted is not None
        self.store.create(*self.deleted)
        self.damage = self.deleted = None

    def _entry(self, kind: str, index: int) -> bytes:
        """The object a hostile writer creates as the next entry (see `HOSTILE`)."""
        texts = [entry.text for entry in self.ledger.entries(0) if entry.text]
        if kind == "chained" and (self._past_the_gate() is None or not texts):
            kind = "forged"  # every snapshot passed: a writer's record; no record yet: alone
        if kind == "junk":
            return b"\x00 not an entry"
        if kind in ("forged", "chained") or (kind == "replayed" and not texts):
            text = self._forged(texts, chained=kind == "chained")
        elif kind == "replayed":
            text = texts[index % len(texts)]
        else:
            text = "5"
        return json.dumps({"seq": self._head() + 1, "entry": text}).encode()

    def _head(self) -> int:
        """The last entry's number (the head: no object holds it)."""
        return max((seq for seq, _etag in self.ledger.listed(0)), default=0)

    def _a_change_before_the_last(self) -> bool:
        entries = list(self.ledger.entries(0))
        return any(entry.text for entry in entries[:-1])

    def _forged(self, texts: list[str], chained: bool) -> str:
        """A record after the journal's last one moving the pointer to a snapshot with no
        passing receipt (the newest snapshot when every one has one), its chain broken or
        (`chained`) continued."""
        last = parse_record(texts[-1].splitlines()[-1].encode()) if texts else None
        target = self._past_the_gate() or self.snaps[-1]
        record = JournalRecord(
            seq=last.seq + 1 if last else 1, registry_id=REGISTRY,
            from_ref=last.to_ref if last else None,
            to_ref=SealedRef(REGISTRY, target.run_id, target.root, relpath="ALPHA.json"),
            action="promote", reason="forged", actor=ACTOR, checks={},
            created_utc="2026-01-01T00:00:00.000000Z",
            prev_sha256=(last.sha256 if last else None) if chained else "0" * 64,
        )  # fmt: skip
        return record.line().decode() + "\n"

    def _past_the_gate(self) -> Snap | None:
        """The newest snapshot the gate would not make active (failed, or never checked)."""
        return next((snap for snap in reversed(self.snaps) if snap.receipt != "passed"), None)

    # -- the model ---------------------------------------------------------------------------

    def _allowed(self, action: str, snap: Snap) -> bool:
        """The gate's decision, modeled: a promotion to a newer snapshot that did not fail its
        checks, a rollback to an older one that passed them; the active snapshot: no change."""
        if snap is self.active:
            return True
        now = self.snaps.index(self.active) if self.active is not None else None
        index = self.snaps.index(snap)
        if action == "promote":
            return snap.receipt != "failed" and (now is None or index > now)
        return snap.receipt == "passed" and now is not None and index < now

    def _expect_refusal(self, error: RegistryError) -> None:
        assert error.code in REFUSALS, refused(error)
        assert "registry pointers repair" in error.message, refused(error)

    def _refused_by_bucket(self, call: Callable[[], object]) -> bool:
        try:
            call()
        except RegistryError as exc:
            assert self.damage in UNVERIFIABLE, f"{self.damage or 'sound'}: {refused(exc)}"
            self._expect_refusal(exc)
            return True
        return False

    # -- after every step --------------------------------------------------------------------

    @invariant()
    def every_machine_shows_what_the_gate_allowed_or_refuses(self) -> None:
        expected = (self.active.run_id, self.active.root) if self.active else (None, None)
        before = objects(self.store)  # and before the next machine's sync: each asserts it kept
        for name, workspace in self.machines.items():
            try:
                sync(workspace)
            except RegistryError as exc:
                assert objects(self.store) == before, f"{name}'s refused sync wrote to the bucket"
                assert self.damage in UNVERIFIABLE, f"{name} refused: {refused(exc)}"
                self._expect_refusal(exc)
                assert shown(workspace) == expected, f"{name} applied what it refused"
                continue
            assert objects(self.store) == before, f"{name}'s sync wrote to the bucket"
            pointers = PointerStore(workspace)  # read after the sync, for both checks
            assert shown(workspace, pointers) == expected, f"{name}: the gate allowed {self.active}"
            if self.active is not None:
                receipt = ReceiptStore(workspace).find(self.active.root)
                assert receipt is not None and receipt.passed, f"{name}: {self.active} failed"
            if self.damage is None:
                report = pointers.verify(admit=admission)
                assert report.ok, f"{name}: {report.problems}"
        if self.damage is None:
            self.trail[self._head()] = self.active


TestBucket = BucketMachine.TestCase
TestBucket.settings = settings(
    max_examples=settings().max_examples * 2 // 5,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,  # the same walks on every run: a failure is reproducible, never a flake
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the printed steps are the report
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- what the walk leaves out, until the product is fixed ----------------------------------------


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[tuple[ObjectStore, Workspace, Workspace]]:
    """Two machines on one in-memory bucket; machine a has promoted two snapshots (entries
    1-4: each build's fence, then its promotion) and b has synced them."""
    store = ObjectStore.in_memory()
    with on_bucket(store):
        a, b = machine(tmp_path / "a"), machine(tmp_path / "b")
        for n in (1, 2):
            change(a, "promote", build(a, n, "passed"))
        sync(b)
        yield store, a, b


def test_the_bucket_fixture_is_two_promotions_mirrored(
    bucket: tuple[ObjectStore, Workspace, Workspace],
) -> None:
    store, a, b = bucket
    ledger = Ledger(store, remote.POINTERS_PREFIX)
    assert [(entry.seq, bool(entry.text), entry.fence) for entry in ledger.entries(0)] == [
        (1, False, 1), (2, True, 0), (3, False, 2), (4, True, 0)]  # fmt: skip
    assert shown(a) == shown(b) != (None, None)


def test_repair_of_a_sound_bucket_changes_nothing(
    bucket: tuple[ObjectStore, Workspace, Workspace],
) -> None:
    store, a, b = bucket
    before, active = objects(store), shown(a)
    for workspace in (a, b):
        with pytest.raises(RegistryError) as caught:
            repair(workspace)
        assert caught.value.code == "NOTHING_TO_REPAIR", refused(caught.value)
        sync(workspace)
        assert shown(workspace) == active
    assert objects(store) == before


@pytest.mark.parametrize(
    "name",
    [
        "zzz",  # not a number: was INTERNAL (ValueError) in every command
        "000000000004.json.bak",
        "000000000005",  # entry 5's number without `.json`
        "5.json",  # unpadded: was taken as entry 5
        "\uff10" * 11 + "\uff15.json",  # fullwidth digits: int() reads them as 5
        "sub/000000000005.json",
    ],
)
def test_an_object_in_the_journal_that_is_no_entry_is_refused_and_set_aside(
    bucket: tuple[ObjectStore, Workspace, Workspace], name: str
) -> None:
    store, a, b = bucket
    ledger = Ledger(store, remote.POINTERS_PREFIX)
    before, stray = shown(a), f"{ledger.prefix}journal/{name}"
    store.put(stray, store.get(ledger.entry_key(4)).data)  # type: ignore[union-attr]
    for workspace in (a, b):  # each lists the journal past its copy: the stray sorts there
        with pytest.raises(RegistryError) as caught:
            sync(workspace)
        assert caught.value.code == "REMOTE_STATE_INVALID", refused(caught.value)
        assert caught.value.path is not None and caught.value.path.endswith(stray)
    with pytest.raises(RegistryError) as caught:
        change(b, "hold")  # nothing is written past it
    assert caught.value.code == "REMOTE_STATE_INVALID", refused(caught.value)
    repair(a)
    assert store.get(stray) is None  # set aside, kept under quarantine/
    assert any(key.endswith(stray) for key in store.keys("quarantine/"))
    fresh = machine(a.root.parent / "fresh")
    for workspace in (a, b, fresh):
        sync(workspace)
        assert shown(workspace) == before


def test_a_bucket_without_its_first_entry_is_refused_and_repaired(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    with on_bucket(store):
        a, b = machine(tmp_path / "a"), machine(tmp_path / "b")
        change(a, "promote", build(a, 1, "passed"))  # entries 1-2; b has mirrored none
        before = shown(a)
        store.delete(Ledger(store, remote.POINTERS_PREFIX).entry_key(1))
        with pytest.raises(RegistryError) as caught:
            sync(b)  # it read as an empty history, entry 2 past it
        assert caught.value.code in REFUSALS, refused(caught.value)
        repair(a)
        for workspace in (a, b):
            sync(workspace)
            assert shown(workspace) == before


def test_a_machine_that_mirrored_a_deleted_entry_follows_the_repair(
    bucket: tuple[ObjectStore, Workspace, Workspace],
) -> None:
    store, a, b = bucket
    ledger = Ledger(store, remote.POINTERS_PREFIX)
    store.delete(ledger.entry_key(4))  # the second promotion
    repair(a)  # the history back on entry 3: the first snapshot, a's copy kept aside
    change(a, "hold")  # any change after the repair
    expected = shown(a)
    try:
        sync(b)
    except RegistryError:
        repair(b)  # the way out its refusal names
        sync(b)
    assert shown(b) == expected
    assert PointerStore(b).verify(admit=admission).ok


@pytest.mark.parametrize("head_too", [False, True], ids=["entry", "entry-and-pointers"])
def test_a_forged_first_record_past_the_gate_is_refused_and_set_aside(
    tmp_path: Path, head_too: bool
) -> None:
    store = ObjectStore.in_memory()
    with on_bucket(store):
        a, b = machine(tmp_path / "a"), machine(tmp_path / "b")
        failed = build(a, 1, "failed")  # nothing promoted
        build(b, 2, "failed")  # the leases' fences: entries 1 and 2, no record
        ledger = Ledger(store, remote.POINTERS_PREFIX)
        forged = JournalRecord(
            seq=1, registry_id=REGISTRY, from_ref=None,
            to_ref=SealedRef(REGISTRY, failed.run_id, failed.root, relpath="ALPHA.json"),
            action="promote", reason="forged", actor=ACTOR, checks={},
            created_utc="2026-01-01T00:00:00.000000Z", prev_sha256=None,
        ).hashed()  # fmt: skip
        state = apply_record(PointerFile(), forged).render().decode()  # what it gives
        ledger.create(3, forged.line().decode() + "\n", state if head_too else None)
        for workspace in (a, b):
            with pytest.raises(RegistryError) as caught:
                sync(workspace)
            assert "registry pointers repair" in caught.value.message, refused(caught.value)
        repair(b)
        for workspace in (a, b):
            sync(workspace)
            assert shown(workspace) == (None, None)


def test_a_deleted_last_entry_whose_place_a_fence_takes_is_kept_aside_on_each_machine(
    bucket: tuple[ObjectStore, Workspace, Workspace],
) -> None:
    """The second promotion's entry deleted: each machine goes on with its copy, until a build's
    fence is created in its place; then the bucket's history is the one before it, which each
    machine takes, its copy kept aside and said (`SET_ASIDE`, the command to promote again)."""
    store, a, b = bucket
    ledger = Ledger(store, remote.POINTERS_PREFIX)
    second = shown(a)
    store.delete(ledger.entry_key(4))
    for workspace in (a, b):
        sync(workspace)
        assert shown(workspace) == second
    build(a, 3, "passed")  # its lease's fence: entry 4
    assert [entry.fence for entry in ledger.entries(3)] == [3]
    for workspace in (a, b):
        synced = sync(workspace)
        assert synced is not None and synced.set_aside is not None
        assert "registry pointers promote" in synced.set_aside.advice()
        run_id, _root = shown(workspace)  # the first promotion's, as entry 2 leaves it
        assert run_id != second[0] and str(run_id) in str(ledger.read(2).state)  # type: ignore[union-attr]
        assert PointerStore(workspace).verify(admit=admission).ok
