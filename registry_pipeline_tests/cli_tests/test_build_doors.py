"""Every door to a build does the same build (`lib.build_run`) and the same promotion
(`lib.promotion`): `registry build` (and its `--in-process` of earlier releases), a run of the job
as the UI's Launch button requests it, the daily schedule's run request and the change sensor's,
each then promoted by the promotion sensor's run. The same case for each: a built workspace, one
source changed. Each door seals only what the change reaches, reuses every other source, moves
no pointer in its build run, and leaves the workspace "up to date" once promoted.

Then the real doors of a served workspace (`dagster dev`, driven over GraphQL), on each medium
its instance and shared state may be kept in (`MEDIA`: SQLite and local files, PostgreSQL, a
bucket): the UI's Launch button and `registry build` at once, in both orders, both complete, one
after the other, the second waiting (the UI's run shown queued, the command saying whom it waits
for), each promoted once; a build launched from the UI seals only what changed and is followed by
"up to date"; the promotion sensor promotes a UI build after its end (bench_launch.py times
it), and never again a build the command promoted itself."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from registry_pipeline.core.freshness import up_to_date
from registry_pipeline.core.objstore import ObjectStore, parse_store_url
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.remote import RUNS_PREFIX, STORE_ENV
from registry_pipeline.definitions import build_definitions
from registry_pipeline.defs.schedules import CHANGE_SENSOR, DAILY_REBUILD
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.build_run import BUILD_JOB
from registry_pipeline.lib.instance import (
    POSTGRES_INSTANCE_CONFIG,
    POSTGRES_URL_ENV,
    open_instance,
)
from registry_pipeline.lib.promotion import materialized
from registry_pipeline_tests._helpers import DEMO_GRAPH, Run, copy_built, promote_as_the_sensor
from registry_pipeline_tests._webserver import (
    HOLD,
    Served,
    assert_a_ui_build_seals_only_what_changed,
    assert_one_after_the_other,
    assert_the_sensor_promotes_a_ui_build,
    dagster_dev,
    environment,
    folders,
    interrupt,
    promotions,
    race,
    sensor_ticks_after,
    serve,
)
from registry_pipeline_tests.s3_tests._server import bucket_name

CHANGED = "expected_versions"
SOURCES = ("expected_versions", "migration_ledger", "threshold_packs_file", "allowed_operations")
WITH_POINTER = set(DEMO_GRAPH) - {"registry_delta_log", "system_health_report"}


def _change(root: Path) -> None:
    source = root / "registries" / CHANGED / "EXPECTED_VERSIONS_v0_1.json"
    text = source.read_text()
    changed = text.replace('"op_status_table": "0.1.0"', '"op_status_table": "0.1.1"')
    assert changed != text
    source.write_text(changed)


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
    before = folders(built)
    _change(built)
    run_id = DOORS[door](cli, built)
    sealed = {registry_of(name) for name in folders(built) - before}
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


@pytest.mark.parametrize("door", list(DOORS))
def test_with_nothing_changed_no_door_seals_or_promotes(cli: Run, built: Path, door: str) -> None:
    """Issue 61: nothing changed since the last build, so no door seals a folder or moves a
    pointer. `registry build` and the schedule and sensor ticks ask `up_to_date` and skip; a run
    of the job anyway (the UI's Launch button, `--force` aside) asks it at its start (one
    function) and reuses every snapshot, and its promotion writes no journal entry."""
    code, _out, err = cli("build", "--workspace", str(built))  # the copy's first: recorded
    assert code == 0, err
    code, out, err = cli("build", "--workspace", str(built))
    assert code == 0 and out.startswith("up to date"), out + err
    before, journal = folders(built), _journal(built)
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
    assert folders(built) == before
    assert _journal(built) == journal
    code, out, err = cli("build", "--workspace", str(built))
    assert code == 0 and out.startswith("up to date"), out + err


MEDIA = ["local", "postgresql", "bucket"]


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A copy of the demo workspace after one green build, served by `dagster dev`, on the medium
    `request.param`: local (a copy of `built_demo_once`, not built again), its instance in a
    PostgreSQL database of its own, or its shared state in a bucket of its own (REGISTRY_STORE)."""
    medium = request.param
    parent = tmp_path_factory.mktemp(f"doors_{medium}")
    if medium == "local":
        yield from serve(parent, built=request.getfixturevalue("built_demo_once"))
    elif medium == "postgresql":
        server, template = (request.getfixturevalue(name) for name in ("pg_server", "pg_template"))
        url = server.create_database(f"doors_{uuid.uuid4().hex[:12]}", template=template)
        yield from serve(parent, {POSTGRES_URL_ENV: url})
    else:
        s3 = request.getfixturevalue("shared_s3_server")
        bucket = bucket_name("doors-ui")
        ObjectStore.open(parse_store_url(f"s3://{bucket}"), s3.env()).put("made-by-test", b"")
        yield from serve(parent, {**s3.env(), STORE_ENV: f"s3://{bucket}/ws"})


@pytest.mark.parametrize("served", MEDIA, indirect=True)
@pytest.mark.parametrize("ui_first", [True, False], ids=["ui-first", "cli-first"])
def test_a_ui_launch_and_a_cli_build_at_once_run_one_after_the_other(
    served: Served, ui_first: bool
) -> None:
    """(The command's default build: no `--in-process`.)"""
    if POSTGRES_URL_ENV in served.env:  # the instance is the database's, not a SQLite file
        home = served.workspace / ".codex" / "dagster_home"
        assert (home / "dagster.yaml").read_text() == POSTGRES_INSTANCE_CONFIG
    assert_one_after_the_other(served, race(served, ui_first=ui_first))


@pytest.mark.parametrize("served", MEDIA, indirect=True)
def test_a_ui_build_seals_only_what_changed_and_then_it_is_up_to_date(served: Served) -> None:
    sealed = assert_a_ui_build_seals_only_what_changed(served)
    if STORE_ENV in served.env:  # each folder sealed is published to the bucket
        store = ObjectStore.open(parse_store_url(served.env[STORE_ENV]), served.env)
        for name in sealed:
            assert store.get(f"{RUNS_PREFIX}/{name}.json") is not None, name


@pytest.mark.parametrize("served", ["local", "bucket"], indirect=True)
def test_the_sensor_promotes_a_ui_build(served: Served) -> None:
    assert_the_sensor_promotes_a_ui_build(served)


@pytest.mark.parametrize("served", ["local"], indirect=True)
def test_a_build_the_command_promoted_is_never_promoted_again_by_the_daemon(
    served: Served,
) -> None:
    """`registry build` runs its build's promotion itself, with the sensor's run key: the live
    daemon's sensor, ticking after the command ended, requests no second one; nor for the build
    the command made before `dagster dev` (and its daemon) started."""
    command = served.registry("build", "--force", "--json")
    out, err = command.communicate(timeout=300)
    assert command.returncode == 0, out + err
    document = json.loads(out)
    build, promotion = document["dagster_run_id"], document["promotion_run_id"]
    ended = time.time()
    sensor_ticks_after(served, ended)
    [mine] = promotions(served)[build]  # the command's own, none of the sensor's
    assert mine["runId"] == promotion
    assert "dagster/sensor_name" not in {tag["key"] for tag in mine["tags"]}
    [before] = promotions(served)[served.build["dagster_run_id"]]  # built before the daemon
    assert before["runId"] == served.build["promotion_run_id"]


def test_after_dagster_dev_is_stopped_a_build_waits_for_no_one(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Issue 61: Ctrl-C of `dagster dev` once its daemon has heartbeated (Dagster calls such a
    daemon healthy for a while after), then `registry build --force` at once: the command
    executes its runs itself, so it waits for nobody and says nothing of waiting."""
    root = copy_built(built_demo_once[0], tmp_path)
    env = {k: v for k, v in environment(root, {}).items() if k != HOLD}
    with dagster_dev(root, env, tmp_path) as base_url:
        served = Served(base_url, root, built_demo_once[1], env)
        sensor_ticks_after(served, 0, count=1)  # the daemon runs: it has ticked the sensor
        interrupt(base_url)
    command = served.registry("build", "--force", "--json")
    out, err = command.communicate(timeout=300)
    assert command.returncode == 0, out + err
    assert json.loads(out)["success"] is True
    assert "waiting" not in err, err
