"""The promotion sensor and job on a real Dagster instance over a copy of the demo workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, StepMaterializationData

from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import BUILD_JOB, build_definitions
from registry_pipeline.defs.promotion import PROMOTE_JOB, PROMOTION_SENSOR
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.instance import dagster_home
from registry_pipeline_tests._helpers import break_built_schema, copy_demo

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


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo workspace (catalog, sources, schemas) with no runs yet."""
    return copy_demo(tmp_path)


@pytest.fixture
def instance(demo: Path) -> Iterator[dg.DagsterInstance]:
    """The workspace's persistent instance (sensor contexts need a persistent one)."""
    with dg.DagsterInstance.from_config(str(dagster_home(demo))) as instance:
        yield instance


def _build(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The build job alone: it materializes and checks, it never promotes."""
    job = defs.resolve_job_def(BUILD_JOB)
    return job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET_LOGS)


def _tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[list[dg.RunRequest], str | None]:
    sensor = defs.resolve_sensor_def(PROMOTION_SENSOR)
    context = dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
    result = sensor.evaluate_tick(context)
    return list(result.run_requests or []), result.cursor


def _promote(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(PROMOTE_JOB)
    return job.execute_in_process(
        instance=instance, run_config=request.run_config, raise_on_error=False
    )


def test_requests_once_per_snapshot_with_passed_checks(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions(demo)
    build = _build(defs, instance)
    assert build.success
    requests, cursor = _tick(defs, instance, None)
    keys = {request.run_key for request in requests}
    assert {key.split(":")[0] for key in keys} == WITH_POINTER  # not system_health_report
    assert len(keys) == len(requests) == len(WITH_POINTER)
    for request in requests:
        registry_id, run_id = str(request.run_key).split(":")
        config = request.run_config["ops"]["promote_active_pointer"]["config"]
        assert config == {
            "registry_id": registry_id,
            "run_id": run_id,
            "materialization_run_id": build.run_id,
        }
    assert cursor is not None
    again, same = _tick(defs, instance, cursor)
    assert again == [] and same == cursor


def test_a_failed_build_promotes_nothing_in_the_sensor_as_in_the_cli(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    """One rule for both paths: the same failing build, judged by the CLI and by the sensor."""
    from registry_pipeline.lib.build import run_build

    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text('{"version": "0.1"}\n')
    summary = run_build(demo, build_definitions)  # the CLI's path: it promotes nothing
    assert not summary.success
    assert not any(entry.promoted for entry in summary.registries)
    passed = {e.registry_id for e in summary.registries if e.checks and all(e.checks.values())}
    assert {"allowed_operations", "run_registry", "op_status_table"} <= passed
    defs = build_definitions(demo)
    requests, cursor = _tick(defs, instance, None)  # the sensor, on the same run
    assert requests == []
    assert _tick(defs, instance, cursor) == ([], cursor)  # passed over for good
    assert PointerStore(Workspace(demo)).read().pointers == {}


def test_a_new_sensor_on_a_long_history_requests_nothing_already_done(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    from registry_pipeline.lib.build import run_build

    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    template = source.read_text().replace('"op_status_table": "0.1.0"', '"op_status_table": "V"')
    for version in ("0.1.1", "0.1.2", "0.1.3"):  # three promoted builds: ~20 materializations
        source.write_text(template.replace('"V"', f'"{version}"'))
        assert run_build(demo, build_definitions).success
    materializations = instance.fetch_materializations(dg.AssetKey("run_registry"), limit=100)
    assert len(materializations.records) == 3
    defs = build_definitions(demo)
    sensor = defs.resolve_sensor_def(PROMOTION_SENSOR)
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert list(result.run_requests or []) == []
    assert result.skip_message is not None and "ALREADY_ACTIVE" in result.skip_message


def test_the_job_promotes_once(demo: Path, instance: dg.DagsterInstance) -> None:
    defs = build_definitions(demo)
    assert _build(defs, instance).success
    requests, _ = _tick(defs, instance, None)
    request = next(r for r in requests if str(r.run_key).startswith("allowed_operations:"))
    run_id = str(request.run_key).split(":")[1]
    store = PointerStore(Workspace(demo))
    first = _promote(defs, instance, request)
    assert first.success
    active = store.read().active("allowed_operations")
    assert active is not None and active.run_id == run_id
    records = list(read_records(store.journal_path))
    assert len(records) == 1
    record = records[0]
    assert record.actor == {"kind": "dagster_run", "id": first.run_id}
    checked_in = request.run_config["ops"]["promote_active_pointer"]["config"]
    for name in ("seal_valid", "schema_valid"):
        assert record.checks[name]["passed"] is True
        assert record.checks[name]["dagster_run_id"] == checked_in["materialization_run_id"]
    pointers = store.pointers_path.read_bytes()
    second = _promote(defs, instance, request)
    assert second.success
    assert store.pointers_path.read_bytes() == pointers
    assert len(list(read_records(store.journal_path))) == 1
    observed = second.asset_observations_for_node("promote_active_pointer")
    assert observed[-1].metadata["promotion"].value == "already active"


def test_the_job_refuses_a_materialization_whose_checks_failed(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    break_built_schema(demo)
    defs = build_definitions(demo)
    build = _build(defs, instance)
    event = instance.get_latest_materialization_event(dg.AssetKey("drift_signals"))
    assert event is not None and event.asset_materialization is not None
    run_id = str(event.asset_materialization.metadata["run_id"].value)
    config = {"registry_id": "drift_signals", "run_id": run_id}
    config["materialization_run_id"] = build.run_id
    request = dg.RunRequest(run_config={"ops": {"promote_active_pointer": {"config": config}}})
    result = _promote(defs, instance, request)
    assert not result.success
    assert PointerStore(Workspace(demo)).read().active("drift_signals") is None


def test_a_materialization_not_checked_yet_holds_the_cursor(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions(demo)
    assert _build(defs, instance).success
    _, cursor = _tick(defs, instance, None)
    event = instance.get_latest_materialization_event(dg.AssetKey("migration_ledger"))
    assert event is not None and event.asset_materialization is not None
    run = dg.DagsterRun(job_name=BUILD_JOB, run_id=str(uuid.uuid4()), status=_STARTED)
    instance.add_run(run)
    materialization = dg.AssetMaterialization(
        asset_key="migration_ledger", metadata=dict(event.asset_materialization.metadata)
    )
    instance.report_dagster_event(
        DagsterEvent(
            event_type_value="ASSET_MATERIALIZATION",
            job_name=BUILD_JOB,
            event_specific_data=StepMaterializationData(materialization),
        ),
        run.run_id,
    )
    assert _tick(defs, instance, cursor) == ([], cursor)  # its run is still going: wait
    instance.report_run_failed(run)  # the run ended without checking it: passed over
    after, moved = _tick(defs, instance, cursor)
    assert after == [] and moved is not None and int(moved) > int(str(cursor))


_STARTED = dg.DagsterRunStatus.STARTED


def test_after_an_outage_only_each_registrys_newest_snapshot_is_requested(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions(demo)
    assert _build(defs, instance).success
    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text(source.read_text().replace('"0.1.0"', '"0.1.1"', 1))
    second = _build(defs, instance)
    assert second.success
    requests, _ = _tick(defs, instance, "0")  # a cursor from before both builds
    by_registry: dict[str, list[str]] = {}
    for request in requests:
        registry_id, run_id = str(request.run_key).split(":")
        by_registry.setdefault(registry_id, []).append(run_id)
    assert all(len(run_ids) == 1 for run_ids in by_registry.values()), by_registry
    newest = instance.get_latest_materialization_event(dg.AssetKey("expected_versions"))
    assert newest is not None and newest.asset_materialization is not None
    assert by_registry["expected_versions"] == [
        str(newest.asset_materialization.metadata["run_id"].value)
    ]


def test_a_build_run_left_started_by_a_dead_process_is_marked_failed(
    demo: Path, instance: dg.DagsterInstance
) -> None:
    import os
    import socket

    from registry_pipeline.lib.build import mark_dead_builds_failed
    from registry_pipeline.lib.resources import HOST_TAG, PID_TAG

    defs = build_definitions(demo)
    run = _build(defs, instance)  # as the UI runs it: the build_lock resource tags the run
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
