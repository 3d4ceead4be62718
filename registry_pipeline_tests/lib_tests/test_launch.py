"""Runs and backfills submitted through the workspace's code location and the instance's run
coordinator, as the UI submits them: a real code server, a real run worker, the run on the
job's page; a real backfill in the Backfills tab, driven to its end without a daemon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG

from registry_pipeline.defs.drift_daily import DRIFT_DAILY_JOB
from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.launcher import (
    code_location,
    create_job_backfill,
    drive_backfill,
    wait_for_run,
)
from registry_pipeline_tests._helpers import submit


def _days(count: int) -> list[str]:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return [str(yesterday - timedelta(days=n)) for n in reversed(range(count))]


def test_a_submitted_run_is_a_run_of_the_job_in_the_instance(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)
    (day,) = _days(1)
    with open_instance(built) as instance, code_location(instance, built) as context:
        run = submit(context, DRIFT_DAILY_JOB, tags={"dagster/partition": day, "who": "test"})
        finished = wait_for_run(context, run.run_id, timeout=300)
        assert finished.status == dg.DagsterRunStatus.SUCCESS
        runs = instance.get_runs(dg.RunsFilter(job_name=DRIFT_DAILY_JOB))
        assert [r.run_id for r in runs] == [run.run_id]
        assert finished.tags["who"] == "test"
        assert day in instance.get_materialized_partitions(dg.AssetKey("drift_signals_daily"))


def test_a_backfill_is_listed_and_driven_to_its_end_without_a_daemon(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)
    days = _days(2)
    with open_instance(built) as instance, code_location(instance, built) as context:
        backfill_id = create_job_backfill(context, DRIFT_DAILY_JOB, days, title="two days")
        assert [b.backfill_id for b in instance.get_backfills()] == [backfill_id]
        done = drive_backfill(context, backfill_id, timeout=600)
        assert done.status == BulkActionStatus.COMPLETED_SUCCESS
        runs = instance.get_runs(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
        assert sorted(r.tags["dagster/partition"] for r in runs) == days
        assert {r.job_name for r in runs} == {DRIFT_DAILY_JOB}  # on the job's own page
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
