"""A build run as the UI runs it never moves a pointer; its promotion run (the sensor's) does."""

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
from registry_pipeline_tests._helpers import (
    BUILD_ENV,
    copy_built,
    copy_demo,
    environment_kept,
    promote_as_the_sensor,
)

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
    """A copy of the demo after one run of the build job as Dagster runs it; its id and success."""

    root: Path
    run_id: str
    success: bool


@pytest.fixture(scope="module")
def ui_built_once(tmp_path_factory: pytest.TempPathFactory) -> UiBuilt:
    """The demo after one `_build` here, once per test process (tests take a copy: `ui_built`)."""
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


def test_a_build_run_moves_no_pointer_and_the_sensors_promotion_run_does(
    ui_built: UiBuilt, ui_instance: dg.DagsterInstance
) -> None:
    """A UI build seals and checks; the sensor's one promotion run promotes it, once."""
    from registry_pipeline.lib.promotion import materialized, outcomes_of, pending_builds
    from registry_pipeline.lib.runs import PROMOTES_TAG, PROMOTION_TAG

    demo, instance = ui_built.root, ui_instance
    build = ui_built  # the run of the build job: the fixture's
    assert build.success
    store = PointerStore(Workspace(demo))
    assert store.read().pointers == {} and not store.journal_path.exists()
    assert [run.run_id for run in pending_builds(instance)] == [build.run_id]
    defs = build_definitions(demo)
    [promotion_id] = promote_as_the_sensor(defs, instance)
    promotion = instance.get_run_by_id(promotion_id)
    assert promotion is not None and promotion.status == dg.DagsterRunStatus.SUCCESS
    assert promotion.tags[PROMOTES_TAG] == build.run_id
    assert promotion.tags["dagster/run_key"] == f"promote:{build.run_id}"
    built = instance.get_run_by_id(build.run_id)
    assert built is not None and built.tags[PROMOTION_TAG] == promotion_id
    made = materialized(instance, build.run_id)
    assert set(made) == WITH_POINTER | {"registry_delta_log", "system_health_report"}
    pointers = store.read()
    assert {rid: pointers.active(rid).run_id for rid in WITH_POINTER} == {  # type: ignore[union-attr]
        rid: made[rid][0] for rid in WITH_POINTER
    }
    outcomes = outcomes_of(instance, promotion_id)
    assert {rid for rid, o in outcomes.items() if o["outcome"] == "promoted"} == WITH_POINTER
    assert outcomes["system_health_report"]["outcome"] == "no pointer by design"
    page = instance.fetch_observations(dg.AssetKey("op_status_table"), limit=1).records
    shown = page[0].asset_observation.metadata  # type: ignore[union-attr]
    assert shown["active_run_id"].value == made["op_status_table"][0]
    assert shown["build_run_id"].value == build.run_id
    assert {"active_root_sha256", "promoted_at", "receipt"} <= set(shown)
    assert promote_as_the_sensor(defs, instance) == []  # one promotion per build


def test_a_failed_build_promotes_the_same_from_the_cli_as_from_the_ui(
    demo: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """One rule for every door: the CLI's and the UI's failing build promote exactly what passed."""
    from registry_pipeline.lib.build import run_build

    (tmp_path / "ui").mkdir()
    ui = copy_demo(tmp_path / "ui")
    for root in (demo, ui):
        source = root / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
        source.write_text('{"version": "0.1"}\n')
    summary = run_build(demo, build_definitions(demo))
    assert not summary.success
    by_cli = {entry.registry_id for entry in summary.registries if entry.promoted}
    assert {"allowed_operations", "run_registry", "op_status_table"} <= by_cli
    assert not {"expected_versions", "drift_signals"} & by_cli
    with dg.DagsterInstance.from_config(str(dagster_home(ui))) as ui_instance:
        defs = build_definitions(ui)
        assert not _build(defs, ui_instance).success
        assert PointerStore(Workspace(ui)).read().pointers == {}
        promote_as_the_sensor(defs, ui_instance)
    assert set(PointerStore(Workspace(ui)).read().pointers) == by_cli
    assert set(PointerStore(Workspace(demo)).read().pointers) == by_cli


def test_a_run_left_in_progress_by_a_gone_process_is_marked_failed(
    ui_built: UiBuilt, ui_instance: dg.DagsterInstance
) -> None:
    """A run whose lock file is there and free was left by a gone process; any other run is not."""
    import socket

    from registry_pipeline.core.lock import FileLock, Owner
    from registry_pipeline.lib.runs import HOST_TAG, PID_TAG, clear_dead_runs, lock_path

    instance = ui_instance
    run = ui_built  # as the UI runs it (in this process): the build_run resource tags the run
    tags = instance.get_run_by_id(run.run_id).tags  # type: ignore[union-attr]
    assert tags[PID_TAG] == str(os.getpid()) and tags[HOST_TAG] == socket.gethostname()
    assert not lock_path(instance, run.run_id).exists()  # released as the run ended

    def started(host: str) -> dg.DagsterRun:
        tags = {HOST_TAG: host}
        run_id = str(uuid.uuid4())
        return dg.DagsterRun(job_name=BUILD_JOB, run_id=run_id, status=_STARTED, tags=tags)

    here = socket.gethostname()
    dead, alive, unlocked, elsewhere = (started(here), started(here), started(here),
                                        started("another-host"))  # fmt: skip
    for record in (dead, alive, unlocked, elsewhere):
        instance.add_run(record)
    for record in (dead, alive, elsewhere):
        lock_path(instance, record.run_id).parent.mkdir(parents=True, exist_ok=True)
        lock_path(instance, record.run_id).touch()  # left by a killed process
    holder = FileLock(lock_path(instance, alive.run_id))
    assert holder.try_take(Owner("a live run"))
    try:
        said = clear_dead_runs(instance)
    finally:
        holder.release()
    assert len(said) == 1 and dead.run_id in said[0] and "FAILURE" in said[0]
    status = {r.run_id: instance.get_run_by_id(r.run_id).status  # type: ignore[union-attr]
              for r in (dead, alive, unlocked, elsewhere)}  # fmt: skip
    assert status == {dead.run_id: dg.DagsterRunStatus.FAILURE, alive.run_id: _STARTED,
                      unlocked.run_id: _STARTED, elsewhere.run_id: _STARTED}  # fmt: skip


def test_a_run_launched_by_dagster_keeps_the_verdict_cache(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    """A UI run opens the verdict cache itself: run_registry reuses unchanged folders' verdicts."""
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


def test_builds_promoted_out_of_order_record_the_later_one(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    """Two builds promoted out of order: the earlier moves nothing newer, records nothing over."""
    from registry_pipeline.core.freshness import recorded_run, stashed_runs, up_to_date
    from registry_pipeline.lib.build import promote_here

    defs = build_definitions(demo)
    first, second = (_build(defs, instance) for _ in range(2))
    assert first.success and second.success
    assert set(stashed_runs(Workspace(demo))) == {first.run_id, second.run_id}
    promote_here(instance, defs, second.run_id, wait=0)
    assert recorded_run(Workspace(demo)) == second.run_id
    assert stashed_runs(Workspace(demo)) == []  # the earlier build's read: never recorded now
    promote_here(instance, defs, first.run_id, wait=0)
    assert recorded_run(Workspace(demo)) == second.run_id
    assert up_to_date(Workspace(demo)).up_to_date


def test_a_failed_promotion_says_why_and_its_build_is_promoted_by_a_later_attempt(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    """A promotion that finds the slot held fails BUILD_IN_PROGRESS and is requested again later."""
    from registry_pipeline.lib.build import promote_here
    from registry_pipeline.lib.failures import run_events, step_problems
    from registry_pipeline.lib.promotion import pending_builds
    from registry_pipeline.lib.runs import PROMOTION_TAG
    from registry_pipeline_tests._helpers import slot_holder

    defs = build_definitions(demo)
    build = _build(defs, instance)
    assert build.success
    holder = slot_holder(demo, "another build")
    try:
        failed = promote_here(instance, defs, build.run_id, wait=0)
    finally:
        holder.communicate(input="\n", timeout=60)
    run = instance.get_run_by_id(failed)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    said = step_problems(run_events(instance, failed, dg.DagsterEventType.STEP_FAILURE))
    assert [problem["code"] for problem in said] == ["BUILD_IN_PROGRESS"]
    assert PointerStore(Workspace(demo)).read().pointers == {}
    assert instance.get_run_by_id(build.run_id).tags[PROMOTION_TAG] == "pending"  # type: ignore[union-attr]
    assert [r.run_id for r in pending_builds(instance)] == [build.run_id]
    [again] = promote_as_the_sensor(defs, instance)
    retried = instance.get_run_by_id(again)
    assert retried is not None and retried.status == dg.DagsterRunStatus.SUCCESS
    assert retried.tags["dagster/run_key"] == f"promote:{build.run_id}:2"
    assert set(PointerStore(Workspace(demo)).read().pointers) == WITH_POINTER


def test_a_promotion_a_daemon_is_about_to_start_is_not_requested_again(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    """A queued or starting promotion is not requested again at the sensor's next tick."""
    from registry_pipeline.lib.promotion import PROMOTION_JOB, pending_builds
    from registry_pipeline.lib.runs import PROMOTES_TAG

    defs = build_definitions(demo)
    build = _build(defs, instance)
    assert [r.run_id for r in pending_builds(instance)] == [build.run_id]
    instance.add_run(
        dg.DagsterRun(job_name=PROMOTION_JOB, run_id=str(uuid.uuid4()),
                      status=dg.DagsterRunStatus.NOT_STARTED,
                      tags={PROMOTES_TAG: build.run_id})
    )  # fmt: skip
    assert pending_builds(instance) == []
    assert promote_as_the_sensor(defs, instance) == []
