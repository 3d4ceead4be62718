"""`drift_signals_daily`: drift signals by day, from the pointer journal (docs/ASSET_GRAPH.md)."""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from registry_pipeline._version import __version__
from registry_pipeline.core.builders.drift_days import (
    DAILY_CHECKS,
    DAILY_REGISTRY_ID,
    DAY_INPUTS,
    build_drift_for_day,
    sealed_day,
)
from registry_pipeline.defs.assets import (
    IO_MANAGER_KEY,
    check_specs,
    content_version,
    sealed_checks,
)
from registry_pipeline.lib.build_run import RegistryWorkspace
from registry_pipeline.lib.drift_backfill import DRIFT_DAILY_JOB as DRIFT_DAILY_JOB
from registry_pipeline.lib.failures import as_step_failure
from registry_pipeline.lib.io_manager import RegistryOutput

DRIFT_DAILY_START = "2026-01-01"
"""The first day that can be backfilled."""
DRIFT_DAILY_SCHEDULE = "drift_signals_daily_schedule"
ACTIVE_AT_END_OF_DAY = "active_at_end_of_day"
"""The input rule of every partition: the snapshot the journal had active when D ended."""

daily_partitions = dg.DailyPartitionsDefinition(start_date=DRIFT_DAILY_START, timezone="UTC")


@dg.asset(
    name=DAILY_REGISTRY_ID,
    partitions_def=daily_partitions,
    deps=[dg.AssetKey(registry_id) for registry_id in DAY_INPUTS],
    group_name="drift_history",
    io_manager_key=IO_MANAGER_KEY,
    kinds={"json"},
    code_version=__version__,
    check_specs=check_specs(dg.AssetKey(DAILY_REGISTRY_ID), DAILY_CHECKS),
    # the schedule computes yesterday at 00:30 UTC: by 02:00 a partition must have been
    # materialized within the last day, or the UI (and Dagster's freshness alerts) say stale
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="0 2 * * *", lower_bound_delta=timedelta(days=1), timezone="UTC"
    ),
    description="Drift signals of day D, from the snapshots active at the end of D according "
    "to the pointer journal (unknown where no history exists).",
    metadata={"registry_kind": "built", "active_pointer": False},
)
def drift_signals_daily(
    context: dg.AssetExecutionContext, registry_workspace: RegistryWorkspace
) -> Iterator[dg.MaterializeResult[RegistryOutput] | dg.AssetCheckResult]:
    """Day `context.partition_key`'s drift documents, sealed."""
    day = date.fromisoformat(context.partition_key)
    workspace = registry_workspace.workspace
    with as_step_failure():  # a journal it cannot read: JOURNAL_CORRUPT, not a bug
        drift = build_drift_for_day(workspace, day)
        inputs = tuple(snapshot.ref() for snapshot in drift.inputs.values())
        reuse = sealed_day(workspace, drift)  # the rule a backfill's shortcut applies first
    if reuse is not None:
        context.log.info(f"{context.partition_key}: inputs unchanged, reusing {reuse.run_id}")
    output = RegistryOutput(
        registry_id=DAILY_REGISTRY_ID,
        operation_id=None,
        files=None if reuse else drift.result.files,
        reuse=reuse,
        inputs=inputs,
        input_rules={registry_id: ACTIVE_AT_END_OF_DAY for registry_id in drift.inputs},
        record_count=drift.result.record_count,
    )
    yield dg.MaterializeResult(
        value=output,
        data_version=dg.DataVersion(content_version(drift.result.files)),
        metadata={
            "day": context.partition_key,
            "missing_history": list(drift.missing),
            **{f"signals_{key}": value for key, value in drift.counts().items()},
        },
    )
    yield from sealed_checks(context, DAILY_CHECKS, registry_workspace)


drift_signals_daily_job = dg.define_asset_job(
    DRIFT_DAILY_JOB,
    selection=dg.AssetSelection.assets(drift_signals_daily),
    description="Compute and seal drift_signals_daily for one day (backfills run it per day).",
    # the run's events go to the instance (the UI shows them); a run the UI or the schedule
    # launches says only warnings on its worker's console (`registry drift backfill` runs each
    # day in its own process with the console quieter still, and prints its own summary)
    config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
)

drift_signals_daily_schedule = dg.build_schedule_from_partitioned_job(
    drift_signals_daily_job,
    name=DRIFT_DAILY_SCHEDULE,
    hour_of_day=0,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
"""Each day at 00:30 UTC, the day that just ended."""
