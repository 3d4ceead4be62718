"""Schedules: a daily rebuild when something changed and a weekly full audit (UTC)."""

import json
from pathlib import Path

import dagster as dg

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness import build_inputs, up_to_date
from registry_pipeline.core.workspace.layout import Workspace

DAILY_REBUILD = "daily_full_rebuild"
BUILD_INPUTS_TAG = "registry_pipeline/build_inputs"
"""What a scheduled build read before it ran (`core.freshness.build_inputs`, JSON): recorded
as the workspace's fixed point when the run succeeds (`defs.build_record`)."""
WEEKLY_AUDIT = "weekly_full_audit"


def full_audit_config(root: str) -> dict[str, object]:
    """Run config that turns on `full_audit` in `RegistryWorkspace` (the builders) and in
    `BuildLock` (the verdict cache it opens) (Dagster wants the whole resource config when run
    config overrides one field, so `root` comes along)."""
    config = {"root": root, "full_audit": True}
    resources = ("registry_workspace", "build_lock")
    return {"resources": {name: {"config": config} for name in resources}}


def build_schedules(
    job_name: str,
    root: str,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> list[dg.ScheduleDefinition]:
    """The daily rebuild (02:00 UTC, skipped when the workspace is up to date: the decision of
    `registry build`) and the Sunday full audit (03:00 UTC) of `job_name` on the workspace at
    `root`."""

    @dg.schedule(
        name=DAILY_REBUILD,
        job_name=job_name,
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        default_status=default_status,
        description="Build, seal and check every registry when something changed since the "
        "last successful build; the promotion sensor publishes.",
    )
    def _daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        workspace = Workspace(Path(root))
        freshness = up_to_date(workspace)
        if freshness.up_to_date:
            return dg.SkipReason(freshness.summary())
        try:
            read = json.dumps(build_inputs(workspace), sort_keys=True)
        except RegistryError:  # the run reports an unreadable catalog as its own failure
            return dg.RunRequest()
        return dg.RunRequest(tags={BUILD_INPUTS_TAG: read})

    return [
        _daily,
        dg.ScheduleDefinition(
            name=WEEKLY_AUDIT,
            job_name=job_name,
            cron_schedule="0 3 * * 0",
            execution_timezone="UTC",
            run_config=full_audit_config(root),
            default_status=default_status,
            description="Full rebuild that re-hashes every run folder (full_audit=True).",
        ),
    ]
