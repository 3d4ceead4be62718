"""The shared journal and head through the bucket backend of the pointer journal
(`BucketJournal`, as the pointer store drives it; obstore's in-memory store, `s3_tests/` races
it on a real S3 server): one writer wins each entry, a writer stopped between its two writes is
completed by the next reader, nothing is lost; a fence (a build lease taken over) refuses the
writers of lower epochs and no one else."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import Blob, Conflict, ObjectStore
from registry_pipeline.core.objstore.lease import Grant
from registry_pipeline.core.objstore.ledger import Head, Ledger
from registry_pipeline.core.pointers.bucket import BucketJournal, retry_lost
from registry_pipeline.core.pointers.journal import JournalRecord
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.workspace.remote import Remote

REF = SealedRef("alpha", "2026-01-01__000000__alpha", "0" * 64, relpath="ALPHA.json")


def machine(store: ObjectStore, root: Path, epoch: int | None = None) -> BucketJournal:
    """One machine's bucket journal (its workspace folder `root`), under the build lease
    `epoch` when given."""
    (root / ".codex").mkdir(parents=True, exist_ok=True)
    remote = Remote(store)
    remote.grant = Grant("test", epoch) if epoch is not None else None
    return BucketJournal(remote, root, root / ".codex" / "journal.jsonl",
                         root / ".codex" / "pointers.json")  # fmt: skip


def record(name: str, previous: JournalRecord | None) -> JournalRecord:
    """The journal record of the change `name` (its reason), chained to `previous`."""
    return JournalRecord(
        seq=previous.seq + 1 if previous else 1, registry_id="alpha",
        from_ref=REF if previous else None, to_ref=REF,
        action="hold" if previous else "adopt", reason=name,
        actor={"kind": "cli_user", "id": "test"}, checks={},
        created_utc="2026-01-01T00:00:00.000000Z",
        prev_sha256=previous.sha256 if previous else None,
    ).hashed()  # fmt: skip


def line(name: str, previous: JournalRecord | None) -> str:
    return record(name, previous).line().decode() + "\n"


def state(journal: BucketJournal) -> None:
    """The pointer file as the journal leads to it: the names of its changes, in order (what
    the store's redo of an interrupted change does: the state from the journal)."""
    names = [json.loads(text)["reason"] for text in journal.journal.read_text().splitlines()]
    journal.pointers.write_text(",".join(names))


def add(journal: BucketJournal, name: str) -> int:
    """One change as the pointer store makes it (`retry_lost` around `change`): a record named
    `name` appended, the pointer file (the list of names) written; the head's seq after it."""

    def change() -> None:
        with journal.change(lambda record, action: None, lambda: state(journal), writes=True):
            journal.append(record(name, journal.last()))
            state(journal)

    retry_lost(change)
    return journal.ledger.head().seq


def texts(ledger: Ledger, after: int = 0) -> list[str]:
    return [entry.text for entry in ledger.records(after)]


def reasons(ledger: Ledger, after: int = 0) -> list[str]:
    """The change names of the entries after `after` ("" for a fence entry)."""
    return [json.loads(text)["reason"] if text else "" for text in texts(ledger, after)]


def test_entries_and_head_move_together(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger, journal = Ledger(store, "pointers"), machine(store, tmp_path / "m1")
    assert ledger.head() == Head(0, "", None)
    assert [add(journal, name) for name in ("a", "b", "c")] == [1, 2, 3]
    head = ledger.head()
    assert (head.seq, head.state) == (3, "a,b,c")
    assert [entry.seq for entry in ledger.records(1)] == [2, 3]
    assert reasons(ledger, 1) == ["b", "c"]


def test_two_writers_cannot_both_write_one_entry() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    ledger.append(1, "mine")
    with pytest.raises(Conflict):
        ledger.append(1, "mine")  # the same text, another write: the nonce tells them apart
    assert [(entry.seq, entry.text) for entry in ledger.records(0)] == [(1, "mine")]


def test_a_writer_stopped_between_entry_and_head_is_completed_by_the_next(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger, journal = Ledger(store, "pointers"), machine(store, tmp_path / "m2")
    add(journal, "a")
    first = record("a", None)
    ledger.append(2, line("b", first))  # ... and the process is killed before `advance`
    assert ledger.head().seq == 1
    assert [(e.seq, e.text) for e in ledger.records(ledger.head().seq)] == [(2, line("b", first))]
    assert add(machine(store, tmp_path / "m3"), "c") == 3
    assert ledger.head().state == "a,b,c"


def test_a_stale_head_cannot_be_written_back(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger, journal = Ledger(store, "pointers"), machine(store, tmp_path / "m4")
    add(journal, "a")
    stale = ledger.head()
    add(journal, "b")
    with pytest.raises(Conflict):
        ledger.advance(stale, 2, "a,x")
    assert ledger.head().state == "a,b"


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    names = [f"w{n}" for n in range(32)]
    machines = [machine(store, tmp_path / name) for name in names]
    threads = [
        threading.Thread(target=add, args=pair) for pair in zip(machines, names, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    head = ledger.head()
    assert head.seq == 32
    assert sorted(head.state.split(",")) == sorted(names)
    assert [entry.seq for entry in ledger.records(0)] == list(range(1, 33))
    assert head.state.split(",") == reasons(ledger)


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
        if action == "create" and key.endswith("journal/000000000001.json") and not self.raced:
            self.raced = True
            rival = {"seq": 1, "entry": line("rival", None), "written_by": {"nonce": "rival"}}
            self.put(key, json.dumps(rival, sort_keys=True).encode())
        return etag


def test_an_entry_a_rival_also_created_is_a_lost_race_not_a_change_done(tmp_path: Path) -> None:
    store = _NotAtomic()
    ledger = Ledger(store, "pointers")
    journal = machine(store, tmp_path / "m6")
    journal.journal.write_bytes(b"")  # a workspace with no history: nothing to bootstrap
    assert add(journal, "mine") == 2  # entry 1 turned out the rival's: the change ran again
    assert store.raced and reasons(ledger) == ["rival", "mine"]
    assert ledger.head().state == "rival,mine"


class _Counting(ObjectStore):
    """The in-memory store, counting its reads."""

    def __init__(self) -> None:
        inner = ObjectStore.in_memory()
        super().__init__(inner._backend, inner.url)
        self.reads = 0

    def get(self, key: str, limit: int | None = None) -> Blob | None:
        self.reads += 1
        return super().get(key, limit)


def test_a_create_is_read_back_once_won_or_lost() -> None:
    """The cost SCALE.md counts: a create is read back once, won or lost (a rival's bytes
    there: a lost race); a replace the server accepted is not read back."""
    store = _Counting()
    etag = store.create("journal/1.json", b"mine")
    assert store.reads == 1
    blob = store.get("journal/1.json")
    assert blob is not None and blob.etag == etag
    store.reads = 0
    with pytest.raises(Conflict):
        store.create("journal/1.json", b"a rival's")
    assert store.reads == 1
    store.reads = 0
    moved = store.replace("journal/1.json", b"mine again", etag)
    assert store.reads == 0 and moved != etag


def _refused(journal: BucketJournal, name: str) -> None:
    """`name` refused with BUILD_LEASE_LOST: nothing written to the bucket, the local copy put
    back as pulled (the bucket's journal, without the refused record)."""
    ledger = Ledger(journal.remote.store, "pointers")
    before = ledger.head()
    with pytest.raises(RegistryError) as caught:
        add(journal, name)
    assert caught.value.code == "BUILD_LEASE_LOST"
    assert caught.value.path == "memory:///pointers/head.json"
    after = ledger.head()
    assert (after.seq, after.state, after.fence) == (before.seq, before.state, before.fence)
    assert journal.journal.read_text() == "".join(texts(ledger))
    assert name not in reasons(ledger)


def test_a_fence_refuses_lower_epochs_and_keeps_a_persons_writes(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "m7"), "a")
    ledger.fence(2)
    head = ledger.head()
    assert (head.seq, head.state, head.fence) == (2, "a", 2)
    assert [(entry.seq, entry.text, entry.fence) for entry in ledger.records(1)] == [
        (2, "", 2)]  # the fence entry: no text  # fmt: skip
    _refused(machine(store, tmp_path / "m8", epoch=1), "stale")
    assert add(machine(store, tmp_path / "m9", epoch=2), "b") == 3
    assert (
        add(machine(store, tmp_path / "m10"), "person") == 4
    )  # no epoch: not fenced, and the fence is kept
    ledger.fence(1)  # lower than the fence: nothing written
    head = ledger.head()
    assert (head.seq, head.state, head.fence) == (4, "a,b,person", 2)
    assert reasons(ledger) == ["a", "", "b", "person"]


def test_a_stale_writer_that_loses_its_entry_to_the_fence_is_refused(tmp_path: Path) -> None:
    """The new holder's fence entry takes the place the stale holder was about to write:
    the stale writer loses that race, reads the fence, and is refused."""
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "m11", epoch=1), "a")
    stale = machine(store, tmp_path / "m12", epoch=1)
    pull = stale.pull

    def pull_then_fence(*args: Any, **kwargs: Any) -> Any:
        base = pull(*args, **kwargs)
        if ledger.fenced() < 2:
            ledger.fence(2)  # the takeover, between the stale writer's read and its write
        return base

    stale.pull = pull_then_fence  # type: ignore[method-assign]
    with pytest.raises(RegistryError) as caught:
        add(stale, "stale")
    assert caught.value.code == "BUILD_LEASE_LOST"
    assert reasons(ledger) == ["a", ""]
    assert stale.journal.read_text() == line("a", None)  # put back as pulled


def test_an_entry_written_before_the_fence_stands(tmp_path: Path) -> None:
    """A change already written when the fence comes (its writer stopped before the head)
    is ordered before it: the fence goes after it, and the next reader applies both."""
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "m13"), "a")
    ledger.append(2, line("b", record("a", None)))
    ledger.fence(3)
    assert ledger.head().seq == 1  # the fencer cannot apply "b": the next reader does
    assert [entry.fence for entry in ledger.records(1)] == [0, 3]
    reader = machine(store, tmp_path / "m14")
    reader.pull(lambda record, action: None, lambda: state(reader))
    head = ledger.head()
    assert (head.seq, head.state, head.fence) == (3, "a,b", 3)
    assert ledger.fenced() == 3


def test_an_empty_ledger_is_fenced_by_a_head_at_entry_zero(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    assert ledger.fenced() == 0
    ledger.fence(1)
    assert ledger.head() == Head(0, "", ledger.head().etag, 1)
    stale = machine(store, tmp_path / "m15", epoch=0)
    stale.journal.write_bytes(b"")
    _refused(stale, "stale")
    assert (
        add(machine(store, tmp_path / "m16"), "a") == 1
    )  # the first change is entry 1, as without fences
    ledger.fence(2)
    assert reasons(ledger) == ["a", ""]


@pytest.mark.parametrize("fence", ['"1"', "-1", "true", "1.5"])
def test_a_head_with_a_fence_no_release_writes_is_refused(fence: str) -> None:
    store = ObjectStore.in_memory()
    body = f'{{"format": "registry-remote-head-1", "seq": 0, "state": "", "fence": {fence}}}'
    store.put("pointers/head.json", body.encode())
    with pytest.raises(RegistryError) as caught:
        Ledger(store, "pointers").head()
    assert caught.value.code == "REMOTE_STATE_INVALID"


@pytest.mark.parametrize("seq", ['"12"', '"\\uff11\\uff12"', "12.9", "true", '"1_2"', "-1"])
def test_a_head_at_an_entry_no_release_writes_is_refused(seq: str) -> None:
    store = ObjectStore.in_memory()  # int() read each of these as an entry number
    body = f'{{"format": "registry-remote-head-1", "seq": {seq}, "state": "", "fence": 0}}'
    store.put("pointers/head.json", body.encode())
    with pytest.raises(RegistryError) as caught:
        Ledger(store, "pointers").head()
    assert caught.value.code == "REMOTE_STATE_INVALID"


def test_a_head_written_before_fences_reads_as_fence_zero(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    store.put("pointers/head.json", b'{"format": "registry-remote-head-1", "seq": 0, "state": ""}')
    ledger = Ledger(store, "pointers")
    assert ledger.head().fence == 0
    assert add(machine(store, tmp_path / "m17", epoch=1), "a") == 1


def test_a_reader_whose_completion_a_rival_overtook_loses_its_entry(tmp_path: Path) -> None:
    """A reader completes a stopped writer's entry, but a rival completes it first and then
    writes the next change: the reader's copy ends before the rival's change, so its own
    change loses that entry and runs again on the rival's state (never an entry that does not
    continue the chain)."""
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "a"), "a")
    ledger.append(2, line("b", record("a", None)))  # its writer stopped before the head
    reader = machine(store, tmp_path / "reader")
    advance = reader.ledger.advance
    overtaken: list[int] = []

    def rival_first(*args: Any, **kwargs: Any) -> Any:
        if not overtaken:
            overtaken.append(add(machine(store, tmp_path / "rival"), "rival"))
        return advance(*args, **kwargs)

    reader.ledger.advance = rival_first  # type: ignore[method-assign]
    assert add(reader, "mine") == 4 and overtaken == [3]
    assert reasons(ledger) == ["a", "b", "rival", "mine"]
    assert ledger.head().state == "a,b,rival,mine"


def test_an_entry_with_a_duplicate_key_is_refused_as_tampered() -> None:
    """Strict JSON as everywhere else: of two `entry` keys, a lax parser keeps the last, so a
    reader would apply a text other readers never saw."""
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    ledger.append(1, "mine")
    store.put(ledger.entry_key(2), b'{"seq": 2, "entry": "shown", "entry": "applied"}')
    with pytest.raises(RegistryError) as caught:
        list(ledger.records(0))
    assert caught.value.code == "REMOTE_STATE_INVALID"
    assert caught.value.path == f"memory:///{ledger.entry_key(2)}"
    entries = list(ledger.records(0, strict=False))
    assert [entry.text for entry in entries] == ["mine", ""]
    assert entries[1].invalid is not None and "duplicate key 'entry'" in entries[1].invalid


def test_a_head_with_a_duplicate_key_is_refused() -> None:
    store = ObjectStore.in_memory()
    body = b'{"format": "registry-remote-head-1", "seq": 0, "seq": 5, "state": ""}'
    store.put("pointers/head.json", body)
    with pytest.raises(RegistryError) as caught:
        Ledger(store, "pointers").head()
    assert caught.value.code == "REMOTE_STATE_INVALID"
