"""Write-audit-publish in Dagster: a sensor requests a promotion for each snapshot that a
promotable build run materialized (`lib.promotion.run_verdict`, the rule `registry build` uses)
and that would move a pointer; the `promote_active_pointers` job performs it through
`lib.promotion` (the pointer store's lock serializes promotions)."""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.failures import step_failure
from registry_pipeline.lib.promotion import promote_materialization, run_verdict
from registry_pipeline.lib.resources import RegistryWorkspace

PROMOTE_JOB = "promote_active_pointers"
PROMOTE_OP = "promote_active_pointer"
PROMOTION_SENSOR = "promote_checked_materializations"
_PAGE = 100


class PromotionConfig(dg.Config):
    """Which snapshot to promote, and the Dagster run whose checks vouch for it."""

    registry_id: str
    run_id: str
    """The snapshot (run folder name) to make active."""
    materialization_run_id: str
    """The Dagster run that materialized the snapshot and ran its blocking checks."""


LOCK_RETRIES = 3
"""Retries of a promotion that found the pointer lock busy (after its own 10 s wait)."""


@dg.op(name=PROMOTE_OP, description="Promote one checked snapshot to its registry's pointer.")
def promote_active_pointer(
    context: dg.OpExecutionContext, config: PromotionConfig, registry_workspace: RegistryWorkspace
) -> None:
    outcome = promote_materialization(
        context.instance,
        Path(registry_workspace.root),
        config.registry_id,
        config.run_id,
        config.materialization_run_id,
        {"kind": "dagster_run", "id": context.run_id},
    )
    context.log.info(f"{config.registry_id} {config.run_id}: {outcome.reason}")
    context.log_event(
        dg.AssetObservation(
            asset_key=config.registry_id,
            metadata={
                "promotion": outcome.outcome.value,
                "promoted_run_id": config.run_id,
                "detail": dg.MetadataValue.json(outcome.as_json()),
            },
        )
    )
    if outcome.code == "LOCKED" and context.retry_number < LOCK_RETRIES:
        # the sensor's run key for (registry, run_id) is used once: retry a busy lock in this run
        raise dg.RetryRequested(max_retries=LOCK_RETRIES, seconds_to_wait=5)
    if outcome.is_error:
        raise step_failure(str(outcome.code), config.registry_id, outcome.reason)


@dg.job(name=PROMOTE_JOB, description="Validate and promote a snapshot whose checks passed.")
def promote_active_pointers() -> None:
    promote_active_pointer()


def promotion_request(registry_id: str, run_id: str, materialization_run_id: str) -> dg.RunRequest:
    """The job's run for one snapshot; its run key makes a repeated request a no-op."""
    config = {
        "registry_id": registry_id,
        "run_id": run_id,
        "materialization_run_id": materialization_run_id,
    }
    return dg.RunRequest(
        run_key=f"{registry_id}:{run_id}",
        run_config={"ops": {PROMOTE_OP: {"config": config}}},
        tags={"registry_id": registry_id, "registry_run_id": run_id},
    )


def promotion_sensor(
    registry_ids: Sequence[str],
    root: Path,
    *,
    name: str = PROMOTION_SENSOR,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """A sensor over the materializations of `registry_ids` (the pointer-enabled registries).

    It decides in its tick: a run is requested only for a snapshot whose build run is promotable
    (`run_verdict`: a failed build promotes nothing) and that would move a pointer
    (`PointerStore.promotion_blocker`); every other case is a skip reason, never a run. The
    cursor is the last event storage id handled; without one (a new sensor, a fresh `dagster
    dev`) only each registry's newest materialization is looked at, not the whole history. A
    materialization whose run is still going holds the cursor back. A broken journal
    (CHAIN_BROKEN, ...) or a pointer file the journal does not explain (POINTER_MISMATCH) stops
    the tick with that reason and the command that repairs it.
    """

    @dg.sensor(
        name=name,
        job_name=PROMOTE_JOB,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Request a pointer promotion for each snapshot of a successful build that "
        "would move its pointer.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        store = PointerStore(Workspace(root))
        try:
            store.require_intact("sensor tick")  # no request onto a broken history
            store.explained(registry_ids)
        except RegistryError as exc:
            return dg.SensorResult(skip_reason=f"{exc.code}: {exc.message}", cursor=context.cursor)
        if context.cursor:
            records = _new_materializations(context.instance, registry_ids, int(context.cursor))
            cursor = int(context.cursor)
        else:  # a new sensor: only what could still move a pointer, not the whole history
            records = _newest_materializations(context.instance, registry_ids)
            cursor = max((record.storage_id for record in records), default=0)
        newest: dict[str, dg.RunRequest] = {}
        skipped: list[str] = []
        waiting: list[int] = []
        for record in records:  # in event order: a later snapshot replaces an earlier request
            verdict = run_verdict(context.instance, record.run_id)
            if not verdict.finished:
                waiting.append(record.storage_id)
                continue
            registry_id, run_id = _registry_id(record), _snapshot_run_id(record)
            if run_id is None:
                continue
            if not verdict.promotable:
                skipped.append(f"{registry_id} {run_id}: {verdict.reason}")
                continue
            blocker = store.promotion_blocker(registry_id, run_id)
            if blocker is not None:
                skipped.append(f"{registry_id} {run_id}: {blocker.code}")
                continue
            newest[registry_id] = promotion_request(registry_id, run_id, record.run_id)
        if records and not waiting:
            cursor = max(cursor, records[-1].storage_id)
        elif waiting:  # look again from the first materialization whose run is still going
            handled = [r.storage_id for r in records if r.storage_id < min(waiting)]
            cursor = max([cursor if context.cursor else min(waiting) - 1, *handled])
        requests = list(newest.values())
        skip = None if requests else ("; ".join(skipped) or "no new materializations")
        return dg.SensorResult(run_requests=requests, skip_reason=skip, cursor=str(cursor))

    return _sensor


def _newest_materializations(
    instance: dg.DagsterInstance, registry_ids: Sequence[str]
) -> list[dg.EventLogRecord]:
    """Each registry's newest materialization, in event order (a sensor without a cursor)."""
    records: list[dg.EventLogRecord] = []
    for registry_id in registry_ids:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(registry_id)), limit=1, ascending=False
        )
        records.extend(r for r in result.records if r.asset_materialization is not None)
    return sorted(records, key=lambda record: record.storage_id)


def _new_materializations(
    instance: dg.DagsterInstance, registry_ids: Sequence[str], after: int
) -> list[dg.EventLogRecord]:
    """Materializations after storage id `after`, in event order, up to a horizon that every
    registry's page reached (so the cursor never skips an unfetched event)."""
    records: list[dg.EventLogRecord] = []
    horizon: int | None = None
    for registry_id in registry_ids:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(registry_id), after_storage_id=after),
            limit=_PAGE,
            ascending=True,
        )
        page = [r for r in result.records if r.asset_materialization is not None]
        records.extend(page)
        if result.has_more and result.records:
            last = result.records[-1].storage_id
            horizon = last if horizon is None else min(horizon, last)
    ordered = sorted(records, key=lambda record: record.storage_id)
    return [r for r in ordered if horizon is None or r.storage_id <= horizon]


def _registry_id(record: dg.EventLogRecord) -> str:
    return record.asset_key.to_user_string() if record.asset_key else ""


def _snapshot_run_id(record: dg.EventLogRecord) -> str | None:
    """The run folder the materialization wrote or reused (the IO manager's `run_id`)."""
    materialization = record.asset_materialization
    value = materialization.metadata.get("run_id") if materialization else None
    return str(value.value) if value is not None else None
