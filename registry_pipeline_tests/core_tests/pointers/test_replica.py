"""The local copy of a bucket's journal and pointers (`core.pointers.bucket`), two machines on
obstore's in-memory store: a change that lost the next entry is discarded and runs again, a
copy changed by hand is fetched again whole, a bucket the release before wrote is read as it is.
(`s3_tests/test_workspace_store.py` runs the product on a real S3 server.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.objstore.store import Conflict
from registry_pipeline.core.pointers.bucket import Base, BucketJournal, retry_lost
from registry_pipeline.core.pointers.store import PointerRefused
from registry_pipeline_tests._helpers import chained_journal_lines
from registry_pipeline_tests.core_tests.objstore.test_ledger import machine

C1, C2, C3 = chained_journal_lines(3)


def _pull(replica: BucketJournal, redo: Callable[[], object] = lambda: None) -> Base:
    """A pull as the pointer store makes it, with no gate (these records move nothing)."""
    return replica.pull(lambda record, action: None, redo)


def _change(replica: BucketJournal, line: bytes, pointers: bytes) -> None:
    """One change as the pointer store makes it: pull, append, write the pointers, push."""
    base = _pull(replica)
    with replica.journal.open("ab") as handle:
        handle.write(line)
    replica.pointers.write_bytes(pointers)
    replica.push(base)


def test_a_change_that_lost_the_next_entry_is_discarded_and_runs_again(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a, b = machine(store, tmp_path / "a"), machine(store, tmp_path / "b")
    base_b = _pull(b)  # B starts from the empty state...
    _change(a, C1, b'{"p": "a1"}')  # ...A's change wins entry 1 meanwhile
    with b.journal.open("ab") as handle:
        handle.write(C1)
    b.pointers.write_bytes(b'{"p": "b1"}')
    with pytest.raises(Conflict):
        b.push(base_b)
    assert [entry.text for entry in Ledger(store, "pointers").entries(0)] == [C1.decode()]
    assert b.journal.read_bytes() == b""  # the lost change left nothing behind

    attempts: list[int] = []

    def change() -> None:  # B's change again; A wins the next entry once more meanwhile
        attempts.append(1)
        base = _pull(b)
        with b.journal.open("ab") as handle:
            handle.write(C3 if len(attempts) > 1 else C2)
        b.pointers.write_bytes(b'{"p": "b1"}')
        if len(attempts) == 1:
            _change(a, C2, b'{"p": "a2"}')
        b.push(base)

    retry_lost(change)  # lost once more, then run on A's state: B's lost copies are gone
    assert len(attempts) == 2 and b.journal.read_bytes() == C1 + C2 + C3
    entries = [entry.text for entry in Ledger(store, "pointers").entries(0)]
    assert entries == [C1.decode(), C2.decode(), C3.decode()]
    _pull(a)
    assert a.journal.read_bytes() == C1 + C2 + C3 and a.pointers.read_bytes() == b'{"p": "b1"}'


def test_a_change_lost_for_too_long_is_refused_as_contended() -> None:
    """Other machines win every entry: after `retry_for` the change gives up, saying so."""
    attempts: list[int] = []

    def always_lost() -> None:
        attempts.append(1)
        raise Conflict()

    with pytest.raises(PointerRefused) as caught:
        retry_lost(always_lost, retry_for=0.2)
    assert caught.value.code == "CONTENDED" and len(attempts) >= 2
    assert f"lost the race for the next journal entry {len(attempts)} times in 0.2 s" in str(
        caught.value
    )
    assert retry_lost(lambda: "changed", retry_for=0) == "changed"


def test_a_copy_changed_by_hand_is_fetched_again_whole(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a = machine(store, tmp_path / "a")
    _change(a, C1, b'{"p": "a1"}')
    _change(a, C2, b'{"p": "a2"}')
    a.journal.write_bytes(b"forged\n")
    a.pointers.write_bytes(b'{"p": "forged"}')
    _pull(a)
    assert a.journal.read_bytes() == C1 + C2 and a.pointers.read_bytes() == b'{"p": "a2"}'
    assert a.set_aside is not None  # the edited copy kept aside, byte for byte
    assert (tmp_path / "a" / a.set_aside.kept).read_bytes() == b"forged\n"


def test_a_change_that_rewrites_the_journal_is_refused(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a = machine(store, tmp_path / "a")
    _change(a, C1, b'{"p": "a1"}')
    base = _pull(a)
    a.journal.write_bytes(b"restarted\n")
    with pytest.raises(RegistryError) as caught:
        a.push(base)
    assert caught.value.code == "REMOTE_UNSUPPORTED"
    assert [entry.text for entry in Ledger(store, "pointers").entries(0)] == [C1.decode()]


def test_an_empty_bucket_takes_the_workspaces_history(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a, b = machine(store, tmp_path / "a"), machine(store, tmp_path / "b")
    a.journal.write_bytes(C1 + C2)
    a.pointers.write_bytes(b'{"p": "old2"}')
    a.pull(lambda record, action: None, lambda: None, writes=False)  # a read-only command's pull
    assert not list(store.keys("pointers/"))  # writes nothing to the bucket
    assert a.journal.read_bytes() == C1 + C2  # and leaves the local history as it is
    _pull(a)  # a change's pull: the bucket takes the workspace's history
    _pull(b)
    assert b.journal.read_bytes() == C1 + C2 and b.pointers.read_bytes() == b'{"p": "old2"}'


def test_a_bucket_the_release_before_wrote_is_read_and_its_lagging_head_completed(
    tmp_path: Path,
) -> None:
    """Entries without their pointer file, which `head.json` held for the entry it names: a
    reader takes the head's, completes the change the head lagged behind (`redo`, as after a
    crash on a disk), and the next change is an entry carrying its pointer file."""
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    for seq, text in ((1, C1), (2, C2)):  # entry 2's writer stopped before moving the head
        store.put(ledger.entry_key(seq), json.dumps({"seq": seq, "entry": text.decode()}).encode())
    head = {"format": "registry-remote-head-1", "seq": 1, "state": '{"p": "a1"}', "fence": 0}
    store.put("pointers/head.json", json.dumps(head).encode())
    b = machine(store, tmp_path / "b")
    redone: list[bytes] = []

    def redo() -> None:  # what the pointer store's redo does: apply the journal's last record
        redone.append(b.pointers.read_bytes())
        b.pointers.write_bytes(b'{"p": "a2"}')

    b.pull(lambda record, action: None, redo, writes=False)
    assert redone == [b'{"p": "a1"}'] and b.journal.read_bytes() == C1 + C2
    _change(b, C3, b'{"p": "b3"}')
    states = [(entry.seq, entry.state) for entry in ledger.entries(0)]
    assert states == [(1, None), (2, None), (3, '{"p": "b3"}')]
    c = machine(store, tmp_path / "c")
    _pull(c)
    assert c.journal.read_bytes() == C1 + C2 + C3 and c.pointers.read_bytes() == b'{"p": "b3"}'
