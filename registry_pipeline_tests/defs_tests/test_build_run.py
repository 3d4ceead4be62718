"""A run of the build job as Dagster runs it (the UI, a schedule, a sensor) on a real instance
over a copy of the demo workspace: it promotes within itself, as `registry build` does."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import pytest

from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import BUILD_JOB, build_definitions
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.instance import POSTGRES_URL_ENV, dagster_home
from registry_pipeline_tests._helpers import BUILD_ENV, copy_built, copy_demo, environment_kept

REPO = Path(__file__).resolve().parents[2]
WITH_POINTER = {
    "rolepack",
    "run_index",
    "run_overrides",
    "run_registry",
    "op_status_table",
    "drift_signals",
    "expected_versions",
    "migration_ledger",
    "threshold_packs_file",
    "allowed_operations",
}

_STARTED = dg.DagsterRunStatus.STARTED


@pytest.fixture
def instance(demo: Path) -> Iterator[dg.DagsterInstance]:
    """The workspace's persistent instance (sensor contexts need a persistent one)."""
    with dg.DagsterInstance.from_config(str(dagster_home(demo))) as instance:
        yield instance


def _build(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The build job as Dagster runs it (the UI, a schedule, a sensor)."""
    job = defs.resolve_job_def(BUILD_JOB)
    return job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET_LOGS)


class UiBuilt(NamedTuple):
    """A copy of the demo workspace after one run of the build job as Dagster runs it (on its
    persistent instance), and that run's id and success."""

    root: Path
    run_id: str
    success: bool


@pytest.fixture(scope="module")
def ui_built_once(tmp_path_factory: pytest.TempPathFactory) -> UiBuilt:
    """The demo workspace after one `_build` in this process (the test process: its tags name
    this pid), once per test process: tests never change it, they take a copy (`ui_built`).
    The environment is the built demo's (the root conftest's `built_demo_once`)."""
    with environment_kept(*BUILD_ENV, POSTGRES_URL_ENV):
        demo = copy_demo(tmp_path_factory.mktemp("ui_built"))
        with dg.DagsterInstance.from_config(str(dagster_home(demo))) as instance:
            build = _build(build_definitions(demo), instance)
    return UiBuilt(demo, build.run_id, build.success)


@pytest.fixture
def ui_built(ui_built_once: UiBuilt, tmp_path: Path) -> UiBuilt:
    """A private copy of `ui_built_once` (`tmp_path/demo`)."""
    return ui_built_once._replace(root=copy_built(ui_built_once.root, tmp_path))


@pytest.fixture
def ui_instance(ui_built: UiBuilt) -> Iterator[dg.DagsterInstance]:
    """The persistent instance of `ui_built`'s copy."""
    with dg.DagsterInstance.from_config(str(dagster_home(ui_built.root))) as instance:
        yield instance


def test_a_build_run_promotes_within_itself_and_says_so_in_its_log(
    ui_built: UiBuilt, ui_instance: dg.DagsterInstance
) -> None:
    """As the UI, a schedule or a sensor runs it: each snapshot with a pointer is promoted at
    the run's end, before the run ends (no sensor, no second job), each outcome an engine event
    of the run; a registry without a pointer is told so."""
    from registry_pipeline.lib.build_run import materialized, promotions

    demo, instance = ui_built.root, ui_instance
    build = ui_built  # the run of the build job: the fixture's
    assert build.success
    made = materialized(instance, build.run_id)
    assert set(made) == WITH_POINTER | {"registry_delta_log", "system_health_report"}
    pointers = PointerStore(Workspace(demo)).read()
    assert {rid: pointers.active(rid).run_id for rid in WITH_POINTER} == {  # type: ignore[union-attr]
        rid: made[rid][0] for rid in WITH_POINTER
    }
    records = instance.all_logs(build.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    outcomes = promotions([r.dagster_event for r in records if r.dagster_event is not None])
    assert {rid for rid, o in outcomes.items() if o["outcome"] == "promoted"} == WITH_POINTER
    assert outcomes["system_health_report"]["outcome"] == "no pointer by design"


def test_a_failed_build_promotes_nothing_from_the_cli_as_from_the_ui(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    """One rule for every door: the same failing build, run by `registry build` and as the UI
    runs it, promotes nothing, not even the registries whose checks passed."""
    from registry_pipeline.lib.build import run_build

    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text('{"version": "0.1"}\n')
    summary = run_build(demo, in_process=True)
    assert not summary.success
    assert not any(entry.promoted for entry in summary.registries)
    passed = {e.registry_id for e in summary.registries if e.checks and all(e.checks.values())}
    assert {"allowed_operations", "run_registry", "op_status_table"} <= passed
    build = _build(build_definitions(demo), instance)
    assert not build.success
    assert PointerStore(Workspace(demo)).read().pointers == {}
    records = instance.all_logs(build.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    said = [r.dagster_event.message or "" for r in records if r.dagster_event is not None]
    assert any(message.startswith("nothing promoted: ") for message in said), said


def test_a_build_run_left_started_by_a_dead_process_is_marked_failed(
    ui_built: UiBuilt, ui_instance: dg.DagsterInstance
) -> None:
    import socket

    from registry_pipeline.lib.build_run import HOST_TAG, PID_TAG, mark_dead_builds_failed

    instance = ui_instance
    run = ui_built  # as the UI runs it (in this process): the build_run resource tags the run
    tags = instance.get_run_by_id(run.run_id).tags  # type: ignore[union-attr]
    assert tags[PID_TAG] == str(os.getpid()) and tags[HOST_TAG] == socket.gethostname()
    here, gone = socket.gethostname(), str(2**22 + 777)

    def started(pid: str, host: str) -> dg.DagsterRun:
        tags = {PID_TAG: pid, HOST_TAG: host}
        run_id = str(uuid.uuid4())
        return dg.DagsterRun(job_name=BUILD_JOB, run_id=run_id, status=_STARTED, tags=tags)

    dead, alive = started(gone, here), started(str(os.getpid()), here)
    elsewhere = started(gone, "another-host")
    for record in (dead, alive, elsewhere):
        instance.add_run(record)
    assert mark_dead_builds_failed(instance) == [dead.run_id]
    status = {r: instance.get_run_by_id(r).status for r in (dead.run_id, alive.run_id)}  # type: ignore[union-attr]
    assert status == {dead.run_id: dg.DagsterRunStatus.FAILURE, alive.run_id: _STARTED}


def test_a_run_launched_by_dagster_keeps_the_verdict_cache(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    """A UI or scheduled run opens the verdict cache itself (only `registry build` did), so its
    run_registry reuses the verdicts of unchanged folders instead of re-hashing them all."""
    import json

    defs = build_definitions(demo)
    assert _build(defs, instance).success
    second = _build(defs, instance)
    assert second.success
    event = instance.get_latest_materialization_event(dg.AssetKey("run_registry"))
    assert event is not None and event.asset_materialization is not None
    folder = Path(str(event.asset_materialization.metadata["path"].value))
    rows = [json.loads(line) for line in
            (folder / "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl").read_text().splitlines()]  # fmt: skip
    assert {row["verification"] for row in rows} >= {"reused"}
    assert (demo / ".codex" / "cache" / "verdicts.json").is_file()
