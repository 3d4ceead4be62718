"""Concurrent compare-and-swap promotions from 4 processes.

Each worker process, every round: reads the active pointer, waits at a barrier until all workers
have read (so that all of them race on the same, possibly stale, expectation), then tries to move
the pointer from what it read to a newer pre-sealed snapshot (worker w picks the snapshot 1 + w
places after the one it read, so competing attempts target different snapshots). The harness then
checks the invariants a correct pointer store must keep (`invariant_problems`, which is shown to
catch a lost update); exactly one success a round shows the workers did race.
"""

from __future__ import annotations

import json
import traceback
from collections import Counter
from itertools import pairwise
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.journal import read_records, verify_journal
from registry_pipeline.core.pointers.store import PointerRefused, PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests.core_tests.pointers._processes import forked, sealed_snapshots

WORKERS = 4
ROUNDS = 25 * settings().max_examples // 10
"""250 rounds in `make test-full`, 25 in `make test` (the tier's Hypothesis profile)."""
SNAPSHOTS = WORKERS * ROUNDS + WORKERS  # each round advances the pointer by at most WORKERS
REGISTRY = "alpha"
RELPATH = "ALPHA.json"
JOIN_SECONDS = 180.0
BARRIER_SECONDS = 60.0

Attempt = tuple[str | None, str, str]
"""(run id read before the attempt, target run id, outcome: "ok" or a refusal code)."""
Ledger = list[tuple[str | None, str]]
"""The (from, to) of every recorded change, in record order."""


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, list[str]]:
    """A workspace with SNAPSHOTS sealed snapshots of alpha, one second apart (oldest first)."""
    return sealed_snapshots(tmp_path_factory.mktemp("concurrency") / "ws", SNAPSHOTS)


# -- the harness ---------------------------------------------------------------------------------


def _worker(
    root: str,
    run_ids: list[str],
    index: int,
    rounds: int,
    barrier: Barrier,
    out: str,
) -> None:
    """One process: `rounds` of read, barrier, attempt; the attempts go to `out` as JSON."""
    attempts: list[Attempt] = []
    try:
        workspace = Workspace(Path(root))
        pstore = PointerStore(workspace, lock_timeout=BARRIER_SECONDS)
        position = {run_id: n for n, run_id in enumerate(run_ids)}
        for round_number in range(rounds):
            current = pstore.read().active(REGISTRY)
            read = current.run_id if current else None
            target = run_ids[(position[read] if read else -1) + 1 + index]
            barrier.wait(BARRIER_SECONDS)
            outcome = _store_attempt(pstore, read, target, index, round_number)
            attempts.append((read, target, outcome))
    except BaseException:
        barrier.abort()  # the other workers stop instead of waiting for this one
        Path(out).write_text(json.dumps({"error": traceback.format_exc()}))
        raise
    Path(out).write_text(json.dumps({"attempts": attempts}))


def _store_attempt(
    pstore: PointerStore, read: str | None, target: str, index: int, round_number: int
) -> str:
    """A compare-and-swap promotion through the pointer store."""
    try:
        change = pstore.promote(
            REGISTRY,
            target,
            relpath=RELPATH,
            reason=f"worker {index} round {round_number}",
            actor={"kind": "test", "id": f"worker-{index}"},
            expect=read,
            admit=admission,
        )
    except PointerRefused as exc:
        return exc.code
    return "ok" if change.changed else "NO_CHANGE"


def run_harness(workspace: Workspace, run_ids: list[str], rounds: int) -> list[Attempt]:
    """Run WORKERS processes; every attempt, worker by worker."""
    context = forked(__name__)
    barrier = context.Barrier(WORKERS)
    outs = [workspace.root / f"worker_{n}.json" for n in range(WORKERS)]
    processes = [
        context.Process(
            target=_worker,
            args=(str(workspace.root), run_ids, n, rounds, barrier, str(outs[n])),
        )
        for n in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(JOIN_SECONDS)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    results: list[dict[str, Any]] = [
        json.loads(out.read_text()) if out.exists() else {"error": "no output"} for out in outs
    ]
    errors = [result["error"] for result in results if "error" in result]
    assert not errors, errors[0]
    assert [process.exitcode for process in processes] == [0] * WORKERS
    return [(read, target, outcome) for r in results for read, target, outcome in r["attempts"]]


def invariant_problems(attempts: list[Attempt], ledger: Ledger, final: str | None) -> list[str]:
    """What is wrong with a run of the harness: empty for a correct compare-and-swap store."""
    problems: list[str] = []
    outcomes = Counter(outcome for _read, _target, outcome in attempts)
    successes = outcomes["ok"]
    if successes + outcomes["CAS_CONFLICT"] != len(attempts):
        problems.append(f"outcomes other than success or CAS_CONFLICT: {dict(outcomes)}")
    if len(ledger) != successes:
        problems.append(f"{len(ledger)} recorded changes for {successes} successes")
    for number, ((_was, previous_to), (was, _now)) in enumerate(pairwise(ledger), start=2):
        if was != previous_to:
            problems.append(
                f"lost update: change {number} moved the pointer from {was}, but change "
                f"{number - 1} had moved it to {previous_to}"
            )
    if ledger and final != ledger[-1][1]:
        problems.append(
            f"the final pointer {final} is not the last change's target {ledger[-1][1]}"
        )
    succeeded = Counter((read, target) for read, target, outcome in attempts if outcome == "ok")
    if succeeded != Counter(ledger):
        problems.append("the successful attempts are not the recorded changes")
    return problems


def _store_ledger(pstore: PointerStore) -> Ledger:
    return [
        (record.from_ref.run_id if record.from_ref else None, record.to_ref.run_id or "")
        for record in read_records(pstore.journal_path)
    ]


def _final(pstore: PointerStore) -> str | None:
    ref = pstore.read().active(REGISTRY)
    return ref.run_id if ref else None


# -- the tests -----------------------------------------------------------------------------------


def test_four_processes_promoting_with_compare_and_swap_lose_nothing(
    sealed: tuple[Workspace, list[str]],
) -> None:
    workspace, run_ids = sealed
    pstore = PointerStore(workspace)
    attempts = run_harness(workspace, run_ids, ROUNDS)

    assert len(attempts) == WORKERS * ROUNDS
    ledger = _store_ledger(pstore)
    assert invariant_problems(attempts, ledger, _final(pstore)) == []
    outcomes = Counter(outcome for _read, _target, outcome in attempts)
    # All reads of a round happen before its attempts (the barrier) and the round's first
    # success invalidates every other expectation: exactly one success per round.
    assert outcomes == {"ok": ROUNDS, "CAS_CONFLICT": (WORKERS - 1) * ROUNDS}
    records = list(read_records(pstore.journal_path))
    assert [record.seq for record in records] == list(range(1, ROUNDS + 1))
    for record in records:  # every success moved the pointer forward
        was = record.from_ref.run_id if record.from_ref else ""
        assert (record.to_ref.run_id or "") > (was or ""), record
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and report.notes == [], (report.problems, report.notes)
    assert report.head == records[-1].sha256
    assert not pstore.lock_path.exists()


def test_the_invariant_check_accepts_a_serial_history_and_names_a_lost_update() -> None:
    """The check itself: a correct serial history passes; a dropped record, and two writers
    that both moved the pointer from what they read (last writer wins), are named."""
    attempts: list[Attempt] = [(None, "a", "ok"), ("a", "b", "ok"), (None, "b", "CAS_CONFLICT")]
    assert invariant_problems(attempts, [(None, "a"), ("a", "b")], "b") == []
    problems = invariant_problems(attempts, [(None, "a")], "a")
    assert "1 recorded changes for 2 successes" in problems
    raced: list[Attempt] = [("a", "b", "ok"), ("a", "c", "ok")]
    (lost,) = invariant_problems(raced, [("a", "b"), ("a", "c")], "c")
    assert lost.startswith("lost update: change 2 moved the pointer from a")
