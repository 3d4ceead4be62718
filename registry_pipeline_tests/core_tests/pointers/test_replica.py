"""The local copy of a bucket's journal and pointers (`core.pointers.replica`), two machines on
obstore's in-memory store: a change that lost the next entry is discarded and runs again, a
change interrupted between its entry and the head is completed by the next reader, a copy
changed by hand is fetched again whole. (`s3_tests/test_workspace_store.py` runs the product on
a real S3 server.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.pointers._refused import PointerRefused
from registry_pipeline.core.pointers.replica import Lost, Replica, retry_lost
from registry_pipeline.core.workspace.remote import Remote


def _machine(tmp_path: Path, name: str, store: ObjectStore) -> Replica:
    root = tmp_path / name
    (root / ".codex").mkdir(parents=True)
    return Replica(Remote(store), root, root / ".codex" / "journal.jsonl",
                   root / ".codex" / "pointers.json")  # fmt: skip


def _change(replica: Replica, line: bytes, pointers: bytes) -> None:
    """One change as the pointer store makes it: pull, append, write the pointers, push."""
    base = replica.pull(lambda: None)
    with replica.journal.open("ab") as handle:
        handle.write(line)
    replica.pointers.write_bytes(pointers)
    replica.push(base)


def test_a_change_that_lost_the_next_entry_is_discarded_and_runs_again(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a, b = _machine(tmp_path, "a", store), _machine(tmp_path, "b", store)
    base_b = b.pull(lambda: None)  # B starts from the empty state...
    _change(a, b"a1\n", b'{"p": "a1"}')  # ...A's change wins entry 1 meanwhile
    with b.journal.open("ab") as handle:
        handle.write(b"b1\n")
    b.pointers.write_bytes(b'{"p": "b1"}')
    with pytest.raises(Lost):
        b.push(base_b)
    assert [entry for _, entry in Ledger(store, "pointers").entries(0)] == ["a1\n"]

    attempts: list[int] = []

    def change() -> None:  # B's change again; A wins the next entry once more meanwhile
        attempts.append(1)
        base = b.pull(lambda: None)
        with b.journal.open("ab") as handle:
            handle.write(b"b1\n")
        b.pointers.write_bytes(b'{"p": "b1"}')
        if len(attempts) == 1:
            _change(a, b"a2\n", b'{"p": "a2"}')
        b.push(base)

    retry_lost(change)  # lost once more, then run on A's state: B's lost copies are gone
    assert len(attempts) == 2 and b.journal.read_bytes() == b"a1\na2\nb1\n"
    assert [entry for _, entry in Ledger(store, "pointers").entries(0)] == ["a1\n", "a2\n", "b1\n"]
    a.pull(lambda: None)
    assert a.journal.read_bytes() == b"a1\na2\nb1\n" and a.pointers.read_bytes() == b'{"p": "b1"}'


def test_a_change_lost_for_too_long_is_refused_as_contended() -> None:
    """Other machines win every entry: after `retry_for` the change gives up, saying so."""
    attempts: list[int] = []

    def always_lost() -> None:
        attempts.append(1)
        raise Lost()

    with pytest.raises(PointerRefused) as caught:
        retry_lost(always_lost, retry_for=0.2)
    assert caught.value.code == "CONTENDED" and len(attempts) >= 2
    assert f"lost the race for the next journal entry {len(attempts)} times in 0.2 s" in str(
        caught.value
    )
    assert retry_lost(lambda: "changed", retry_for=0) == "changed"


def test_a_change_stopped_between_its_entry_and_the_head_is_completed(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a, b = _machine(tmp_path, "a", store), _machine(tmp_path, "b", store)
    _change(a, b"a1\n", b'{"p": "a1"}')
    Ledger(store, "pointers").append(2, "a2\n")  # A killed before it replaced the head
    redone: list[str] = []

    def redo() -> None:  # what the pointer store's redo does: apply the journal's last record
        redone.append(b.journal.read_bytes().decode())
        b.pointers.write_bytes(b'{"p": "a2"}')

    b.pull(redo)
    assert redone == ["a1\na2\n"]
    head = Ledger(store, "pointers").head()
    assert (head.seq, head.state) == (2, '{"p": "a2"}')


def test_a_copy_changed_by_hand_is_fetched_again_whole(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a = _machine(tmp_path, "a", store)
    _change(a, b"a1\n", b'{"p": "a1"}')
    _change(a, b"a2\n", b'{"p": "a2"}')
    a.journal.write_bytes(b"forged\n")
    a.pointers.write_bytes(b'{"p": "forged"}')
    a.pull(lambda: None)
    assert a.journal.read_bytes() == b"a1\na2\n" and a.pointers.read_bytes() == b'{"p": "a2"}'


def test_a_change_that_rewrites_the_journal_is_refused(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a = _machine(tmp_path, "a", store)
    _change(a, b"a1\n", b'{"p": "a1"}')
    base = a.pull(lambda: None)
    a.journal.write_bytes(b"restarted\n")
    with pytest.raises(RegistryError) as caught:
        a.push(base)
    assert caught.value.code == "REMOTE_UNSUPPORTED"
    assert [entry for _, entry in Ledger(store, "pointers").entries(0)] == ["a1\n"]


def test_an_empty_bucket_takes_the_workspaces_history(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    a, b = _machine(tmp_path, "a", store), _machine(tmp_path, "b", store)
    a.journal.write_bytes(b"old1\nold2\n")
    a.pointers.write_bytes(b'{"p": "old2"}')
    a.pull(lambda: None)
    b.pull(lambda: None)
    assert b.journal.read_bytes() == b"old1\nold2\n" and b.pointers.read_bytes() == b'{"p": "old2"}'
