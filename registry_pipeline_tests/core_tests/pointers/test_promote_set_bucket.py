"""`promote_set` on a bucket (obstore's in-memory store, as `test_bucket_state_machine.py`):
the set is one ledger entry, another machine pulls it and shows every move at once, a lost build
lease refuses the whole set with nothing written, and a set entry rewritten in the bucket is
refused (set aside by `repair` only when it is the last entry)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.gate import admission, sync
from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.pointers.journal import parse_record
from registry_pipeline.core.pointers.store import Move, MoveOutcome, PointerStore
from registry_pipeline.core.workspace import remote
from registry_pipeline.core.workspace.build_slot import build_slot
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import seal_checked
from registry_pipeline_tests.core_tests.pointers.test_bucket_state_machine import (
    machine,
    objects,
    on_bucket,
    repair,
)

REGISTRIES = ("alpha", "beta", "gamma")
ACTOR = {"kind": "dagster_run", "id": "run-1"}
PERSON = {"kind": "cli_user", "id": "tester@host"}


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[tuple[ObjectStore, Workspace, Workspace]]:
    """Two machines on one in-memory bucket, nothing promoted yet."""
    store = ObjectStore.in_memory()
    with on_bucket(store):
        yield store, machine(tmp_path / "a"), machine(tmp_path / "b")


def sealed(workspace: Workspace, n: int) -> list[Move]:
    """Snapshot `n` of every registry sealed, its checks passed: a build's moves."""
    return [Move(rid, seal_checked(workspace.root, rid, n, "passed")[0], f"{rid.upper()}.json")
            for rid in REGISTRIES]  # fmt: skip


def promote_set(workspace: Workspace, moves: list[Move]) -> list[MoveOutcome]:
    store = PointerStore(workspace, lock_timeout=0.5)
    return store.promote_set(moves, reason="a build", actor=ACTOR, admit=admission)


def build(workspace: Workspace, n: int) -> list[MoveOutcome]:
    """A build of snapshot `n` of every registry, promoted as one set under the build slot (the
    bucket's lease)."""
    with build_slot(workspace, f"build@{workspace.root.name}", wait=0.5):
        return promote_set(workspace, sealed(workspace, n))


def active(workspace: Workspace) -> dict[str, str | None]:
    pointers = PointerStore(workspace).read()
    return {rid: ref.run_id if (ref := pointers.active(rid)) else None for rid in REGISTRIES}


def changes(store: ObjectStore) -> list[list[str]]:
    """The ledger's entries that change something, each as the registries its lines move."""
    return [
        [r.registry_id for line in entry.text.encode().splitlines()
         for r in parse_record(line).members()]
        for entry in Ledger(store, remote.POINTERS_PREFIX).entries(0) if entry.text
    ]  # fmt: skip


def test_a_set_is_one_entry_and_another_machine_sees_it_whole(
    bucket: tuple[ObjectStore, Workspace, Workspace],
) -> None:
    store, a, b = bucket
    assert all(o.refusal is None for o in build(a, 1))
    assert changes(store) == [list(REGISTRIES)]
    sync(b)
    assert active(b) == active(a) and None not in active(b).values()
    journal = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    assert (b.root / journal).read_bytes() == (a.root / journal).read_bytes()
    PointerStore(b).hold("beta", reason="freeze", actor=PERSON, admit=admission)
    outcomes = build(a, 2)  # its sync takes b's hold first
    assert {o.registry_id: o.refusal.code for o in outcomes if o.refusal} == {"beta": "HELD"}
    assert changes(store)[-1] == ["alpha", "gamma"]
    sync(b)
    assert active(b) == active(a)
    for workspace in (a, b):
        pointers = PointerStore(workspace)
        assert pointers.verify(admit=admission).ok


def test_a_lost_lease_refuses_the_whole_set_and_writes_nothing(
    bucket: tuple[ObjectStore, Workspace, Workspace],
) -> None:
    store, a, _b = bucket
    build(a, 1)
    before, shown = changes(store), active(a)
    journal = a.root / ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    local = journal.read_bytes()
    moves = sealed(a, 2)
    lost = threading.Event()
    lost.set()
    client = remote.remote_for(a)
    assert client is not None
    client.grant = SimpleNamespace(lost=lost, epoch=1)  # type: ignore[assignment]
    try:
        with pytest.raises(RegistryError) as caught:
            promote_set(a, moves)
    finally:
        client.grant = None
    assert caught.value.code == "BUILD_LEASE_LOST"
    assert changes(store) == before and active(a) == shown and journal.read_bytes() == local


@pytest.mark.parametrize("after", [False, True], ids=["last", "with-a-change-after-it"])
def test_a_rewritten_set_entry_is_refused_and_never_set_aside_under_history(
    bucket: tuple[ObjectStore, Workspace, Workspace], after: bool
) -> None:
    """A set entry rewritten in the bucket (the head had moved over it) is refused by a machine
    that reads it, naming the entry. The last entry is set aside by `repair`, as any hostile
    next entry; one with a change after it is history: REMOTE_UNSUPPORTED, nothing changed."""
    store, a, b = bucket
    build(a, 1)
    first = active(a)
    build(a, 2)
    if after:
        PointerStore(a).hold("beta", reason="after the set", actor=PERSON, admit=admission)
    ledger = Ledger(store, remote.POINTERS_PREFIX)
    entries = list(ledger.entries(0))
    seq = [entry.seq for entry in entries if '"moves"' in entry.text][-1]
    assert seq == entries[-1].seq - after
    key = ledger.entry_key(seq)
    body = json.loads(store.get(key).data)  # type: ignore[union-attr]
    body["entry"] = body["entry"].replace('"promote"', '"promoted"', 1)
    store.put(key, json.dumps(body).encode())
    before = objects(store)
    with pytest.raises(RegistryError) as caught:
        sync(b)
    assert caught.value.code == "RECORD_UNREADABLE"
    assert caught.value.path is not None and caught.value.path.endswith(key)
    assert objects(store) == before
    if after:
        with pytest.raises(RegistryError) as caught:
            repair(b)
        assert caught.value.code == "REMOTE_UNSUPPORTED"
        assert objects(store) == before
        return
    repair(b)
    assert before[key] in objects(store).values()  # kept, byte for byte, under quarantine/
    for workspace in (a, b):  # the head back on the first set
        sync(workspace)
        assert active(workspace) == first
