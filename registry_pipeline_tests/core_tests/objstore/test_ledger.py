"""The journal in a bucket through its backend (`BucketJournal`, as the pointer store drives it;
obstore's in-memory store, `s3_tests/` races it on a real S3 server): one writer wins each entry,
each change one entry carrying the pointer file after it (the last one is the head: no head
object), nothing is lost; a fence (a build lease taken over) refuses the writers of lower epochs
and no one else."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import Blob, Conflict, ObjectStore
from registry_pipeline.core.objstore.lease import Grant
from registry_pipeline.core.objstore.ledger import Ledger
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
    """The pointer file as the journal leads to it: the names of its changes, in order."""
    names = [json.loads(text)["reason"] for text in journal.journal.read_text().splitlines()]
    journal.pointers.write_text(",".join(names))


def add(journal: BucketJournal, name: str) -> int:
    """One change as the pointer store makes it (`retry_lost` around `change`): a record named
    `name` appended, the pointer file (the list of names) written; the entry it is."""

    def change() -> None:
        with journal.change(lambda record, action: None, lambda: state(journal), writes=True):
            journal.append(record(name, journal.last()))
            state(journal)

    retry_lost(change)
    return head(journal.ledger)[0]


def head(ledger: Ledger) -> tuple[int, str]:
    """(the last entry, the pointer file of the last change): what every reader derives."""
    entries = list(ledger.entries(0))
    changes = [entry for entry in entries if entry.changes]
    return (entries[-1].seq if entries else 0), str(changes[-1].state) if changes else ""


def texts(ledger: Ledger, after: int = 0) -> list[str]:
    return [entry.text for entry in ledger.entries(after)]


def reasons(ledger: Ledger, after: int = 0) -> list[str]:
    """The change names of the entries after `after` ("" for a fence entry)."""
    return [json.loads(text)["reason"] if text else "" for text in texts(ledger, after)]


def test_each_change_is_one_entry_carrying_its_pointer_file(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger, journal = Ledger(store, "pointers"), machine(store, tmp_path / "m1")
    assert head(ledger) == (0, "")
    assert [add(journal, name) for name in ("a", "b", "c")] == [1, 2, 3]
    assert [entry.state for entry in ledger.entries(0)] == ["a", "a,b", "a,b,c"]
    assert [entry.seq for entry in ledger.entries(1)] == [2, 3]
    assert reasons(ledger, 1) == ["b", "c"]
    assert list(store.keys("pointers/")) == [ledger.entry_key(n) for n in (1, 2, 3)]  # no head
    reader = machine(store, tmp_path / "reader")
    reader.pull(lambda record, action: None, lambda: None, writes=False)
    assert reader.pointers.read_text() == "a,b,c"
    assert reader.journal.read_text() == "".join(texts(ledger))


def test_two_writers_cannot_both_write_one_entry() -> None:
    ledger = Ledger(ObjectStore.in_memory(), "pointers")
    ledger.create(1, "mine")
    with pytest.raises(Conflict):
        ledger.create(1, "mine")  # the same text, another write: the nonce tells them apart
    assert [(entry.seq, entry.text) for entry in ledger.entries(0)] == [(1, "mine")]


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
    seq, pointers = head(ledger)
    assert seq == 32 and sorted(pointers.split(",")) == sorted(names)
    assert [entry.seq for entry in ledger.entries(0)] == list(range(1, 33))
    assert pointers.split(",") == reasons(ledger)


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
            rival = {"seq": 1, "entry": line("rival", None), "state": "rival",
                     "written_by": {"nonce": "rival"}}  # fmt: skip
            self.put(key, json.dumps(rival, sort_keys=True).encode())
        return etag


def test_an_entry_a_rival_also_created_is_a_lost_race_not_a_change_done(tmp_path: Path) -> None:
    store = _NotAtomic()
    ledger = Ledger(store, "pointers")
    journal = machine(store, tmp_path / "m6")
    journal.journal.write_bytes(b"")  # a workspace with no history: nothing to bootstrap
    assert add(journal, "mine") == 2  # entry 1 turned out the rival's: the change ran again
    assert store.raced and reasons(ledger) == ["rival", "mine"]
    assert head(ledger)[1] == "rival,mine"


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
    before = list(journal.remote.store.keys("pointers/"))
    with pytest.raises(RegistryError) as caught:
        add(journal, name)
    assert caught.value.code == "BUILD_LEASE_LOST"
    assert caught.value.path == "memory:///locks/build.json"
    assert list(journal.remote.store.keys("pointers/")) == before
    assert journal.journal.read_text() == "".join(texts(ledger))
    assert name not in reasons(ledger)


def test_a_fence_refuses_lower_epochs_and_keeps_a_persons_writes(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "m7"), "a")
    ledger.fence(2)
    assert [(entry.seq, entry.text, entry.fence) for entry in ledger.entries(1)] == [
        (2, "", 2)]  # the fence entry: no text  # fmt: skip
    assert ledger.fenced() == 2 and head(ledger) == (2, "a")
    _refused(machine(store, tmp_path / "m8", epoch=1), "stale")
    assert add(machine(store, tmp_path / "m9", epoch=2), "b") == 3
    assert (
        add(machine(store, tmp_path / "m10"), "person") == 4
    )  # no epoch: not fenced, and the fence is kept
    ledger.fence(1)  # lower than the fence: nothing written
    assert head(ledger) == (4, "a,b,person") and ledger.fenced() == 2
    assert reasons(ledger) == ["a", "", "b", "person"]


def test_a_stale_writer_that_loses_its_entry_to_the_fence_is_refused(tmp_path: Path) -> None:
    """The fencing token: the new holder's fence entry takes the place the stale holder was
    about to create (after its check of the fence passed); the stale writer loses that entry,
    pulls the fence, and is refused."""
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
    """A change created before the fence is ordered before it: the fence goes after it."""
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "m13"), "a")
    ledger.create(2, line("b", record("a", None)), "a,b")
    ledger.fence(3)
    assert [entry.fence for entry in ledger.entries(1)] == [0, 3]
    reader = machine(store, tmp_path / "m14")
    reader.pull(lambda record, action: None, lambda: None)
    assert reader.pointers.read_text() == "a,b" and ledger.fenced() == 3


def test_an_empty_ledger_is_fenced_by_its_first_entry(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    assert ledger.fenced() == 0
    ledger.fence(1)
    assert [(entry.seq, entry.fence) for entry in ledger.entries(0)] == [(1, 1)]
    stale = machine(store, tmp_path / "m15", epoch=0)
    stale.journal.write_bytes(b"")
    _refused(stale, "stale")
    assert add(machine(store, tmp_path / "m16"), "a") == 2
    ledger.fence(2)
    assert reasons(ledger) == ["", "a", ""]


@pytest.mark.parametrize(
    "body",
    [
        '"fence": "1"',
        '"fence": -1',
        '"fence": true',
        '"fence": 1.5',
        '"state": 5',
        '"entry": "shown", "entry": "applied"',
    ],
)
def test_an_entry_no_release_writes_is_refused(body: str) -> None:
    """Strict JSON as everywhere else (of two `entry` keys, a lax parser keeps the last, so a
    reader would apply a text other readers never saw), and exact types."""
    store = ObjectStore.in_memory()
    ledger = Ledger(store, "pointers")
    ledger.create(1, "mine")
    store.put(ledger.entry_key(2), f'{{"seq": 2, "entry": "", {body}}}'.encode())
    with pytest.raises(RegistryError) as caught:
        list(ledger.entries(0))
    assert caught.value.code == "REMOTE_STATE_INVALID"
    assert caught.value.path == f"memory:///{ledger.entry_key(2)}"
    entries = list(ledger.entries(0, strict=False))
    assert [entry.text for entry in entries] == ["mine", ""] and entries[1].invalid is not None
