"""The promotion sensor, the daily schedule and a backfill on a PostgreSQL instance: the same
definitions, the same outcomes as on SQLite."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pytest

from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import BUILD_JOB, build_definitions
from registry_pipeline.defs.drift_daily import DRIFT_DAILY_JOB, DRIFT_DAILY_SCHEDULE
from registry_pipeline.defs.promotion import PROMOTE_JOB, PROMOTION_SENSOR
from registry_pipeline.defs.schedules import DAILY_REBUILD
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.build_slot import slot_holders
from registry_pipeline.lib.instance import open_instance

Run = Callable[..., tuple[int, str, str]]
Env = Callable[[str], dict[str, str]]
DAILY = dg.AssetKey("drift_signals_daily")
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def _tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[list[dg.RunRequest], str | None]:
    sensor = defs.resolve_sensor_def(PROMOTION_SENSOR)
    context = dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
    result = sensor.evaluate_tick(context)
    return list(result.run_requests or []), result.cursor


def test_the_promotion_sensor_promotes_what_a_build_run_checked(
    demo: Path, pg_url: str, pg_env: Env
) -> None:
    """The build job run as Dagster launches it (it takes the instance's build slot), the
    sensor's tick, and the promotion job's runs, all on PostgreSQL."""
    pg_env(pg_url)
    defs = build_definitions(demo)
    with open_instance(demo) as instance:
        build = defs.resolve_job_def(BUILD_JOB).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET_LOGS
        )
        assert build.success
        assert slot_holders(instance) == []  # the run's slot, freed at its end
        requests, cursor = _tick(defs, instance, None)
        wanted = {str(request.run_key).split(":")[0] for request in requests}
        assert "op_status_table" in wanted and "system_health_report" not in wanted
        promote = defs.resolve_job_def(PROMOTE_JOB)
        for request in requests:
            run = promote.execute_in_process(
                instance=instance, run_config=request.run_config, raise_on_error=False
            )
            assert run.success
        assert _tick(defs, instance, cursor) == ([], cursor)  # nothing twice
        promotions = instance.get_runs(dg.RunsFilter(job_name=PROMOTE_JOB))
    pointers = PointerStore(Workspace(demo)).read()
    assert set(pointers.pointers) == wanted and len(promotions) == len(requests)
    for request in requests:
        registry_id, run_id = str(request.run_key).split(":")
        active = pointers.active(registry_id)
        assert active is not None and active.run_id == run_id


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
        tags = {"registry_pipeline/backfill": f"{first}..{last}"}
        backfilled = instance.get_runs(dg.RunsFilter(tags=tags))
        rebuild = defs.resolve_schedule_def(DAILY_REBUILD).evaluate_tick(context)
    assert done == {str(date.fromordinal(first.toordinal() + n)) for n in range(4)}
    assert len(backfilled) == 3
    assert [r.job_name for r in rebuild.run_requests or []] in ([None], [BUILD_JOB])
