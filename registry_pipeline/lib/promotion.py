"""A build's promotion, every door's: the gate on what it sealed, pointers moved, build recorded."""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.errors import IO_ERROR, RegistryError, advised, io_error, render
from registry_pipeline.core.freshness import (
    active_snapshots,
    drop_stashed,
    record_build,
    recorded_run,
    stashed_inputs,
    stashed_runs,
)
from registry_pipeline.core.gate.checks import check_names
from registry_pipeline.core.gate.gate import admission, sealed_together, sync
from registry_pipeline.core.gate.receipts import ReceiptStore
from registry_pipeline.core.pointers.store import Move, MoveOutcome, PointerStore, pointer_relpath
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build_run import run_slot, say
from registry_pipeline.lib.failures import run_events
from registry_pipeline.lib.runs import (
    ABANDONED,
    ENDED,
    HOST_TAG,
    LEASE_LOST,
    PENDING,
    PROMOTES_TAG,
    PROMOTION_TAG,
    give_back,
    hold_run,
    holds,
    release_run,
)

PROMOTION_JOB = "promote_registries"
STARTING_GRACE = 30.0
"""Seconds a queued or starting promotion run is trusted to start (its daemon may be gone)."""
PROMOTION_OP = "promote_build"
PROMOTION_SENSOR = "promote_after_build"
OUTCOME_KEY = "promotion"
"""Observation metadata: the promotion's outcome for the registry (`PromotionOutcome.as_json`)."""
PENDING_AGAIN = (
    "the promotion of build run {} stopped there and is pending again (the promotion sensor, or "
    "the next `registry build`, runs it)"
)
"""What a promotion that a fault stopped says of its build (given back: `runs.give_back`)."""
CHECK_SOURCE = "dagster asset check; validated again by the pointer store under its lock"
CHECK_EVALUATION = dg.DagsterEventType.ASSET_CHECK_EVALUATION
STEP_TROUBLE = (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED)


class Outcome(StrEnum):
    """What a promotion attempt did."""

    PROMOTED = "promoted"
    ALREADY_ACTIVE = "already active"
    SKIPPED = "skipped"
    """Not an error: NOT_NEWER, or a registry on hold (a rollback or `pointers hold`)."""
    NO_POINTER = "no pointer by design"
    CHECKS_NOT_PASSED = "checks not passed"
    REFUSED = "refused"


@dataclass(frozen=True)
class PromotionOutcome:
    """The result of `promote` for one registry snapshot."""

    registry_id: str
    run_id: str
    outcome: Outcome
    reason: str
    """One line for humans: "promoted", "already active", "NOT_NEWER: ...", ..."""
    code: str | None = None
    """The pointer store's refusal code (NOT_NEWER, CAS_CONFLICT, TARGET_INVALID, ...)."""
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal_seq: int | None = None
    path: str | None = None
    """The file a refusal names, if any (IO_ERROR: the file that could not be written)."""

    @property
    def is_error(self) -> bool:
        """A refusal other than NOT_NEWER, or checks that did not pass."""
        return self.outcome in (Outcome.REFUSED, Outcome.CHECKS_NOT_PASSED)

    def as_json(self) -> dict[str, object]:
        """A JSON object (the observation, `registry build --json`): its fields in order."""
        return {**asdict(self), "outcome": self.outcome.value}


def promotion_key(instance: dg.DagsterInstance, build_run_id: str) -> str:
    """`promote:<build>`, then `:<attempt>` after a failed one (a key is never requested twice)."""
    tried = instance.get_runs_count(dg.RunsFilter(tags={PROMOTES_TAG: build_run_id}))
    return f"promote:{build_run_id}" + (f":{tried + 1}" if tried else "")


def pending_builds(instance: dg.DagsterInstance, limit: int = 20) -> list[dg.DagsterRun]:
    """Ended builds no promotion took, oldest first, but those a live process or promotion holds."""
    filters = dg.RunsFilter(tags={PROMOTION_TAG: PENDING}, statuses=list(ENDED))
    records = instance.get_run_records(filters, limit=limit, order_by="id", ascending=True)
    busy = {run.tags.get(PROMOTES_TAG) for run in promotions_in_progress(instance)}
    return [
        r.dagster_run
        for r in records
        if not holds(instance, r.dagster_run.run_id) and r.dagster_run.run_id not in busy
    ]


def promotions_in_progress(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Promotion runs that will end on their own: held here, started elsewhere, just queued."""
    statuses = [
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    ]
    found = instance.get_run_records(dg.RunsFilter(job_name=PROMOTION_JOB, statuses=statuses))
    now = time.time()
    return [
        record.dagster_run
        for record in found
        if holds(instance, record.dagster_run.run_id)
        or (record.dagster_run.status == dg.DagsterRunStatus.STARTED
            and record.dagster_run.tags.get(HOST_TAG) not in (None, socket.gethostname()))
        or now - record.update_timestamp.timestamp() < STARTING_GRACE
    ]  # fmt: skip


def promote_build(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    workspace: Workspace,
    wait: float,
) -> Iterator[dg.AssetObservation]:
    """Promote the build run that promotion run `run` names; an observation per registry."""
    build_run_id = run.tags.get(PROMOTES_TAG)
    build = instance.get_run_by_id(build_run_id) if build_run_id else None
    if build is None:
        raise RegistryError.of("NO_BUILD_RUN", path=PROMOTES_TAG, build_run_id=build_run_id)
    hold_run(instance, run, "promoting")
    try:
        with run_slot(instance, run, workspace, wait):
            yield from _promote_under_slot(instance, run, workspace, build)
    except BaseException as exc:  # failed, or interrupted: the build waits for a promotion again
        # not over the failure: a storage that refuses this leaves the run to the next build,
        # which finds it failed (or its process gone) and promotes the build again
        with suppress(Exception):
            give_back(instance, build.run_id, run.run_id)
        if isinstance(exc, OSError):
            raise io_error(exc, done=PENDING_AGAIN.format(build.run_id)) from None
        raise
    finally:
        release_run(run.run_id)


def _promote_under_slot(
    instance: dg.DagsterInstance, run: dg.DagsterRun, workspace: Workspace, build: dg.DagsterRun
) -> Iterator[dg.AssetObservation]:
    latest = instance.get_run_by_id(build.run_id) or build
    taken = latest.tags.get(PROMOTION_TAG)
    if taken == ABANDONED:
        say(instance, run, f"nothing promoted: build run {build.run_id} was killed")
        return
    if taken == LEASE_LOST:  # the same rule as a pointer change under a lease taken over
        raise RegistryError.of(
            "BUILD_LEASE_LOST",
            holder=f"build run {build.run_id}",
            how="while it built (its run's log says why)",
        )
    if taken not in (None, PENDING, run.run_id) and not _failed(instance, taken):
        say(instance, run, f"nothing to do: dagster run {taken} promotes build {build.run_id}")
        return
    instance.add_run_tags(build.run_id, {PROMOTION_TAG: run.run_id})
    if latest.status not in ENDED:
        say(instance, run, f"nothing promoted: build run {build.run_id} is {latest.status.value}")
        return
    sync(workspace)  # on object storage: what other machines published, before moving
    outcomes = promote_all(instance, workspace, build.run_id)
    pointers = PointerStore(workspace).read()
    receipts = ReceiptStore(workspace)
    for outcome in outcomes:
        yield _observation(outcome, pointers, receipts, build.run_id)
    if not outcomes:
        say(instance, run, f"nothing promoted: build run {build.run_id} sealed nothing")
    fault = next((outcome for outcome in outcomes if outcome.code in FAULTS), None)
    if fault is not None:  # a fault, not a refusal: the run fails, the build is promoted again
        raise _failed_by(fault, outcomes, build.run_id)
    read = stashed_inputs(workspace, build.run_id)
    errors = any(outcome.is_error for outcome in outcomes)
    if read is None or errors or latest.status != dg.DagsterRunStatus.SUCCESS:
        return
    if _later(instance, recorded_run(workspace), build.run_id):  # promoted out of order
        say(instance, run, f"build {build.run_id} is not recorded: a later build is")
        return
    after = {rid: [run_id] for rid, run_id in active_snapshots(workspace).items()}
    skipped = {o.registry_id: o.reason for o in outcomes if o.outcome == Outcome.SKIPPED}
    try:
        record_build(workspace, read, after, build.run_id, skipped)
    except RegistryError as exc:  # the build stands; only the next one cannot be skipped
        say(instance, run, f"the build was not recorded ({exc.code}: {exc.message}); the "
            "next build will run in full")  # fmt: skip
        return
    # this build's read, and those of builds before it (never to be recorded now)
    older = [rid for rid in stashed_runs(workspace) if not _later(instance, rid, build.run_id)]
    try:
        drop_stashed(workspace, older)
    except RegistryError as exc:  # a link out of the workspace: nothing removed through it
        say(instance, run, f"kept reads not removed ({exc.code}: {exc.message} {exc.path})")


FAULTS = (IO_ERROR, "LOCKED")
"""Refusals that are faults, not decisions: the promotion run fails, its build pends again."""


def _failed_by(
    fault: PromotionOutcome, outcomes: Sequence[PromotionOutcome], build_run_id: str
) -> RegistryError:
    """The promotion's failure by `fault` (a write, the pointer lock): the file, why, what to do."""
    code = str(fault.code)
    reason = advised(fault.reason.removeprefix(f"{code}: "))
    alone = sum(outcome.code == code for outcome in outcomes) == 1 < len(outcomes)
    return RegistryError(
        (f"{fault.registry_id}: " if alone else "")  # the set's write names no one registry
        + f"{reason}; {PENDING_AGAIN.format(build_run_id)}",
        code=code,
        path=fault.path,
    )


def _later(instance: dg.DagsterInstance, recorded: str | None, build_run_id: str) -> bool:
    """Whether build run `recorded` came after `build_run_id` by storage id (never by a clock)."""
    if recorded is None or recorded == build_run_id:
        return False
    found = instance.get_run_records(dg.RunsFilter(run_ids=[recorded, build_run_id]))
    stored = {record.dagster_run.run_id: record.storage_id for record in found}
    return recorded in stored and stored[recorded] > stored.get(build_run_id, stored[recorded])


def _failed(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether promotion run `run_id` ended without promoting (or is not in the instance)."""
    found = instance.get_run_by_id(run_id)
    ended = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    return found is None or found.status in ended


def promote_all(
    instance: dg.DagsterInstance, workspace: Workspace, build_run_id: str
) -> list[PromotionOutcome]:
    """Each registry the build sealed, its outcome: those that passed moved in one journal entry."""
    events = run_events(instance, build_run_id, {*STEP_TROUBLE, CHECK_EVALUATION})
    sealed = materialized(instance, build_run_id)
    judged = {rid: judge(events, workspace, rid, run_id, record)
              for rid, (run_id, record) in sealed.items()}  # fmt: skip
    moves = [move for move in judged.values() if isinstance(move, Move)]
    # the set judged as it would stand: only what may move (its checks passed), less what would
    # break an active referrer that stays (a registry whose checks failed stays where it is)
    pinned = sealed_together(
        workspace, {m.registry_id: workspace.runs_dir / m.run_id for m in moves}
    )
    moved = {move.registry_id: outcome for move, outcome in
             zip(moves, _move(workspace, moves, build_run_id, pinned), strict=True)}  # fmt: skip
    return [moved.get(rid) or outcome for rid, outcome in judged.items()
            if isinstance(outcome, PromotionOutcome) or rid in moved]  # fmt: skip


def judge(
    events: Sequence[Any],
    workspace: Workspace,
    registry_id: str,
    run_id: str,
    record: dg.EventLogRecord,
) -> PromotionOutcome | Move:
    """The move snapshot `run_id` asks for if its blocking checks passed, else its outcome."""

    def outcome(kind: Outcome, reason: str, **extra: Any) -> PromotionOutcome:
        return PromotionOutcome(registry_id, run_id, kind, reason, **extra)

    try:
        spec = load_catalog(workspace).get(registry_id)
    except RegistryError as exc:
        return outcome(Outcome.REFUSED, exc.message, code=exc.code)
    if not spec.active_pointer:
        return outcome(Outcome.NO_POINTER, Outcome.NO_POINTER.value)
    checks = blocking_checks(events, record, check_names(spec))
    failing = sorted(name for name, check in checks.items() if not check["passed"])
    if failing:
        said = ", ".join(f"{name} {checks[name]['status']}" for name in failing)
        return outcome(Outcome.CHECKS_NOT_PASSED, render("CHECKS_NOT_PASSED", checks=said),
                       code="CHECKS_NOT_PASSED", checks=checks)  # fmt: skip
    return Move(registry_id, run_id, pointer_relpath(spec.kind, spec.artifacts), checks)


def _move(
    workspace: Workspace, moves: Sequence[Move], build_run_id: str, pinned: Mapping[str, Path]
) -> list[PromotionOutcome]:
    """`moves` through the pointer store at once; a refusal of the whole set refuses each."""
    if not moves:
        return []
    try:
        results = PointerStore(workspace).promote_set(
            moves,
            reason=f"blocking checks passed in Dagster run {build_run_id}",
            actor={"kind": "dagster_run", "id": build_run_id},
            admit=functools.partial(admission, pinned=pinned),
        )
    except (RegistryError, OSError) as exc:  # the lock, the pointer file, the journal, a write
        error = exc if isinstance(exc, RegistryError) else io_error(exc, done="nothing journaled")
        said, code, path = f"{error.code}: {error.message}", error.code, error.path
        return [PromotionOutcome(m.registry_id, m.run_id, Outcome.REFUSED, said, code=code,
                                 checks=dict(m.checks), path=path) for m in moves]  # fmt: skip
    return [_outcome_of(move, result) for move, result in zip(moves, results, strict=True)]


def _outcome_of(move: Move, result: MoveOutcome) -> PromotionOutcome:
    checks = dict(move.checks)
    if result.refusal is not None:
        code = result.refusal.code
        kind = Outcome.SKIPPED if code in ("NOT_NEWER", "HELD") else Outcome.REFUSED
        text = result.refusal.message if code == "HELD" else f"{code}: {result.refusal.message}"
        return PromotionOutcome(move.registry_id, move.run_id, kind, text, code=code,
                                checks=checks, path=result.refusal.path)  # fmt: skip
    record = result.change.record if result.change is not None else None
    if record is None:
        return PromotionOutcome(move.registry_id, move.run_id, Outcome.ALREADY_ACTIVE,
                                Outcome.ALREADY_ACTIVE.value, checks=checks)  # fmt: skip
    promoted = Outcome.PROMOTED
    return PromotionOutcome(move.registry_id, move.run_id, promoted, promoted.value,
                            checks=checks, journal_seq=record.seq)  # fmt: skip


def materialized(
    instance: dg.DagsterInstance, dagster_run_id: str
) -> dict[str, tuple[str, dg.EventLogRecord]]:
    """Registry id -> the snapshot the run materialized or reused, and its record, graph order."""
    found: dict[str, tuple[str, dg.EventLogRecord]] = {}
    kind = dg.DagsterEventType.ASSET_MATERIALIZATION
    for record in instance.get_records_for_run(dagster_run_id, of_type=kind).records:
        materialization = record.asset_materialization
        value = materialization.metadata.get("run_id") if materialization else None
        if materialization is not None and value is not None:
            found[materialization.asset_key.to_user_string()] = (str(value.value), record)
    return found


def blocking_checks(
    events: Sequence[Any], materialization: dg.EventLogRecord, names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Each blocking check's verdict on that materialization, for the journal (PLANNED: not run)."""
    dagster_run_id = materialization.run_id
    passed: dict[str, bool] = {}
    for event in (e for e in events if e.event_type == CHECK_EVALUATION):
        data = event.event_specific_data
        target = data.target_materialization_data
        # one materialization of the asset per run: its run names it (a SQLite instance numbers
        # a run's events in the run's own shard, its materializations also in the index)
        if data.asset_key == materialization.asset_key and (
            target is None or target.run_id == materialization.run_id
        ):
            passed[data.check_name] = bool(data.passed)
    return {
        name: {
            "passed": passed.get(name),
            "status": {True: "SUCCEEDED", False: "FAILED", None: "PLANNED"}[passed.get(name)],
            "source": CHECK_SOURCE,
            "dagster_run_id": dagster_run_id,
        }
        for name in names
    }


def _observation(
    outcome: PromotionOutcome, pointers: Any, receipts: ReceiptStore, build_run_id: str
) -> dg.AssetObservation:
    """What the asset's page shows after the promotion: its outcome and its active snapshot."""
    metadata: dict[str, Any] = {
        OUTCOME_KEY: dg.MetadataValue.json(outcome.as_json()),
        "build_run_id": build_run_id,
    }
    pointer = pointers.pointers.get(outcome.registry_id)
    ref = pointer.active_ref if pointer is not None else None
    if ref is not None:
        metadata.update({
            "active_run_id": ref.run_id,
            "active_root_sha256": ref.manifest_sha256,
            "promoted_at": pointer.active_asof_utc,
        })  # fmt: skip
        if ref.root:
            metadata["receipt"] = receipts.path_of(ref.root)
    return dg.AssetObservation(
        asset_key=dg.AssetKey(outcome.registry_id),
        description=f"{outcome.registry_id} {outcome.run_id}: {outcome.reason}",
        metadata=metadata,
    )


def outcomes_of(instance: dg.DagsterInstance, promotion_run_id: str) -> dict[str, dict[str, Any]]:
    """Registry id -> its outcome (as JSON) among promotion run `promotion_run_id`'s events."""
    found: dict[str, dict[str, Any]] = {}
    kind = dg.DagsterEventType.ASSET_OBSERVATION
    for record in instance.get_records_for_run(promotion_run_id, of_type=kind).records:
        observation = record.event_log_entry.asset_observation
        value = observation.metadata.get(OUTCOME_KEY) if observation is not None else None
        if value is not None and isinstance(value.value, Mapping):
            found[str(value.value["registry_id"])] = dict(value.value)
    return found
