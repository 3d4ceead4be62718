"""Daily rebuild, weekly full audit and change sensor, each asking `registry build`'s question."""

import json
from pathlib import Path

import dagster as dg

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness import current_inputs, up_to_date
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build_run import BUILD_JOB, resources_config

DAILY_REBUILD = "daily_full_rebuild"
WEEKLY_AUDIT = "weekly_full_audit"
CHANGE_SENSOR = "build_when_inputs_change"


def build_schedules(root: str) -> list[dg.ScheduleDefinition]:
    """The daily rebuild (02:00 UTC, skipped when up to date) and Sunday full audit (03:00 UTC)."""

    @dg.schedule(
        name=DAILY_REBUILD,
        job_name=BUILD_JOB,
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Build, seal, check and promote every registry when something changed "
        "since the last successful build.",
    )
    def _daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        freshness = up_to_date(Workspace(Path(root)))
        if freshness.up_to_date:
            return dg.SkipReason(freshness.summary())
        return dg.RunRequest()

    return [
        _daily,
        dg.ScheduleDefinition(
            name=WEEKLY_AUDIT,
            job_name=BUILD_JOB,
            cron_schedule="0 3 * * 0",
            execution_timezone="UTC",
            run_config=resources_config(root, full_audit=True),
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Full rebuild that re-hashes every run folder (full_audit=True).",
        ),
    ]


def change_sensor(root: Path) -> dg.SensorDefinition:
    """Request a build when not up to date, once per set of inputs (the run key is their digest)."""

    @dg.sensor(
        name=CHANGE_SENSOR,
        job_name=BUILD_JOB,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Build every registry when a source, the catalog, a schema, the tool, a "
        "run folder or an active snapshot changed since the last successful build.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        workspace = Workspace(root)
        freshness = up_to_date(workspace)
        if freshness.up_to_date:
            return dg.SkipReason(freshness.summary())
        try:
            read = json.dumps(current_inputs(workspace, load_catalog(workspace)), sort_keys=True)
        except RegistryError as exc:
            return dg.SkipReason(f"{exc.code}: {exc.message}")
        return dg.RunRequest(run_key=sha256_bytes(read.encode()))

    return _sensor
