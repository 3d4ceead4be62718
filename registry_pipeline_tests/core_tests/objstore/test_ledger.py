"""The shared journal and head (obstore's in-memory store; `s3_tests/` races it on a real S3
server): one writer wins each entry, a writer stopped between its two writes is completed by
the next reader, nothing is lost; a fence (a build lease taken over) refuses the writers of
lower epochs and no one else."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import Conflict, ObjectStore
from registry_pipeline.core.objstore.ledger import Head, Ledger


def add(ledger: Ledger, name: str) -> int:
    """One change: the state is the list of names. Its entry's seq."""
    return ledger.commit(lambda _head: name, _apply).seq


def _apply(state: str, entry: str) -> str:
    return f"{state},{entry}" if state else entry


def test_entries_and_head_move_together() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    assert ledger.head() == Head(0, "", None)
    assert [add(ledger, name) for name in ("a", "b", "c")] == [1, 2, 3]
    head = ledger.head()
    assert (head.seq, head.state) == (3, "a,b,c")
    assert list(ledger.entries(1)) == [(2, "b"), (3, "c")]


def test_two_writers_cannot_both_write_one_entry() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    ledger.append(1, "mine")
    with pytest.raises(Conflict):
        ledger.append(1, "mine")  # the same text, another write: the nonce tells them apart
    assert list(ledger.entries(0)) == [(1, "mine")]


def test_a_writer_stopped_between_entry_and_head_is_completed_by_the_next() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    add(ledger, "a")
    ledger.append(2, "b")  # ... and the process is killed before `advance`
    assert ledger.head().seq == 1
    assert ledger.pending(ledger.head()) == [(2, "b")]
    assert add(ledger, "c") == 3
    assert ledger.head().state == "a,b,c"


def test_a_stale_head_cannot_be_written_back() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    add(ledger, "a")
    stale = ledger.head()
    add(ledger, "b")
    with pytest.raises(Conflict):
        ledger.advance(stale, 2, "a,x")
    assert ledger.head().state == "a,b"


def test_concurrent_writers_lose_nothing() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    names = [f"w{n}" for n in range(32)]
    threads = [threading.Thread(target=add, args=(ledger, name)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    head = ledger.head()
    assert head.seq == 32
    assert sorted(head.state.split(",")) == sorted(names)
    assert [seq for seq, _ in ledger.entries(0)] == list(range(1, 33))


def test_a_head_this_release_did_not_write_is_refused() -> None:
    store = ObjectStore.in_memory()
    store.put("pointers/head.json", b'{"format": "other"}')
    with pytest.raises(RegistryError) as caught:
        Ledger(store, "pointers").head()
    assert caught.value.code == "REMOTE_STATE_INVALID"
    assert caught.value.path == "memory:///pointers/head.json"


class _NotAtomic(ObjectStore):
    """A store whose conditional create let a rival's create of the same key succeed too,
    once, just after ours (what a server without an atomic If-None-Match does under load)."""

    def __init__(self) -> None:
        inner = ObjectStore.in_memory()
        super().__init__(inner._backend, inner.url)
        self.raced = False

    def _conditional(self, action: str, key: str, data: bytes, *rest: Any) -> str | None:
        etag = super()._conditional(action, key, data, *rest)
        if action == "create" and not self.raced:
            self.raced = True
            self.put(key, data.replace(b'"entry": "mine"', b'"entry": "rival"'))
        return etag


def test_an_entry_a_rival_also_created_is_a_lost_race_not_a_change_done() -> None:
    store = _NotAtomic()
    ledger = Ledger(store, "pointers")
    assert add(ledger, "mine") == 2  # entry 1 turned out the rival's: the change ran again
    assert [entry for _, entry in ledger.entries(0)] == ["rival", "mine"]
    assert ledger.head().state == "rival,mine"


class _Counting(ObjectStore):
    """The in-memory store, counting its reads."""

    def __init__(self) -> None:
        inner = ObjectStore.in_memory()
        super().__init__(inner._backend, inner.url)
        self.reads = 0

    def get(self, key: str) -> Any:
        self.reads += 1
        return super().get(key)


def test_a_create_is_read_back_once_won_or_lost() -> None:
    """The cost SCALE.md counts: a create is read back once, won or lost (a rival's bytes
    there: a lost race); a replace the server accepted is not read back."""
    store = _Counting()
    etag = store.create("journal/1.json", b"mine")
    assert store.reads == 1 and store.get("journal/1.json").etag == etag  # type: ignore[union-attr]
    store.reads = 0
    with pytest.raises(Conflict):
        store.create("journal/1.json", b"a rival's")
    assert store.reads == 1
    store.reads = 0
    moved = store.replace("journal/1.json", b"mine again", etag)
    assert store.reads == 0 and moved != etag


def test_a_fence_refuses_lower_epochs_and_keeps_a_persons_writes() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    add(ledger, "a")
    ledger.fence(2)
    head = ledger.head()
    assert (head.seq, head.state, head.fence) == (2, "a", 2)
    assert list(ledger.entries(0)) == [(1, "a"), (2, "")]  # the fence entry: no text
    with pytest.raises(RegistryError) as caught:
        ledger.commit(lambda _head: "stale", _apply, epoch=1)
    assert caught.value.code == "BUILD_LEASE_LOST"
    assert caught.value.path == "memory:///pointers/head.json"
    assert ledger.commit(lambda _head: "b", _apply, epoch=2).seq == 3
    assert add(ledger, "person") == 4  # no epoch: not fenced, and the fence is kept
    ledger.fence(1)  # lower than the fence: nothing written
    head = ledger.head()
    assert (head.seq, head.state, head.fence) == (4, "a,b,person", 2)


def test_a_stale_writer_that_loses_its_entry_to_the_fence_is_refused() -> None:
    """The new holder's fence entry takes the place the stale holder was about to write:
    the stale writer loses that race, reads the fence, and is refused."""
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    ledger.commit(lambda _head: "a", _apply, epoch=1)

    def entry_for(_head: Head) -> str:
        ledger.fence(2)  # the takeover, between the stale writer's read and its write
        return "stale"

    with pytest.raises(RegistryError) as caught:
        ledger.commit(entry_for, _apply, epoch=1)
    assert caught.value.code == "BUILD_LEASE_LOST"
    assert [text for _, text in ledger.entries(0)] == ["a", ""]


def test_an_entry_written_before_the_fence_stands() -> None:
    """A change already written when the fence comes (its writer stopped before the head)
    is ordered before it: the fence goes after it, and the next reader applies both."""
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    add(ledger, "a")
    ledger.append(2, "b")
    ledger.fence(3)
    assert ledger.head().seq == 1  # the fencer cannot apply "b": the next reader does
    assert [entry.fence for entry in ledger.records(1)] == [0, 3]
    head = ledger.settle(_apply)
    assert (head.seq, head.state, head.fence) == (3, "a,b", 3)
    assert ledger.fenced() == 3


def test_an_empty_ledger_is_fenced_by_a_head_at_entry_zero() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    assert ledger.fenced() == 0
    ledger.fence(1)
    assert ledger.head() == Head(0, "", ledger.head().etag, 1)
    with pytest.raises(RegistryError):
        ledger.commit(lambda _head: "stale", _apply, epoch=0)
    assert add(ledger, "a") == 1  # the first change is entry 1, as without fences
    ledger.fence(2)
    assert [text for _, text in ledger.entries(0)] == ["a", ""]


@pytest.mark.parametrize("fence", ['"1"', "-1", "true", "1.5"])
def test_a_head_with_a_fence_no_release_writes_is_refused(fence: str) -> None:
    store = ObjectStore.in_memory()
    body = f'{{"format": "registry-remote-head-1", "seq": 0, "state": "", "fence": {fence}}}'
    store.put("pointers/head.json", body.encode())
    with pytest.raises(RegistryError) as caught:
        Ledger(store, "pointers").head()
    assert caught.value.code == "REMOTE_STATE_INVALID"


def test_a_head_written_before_fences_reads_as_fence_zero() -> None:
    store = ObjectStore.in_memory()
    store.put("pointers/head.json", b'{"format": "registry-remote-head-1", "seq": 0, "state": ""}')
    ledger = Ledger(store, "pointers")
    assert ledger.head().fence == 0
    assert ledger.commit(lambda _head: "a", _apply, epoch=1).seq == 1
