"""`drift_signals_daily`: drift_signals by day, from what the pointer journal says was active.

Partition D is sealed like any materialization (run folder `<time>__drift_signals_daily_build`)
and checked by the same blocking checks. It is its own asset because a daily-partitioned asset
cannot share the unpartitioned build job; `drift_signals` stays the signal of the latest build.
"""

from datetime import date
from typing import Any

import dagster as dg

from registry_pipeline.core.builders.drift_days import (
    DAILY_REGISTRY_ID,
    DAY_INPUTS,
    build_drift_for_day,
)
from registry_pipeline.defs.assets import IO_MANAGER_KEY, content_version
from registry_pipeline.lib.io_manager import RegistryOutput
from registry_pipeline.lib.resources import RegistryWorkspace

DRIFT_DAILY_START = "2026-01-01"
"""The first day that can be backfilled."""
DRIFT_DAILY_JOB = "drift_signals_daily_job"
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
    description="Drift signals of day D, from the snapshots active at the end of D according "
    "to the pointer journal (unknown where no history exists).",
    metadata={"registry_kind": "built", "active_pointer": False},
)
def drift_signals_daily(
    context: dg.AssetExecutionContext, registry_workspace: RegistryWorkspace
) -> dg.Output[RegistryOutput]:
    """Day `context.partition_key`'s drift documents, sealed."""
    day = date.fromisoformat(context.partition_key)
    drift = build_drift_for_day(registry_workspace.workspace, day)
    output = RegistryOutput(
        registry_id=DAILY_REGISTRY_ID,
        operation_id=None,
        files=drift.result.files,
        inputs=tuple(snapshot.ref() for snapshot in drift.inputs.values()),
        input_rules={registry_id: ACTIVE_AT_END_OF_DAY for registry_id in drift.inputs},
        record_count=drift.result.record_count,
    )
    metadata: dict[str, Any] = {
        "day": context.partition_key,
        "missing_history": list(drift.missing),
        **{f"signals_{key}": value for key, value in drift.result.summary.items()},
    }
    return dg.Output(
        output, data_version=dg.DataVersion(content_version(drift.result.files)), metadata=metadata
    )


drift_signals_daily_job = dg.define_asset_job(
    DRIFT_DAILY_JOB,
    selection=dg.AssetSelection.assets(drift_signals_daily),
    description="Compute and seal drift_signals_daily for one day (backfills run it per day).",
)

drift_signals_daily_schedule = dg.build_schedule_from_partitioned_job(
    drift_signals_daily_job,
    name=DRIFT_DAILY_SCHEDULE,
    hour_of_day=0,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
"""Each day at 00:30 UTC, the day that just ended."""
