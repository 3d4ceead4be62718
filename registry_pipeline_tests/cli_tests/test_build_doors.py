"""Every door to a build does the same build (`lib.build_run`) and the same promotion
(`lib.promotion`): `registry build` (and its `--in-process` of earlier releases), a run of the job
as the UI's Launch button requests it, the daily schedule's run request and the change sensor's,
each then promoted by the promotion sensor's run. The same case for each: a built workspace, one
source changed. Each door seals only what the change reaches, reuses every other source, moves
no pointer in its build run, and leaves the workspace "up to date" once promoted. (The real
webserver's Launch button and daemon, driven over GraphQL: test_build_doors_ui.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from registry_pipeline.core.freshness import up_to_date
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import build_definitions
from registry_pipeline.defs.schedules import CHANGE_SENSOR, DAILY_REBUILD
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.build_run import BUILD_JOB
from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.promotion import materialized
from registry_pipeline_tests._helpers import DEMO_GRAPH, promote_as_the_sensor
from registry_pipeline_tests.cli_tests.conftest import Run

CHANGED = "expected_versions"
SOURCES = ("expected_versions", "migration_ledger", "threshold_packs_file", "allowed_operations")
WITH_POINTER = set(DEMO_GRAPH) - {"registry_delta_log", "system_health_report"}


def _change(root: Path) -> None:
    source = root / "registries" / CHANGED / "EXPECTED_VERSIONS_v0_1.json"
    text = source.read_text()
    changed = text.replace('"op_status_table": "0.1.0"', '"op_status_table": "0.1.1"')
    assert changed != text
    source.write_text(changed)


def _folders(root: Path) -> set[str]:
    return {p.name for p in (root / ".codex" / "RUNS").iterdir() if not p.name.startswith(".")}


def _cli(*extra: str) -> Callable[[Run, Path], str]:
    def door(cli: Run, root: Path) -> str:
        code, out, err = cli("build", "--workspace", str(root), "--json", *extra)
        assert code == 0, out + err
        return str(json.loads(out)["dagster_run_id"])

    return door


def _submitted(
    request: Callable[[dg.Definitions, dg.DagsterInstance], dg.RunRequest],
) -> Callable[[Run, Path], str]:
    """A run of the build job with the run request's tags and config (nothing of `registry
    build`), executed as Dagster's run worker executes it, then the promotion sensor's tick and
    the run it requests, as a live daemon does."""

    def door(_cli: Run, root: Path) -> str:
        defs = build_definitions(root)
        before = PointerStore(Workspace(root)).read()
        with open_instance(root) as instance:
            wanted = request(defs, instance)
            config = {**QUIET_LOGS, **(wanted.run_config or {})}
            run = defs.resolve_job_def(BUILD_JOB).execute_in_process(
                run_config=config, instance=instance, tags=dict(wanted.tags), raise_on_error=False
            )
            assert run.success
            assert PointerStore(Workspace(root)).read() == before  # the build moved nothing
            [_promotion] = promote_as_the_sensor(defs, instance)
        return run.run_id

    return door


def _launch_button(_defs: dg.Definitions, _instance: dg.DagsterInstance) -> dg.RunRequest:
    return dg.RunRequest()  # the Launchpad's default: no tags, no config


def _schedule(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.RunRequest:
    tick = defs.resolve_schedule_def(DAILY_REBUILD).evaluate_tick(
        dg.build_schedule_context(instance)
    )
    [request] = tick.run_requests or []
    return request


def _sensor(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.RunRequest:
    sensed = defs.resolve_sensor_def(CHANGE_SENSOR)(dg.build_sensor_context(instance=instance))
    assert isinstance(sensed, dg.RunRequest)
    return sensed


DOORS = {
    "registry build": _cli(),
    "registry build --in-process": _cli("--in-process"),
    "the UI's Launch button": _submitted(_launch_button),
    "the daily schedule": _submitted(_schedule),
    "the change sensor": _submitted(_sensor),
}


@pytest.mark.parametrize("door", list(DOORS))
def test_every_door_does_the_same_build(cli: Run, built: Path, door: str) -> None:
    before = _folders(built)
    _change(built)
    run_id = DOORS[door](cli, built)
    sealed = {registry_of(name) for name in _folders(built) - before}
    assert CHANGED in sealed  # what changed is sealed again ...
    assert sealed.isdisjoint(set(SOURCES) - {CHANGED})  # ... and no unchanged source
    with open_instance(built) as instance:
        made = materialized(instance, run_id)
    assert set(made) == set(DEMO_GRAPH)  # every registry reported (the reused ones too)
    pointers = PointerStore(Workspace(built)).read()
    for registry_id in WITH_POINTER:  # promoted by the build's promotion run
        active = pointers.active(registry_id)
        assert active is not None and active.run_id == made[registry_id][0], registry_id
    freshness = up_to_date(Workspace(built))
    assert freshness.up_to_date, freshness.changed
    code, out, _ = cli("build", "--workspace", str(built))
    assert code == 0 and out.startswith("up to date")


def _journal(root: Path) -> bytes:
    path = PointerStore(Workspace(root)).journal_path
    return path.read_bytes() if path.exists() else b""


@pytest.mark.parametrize("door", ["registry build", *DOORS])
def test_with_nothing_changed_no_door_seals_or_promotes(cli: Run, built: Path, door: str) -> None:
    """Issue 61: nothing changed since the last build, so no door seals a folder or moves a
    pointer. `registry build` and the schedule and sensor ticks ask `up_to_date` and skip; a run
    of the job anyway (the UI's Launch button, `--force` aside) asks it at its start (one
    function) and reuses every snapshot, and its promotion writes no journal entry."""
    code, _out, err = cli("build", "--workspace", str(built))  # the copy's first: recorded
    assert code == 0, err
    code, out, err = cli("build", "--workspace", str(built))
    assert code == 0 and out.startswith("up to date"), out + err
    before, journal = _folders(built), _journal(built)
    defs = build_definitions(built)
    with open_instance(built) as instance:
        if door in ("the daily schedule", "the change sensor"):
            schedule = defs.resolve_schedule_def(DAILY_REBUILD)
            tick = schedule.evaluate_tick(dg.build_schedule_context(instance))
            sensed = defs.resolve_sensor_def(CHANGE_SENSOR)(
                dg.build_sensor_context(instance=instance)
            )
            assert not tick.run_requests and isinstance(sensed, dg.SkipReason)
        elif door != "registry build":  # a run of the job all the same, then its promotion
            run = defs.resolve_job_def(BUILD_JOB).execute_in_process(
                run_config=QUIET_LOGS, instance=instance, raise_on_error=False
            )
            assert run.success
            reused = {
                event.asset_key.to_user_string()
                for event in run.get_asset_materialization_events()
                if event.step_materialization_data.materialization.metadata["reused_snapshot"].value
            }
            assert reused == set(DEMO_GRAPH)
            [_promotion] = promote_as_the_sensor(defs, instance)
    assert _folders(built) == before
    assert _journal(built) == journal
    code, out, err = cli("build", "--workspace", str(built))
    assert code == 0 and out.startswith("up to date"), out + err
