"""Promotion sensor, daily schedule and backfill on PostgreSQL: the same outcomes as on SQLite."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pytest

from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import build_definitions
from registry_pipeline.defs.drift_daily import DRIFT_DAILY_JOB, DRIFT_DAILY_SCHEDULE
from registry_pipeline.defs.schedules import DAILY_REBUILD
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.build_run import BUILD_JOB
from registry_pipeline.lib.drift_backfill import BACKFILL_TAG, RANGE_TAG
from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.postgres import LOCK_KEY, SLOT_TABLE
from registry_pipeline.lib.promotion import materialized
from registry_pipeline_tests._helpers import Run, promote_as_the_sensor
from registry_pipeline_tests.pg_tests._server import Database

Env = Callable[[str], dict[str, str]]
DAILY = dg.AssetKey("drift_signals_daily")
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def test_a_build_run_is_promoted_by_the_sensors_run_on_postgresql(
    demo: Path, pg_database: Database, pg_url: str, pg_env: Env
) -> None:
    """A launched build run takes the slot, moves no pointer; the sensor's run then promotes."""
    pg_env(pg_url)
    defs = build_definitions(demo)
    with open_instance(demo) as instance:
        build = defs.resolve_job_def(BUILD_JOB).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET_LOGS
        )
        assert build.success
        assert PointerStore(Workspace(demo)).read().pointers == {}
        made = materialized(instance, build.run_id)
        [promotion] = promote_as_the_sensor(defs, instance)
        assert instance.get_run_by_id(promotion).status == dg.DagsterRunStatus.SUCCESS  # type: ignore[union-attr]
    catalog = load_catalog(Workspace(demo))
    wanted = {spec.registry_id for spec in catalog.registries if spec.active_pointer}
    assert wanted and wanted <= set(made)
    assert "op_status_table" in wanted and "system_health_report" not in wanted
    pointers = PointerStore(Workspace(demo)).read()
    assert set(pointers.pointers) == wanted
    for registry_id in wanted:
        active = pointers.active(registry_id)
        assert active is not None and active.run_id == made[registry_id][0], registry_id
    assert pg_database.lock_free(LOCK_KEY)  # the runs' slot, freed at their ends
    assert pg_database.rows(SLOT_TABLE) == []


# Dagster's build_schedule_from_partitioned_job calls its own deprecated run_request_for_partition
@pytest.mark.filterwarnings("ignore:Function `JobDefinition.run_request_for_partition`")
def test_a_backfill_then_the_daily_schedule(cli: Run, demo: Path, pg_url: str, pg_env: Env) -> None:
    pg_env(pg_url)  # no build first: days without history are sealed with every signal unknown
    first, last = YESTERDAY - timedelta(days=3), YESTERDAY - timedelta(days=1)
    code, out, err = cli("drift", "backfill", "--from", str(first), "--to", str(last),
                         "--workspace", str(demo), "--json")  # fmt: skip
    assert code == 0, err
    assert [day["day"] for day in json.loads(out)["days"]] == [
        str(first + timedelta(days=n)) for n in range(3)
    ]
    defs = build_definitions(demo)
    with open_instance(demo) as instance:
        tick_time = datetime.combine(YESTERDAY + timedelta(days=1), time(0, 30), tzinfo=UTC)
        context = dg.build_schedule_context(instance, scheduled_execution_time=tick_time)
        daily = defs.resolve_schedule_def(DRIFT_DAILY_SCHEDULE).evaluate_tick(context)
        [request] = list(daily.run_requests or [])
        assert request.partition_key == str(YESTERDAY)  # the day that just ended
        run = defs.resolve_job_def(DRIFT_DAILY_JOB).execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
        assert run.success
        done = instance.get_materialized_partitions(DAILY)
        backfilled = instance.get_runs(dg.RunsFilter(tags={RANGE_TAG: f"{first}..{last}"}))
        rebuild = defs.resolve_schedule_def(DAILY_REBUILD).evaluate_tick(context)
    assert done == {str(date.fromordinal(first.toordinal() + n)) for n in range(4)}
    assert len(backfilled) == 3  # a run a day, one backfill's: one id on all three
    assert len({r.tags[BACKFILL_TAG] for r in backfilled}) == 1
    assert [r.job_name for r in rebuild.run_requests or []] in ([None], [BUILD_JOB])
