"""Schedules: a daily full rebuild and a weekly full audit of every registry (UTC)."""

import dagster as dg

DAILY_REBUILD = "daily_full_rebuild"
WEEKLY_AUDIT = "weekly_full_audit"


def full_audit_config(root: str) -> dict[str, object]:
    """Run config that turns on `RegistryWorkspace.full_audit` (Dagster wants the whole resource
    config when run config overrides one field, so `root` comes along)."""
    return {"resources": {"registry_workspace": {"config": {"root": root, "full_audit": True}}}}


def build_schedules(
    job_name: str,
    root: str,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> list[dg.ScheduleDefinition]:
    """The daily rebuild (02:00 UTC) and the Sunday full audit (03:00 UTC) of `job_name` on the
    workspace at `root`."""
    return [
        dg.ScheduleDefinition(
            name=DAILY_REBUILD,
            job_name=job_name,
            cron_schedule="0 2 * * *",
            execution_timezone="UTC",
            default_status=default_status,
            description="Build, seal and check every registry; the promotion sensor publishes.",
        ),
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
