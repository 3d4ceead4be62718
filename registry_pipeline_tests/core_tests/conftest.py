"""Fixtures of the pointer store tests: distinct snapshots of `alpha`, and a store that waits
briefly for its lock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from registry_pipeline.core.gate.gate import evaluate, record
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.run_store import RunStore, SealedRun

Snap = Callable[..., SealedRun]


@pytest.fixture
def snap(make_run: Callable[..., SealedRun]) -> Snap:
    """A new sealed snapshot of `alpha` (or another registry) with distinct content."""
    counter = iter(range(10_000))

    def make(registry_id: str = "alpha") -> SealedRun:
        return make_run({"ALPHA.json": b'{"n": %d}\n' % next(counter)}, registry_id=registry_id)

    return make


@pytest.fixture
def checked(store: RunStore) -> Callable[[SealedRun], SealedRun]:
    """Run the gate's checks on a snapshot and write its receipt, as a build's step does
    (a snapshot no build checked cannot be rolled back to)."""

    def check(run: SealedRun, registry_id: str = "alpha") -> SealedRun:
        verdicts = evaluate(store.workspace, registry_id, run.path)
        build = {"kind": "dagster_run", "id": "test"}
        record(store.workspace, registry_id, run.path, run.root_sha256, verdicts, build)
        return run

    return check


@pytest.fixture
def pstore(store: RunStore) -> PointerStore:
    """The workspace's pointer store, giving up on a busy lock after 0.2 s."""
    return PointerStore(store.workspace, lock_timeout=0.2)
