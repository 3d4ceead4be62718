"""The asset graph is a contract: its assets, checks, jobs, sensors and schedules pinned here."""

from __future__ import annotations

import dagster as dg

from registry_pipeline.definitions import BUILD_JOB, DEMO_WORKSPACE, build_definitions
from registry_pipeline_tests._helpers import DEMO_GRAPH

REGISTRIES = DEMO_GRAPH
DAILY = {"drift_signals_daily": ["expected_versions", "op_status_table", "run_registry",
                                 "threshold_packs_file"]}  # fmt: skip
ASSETS = {**REGISTRIES, **DAILY}


def test_demo_graph_is_pinned() -> None:
    defs = build_definitions(DEMO_WORKSPACE)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(ASSETS)
    for registry_id, upstream in ASSETS.items():
        parents = graph.get(dg.AssetKey(registry_id)).parent_keys
        assert sorted(key.to_user_string() for key in parents) == upstream


SOURCE_IDS = ("expected_versions", "migration_ledger", "threshold_packs_file", "allowed_operations",
              "rolepack")  # fmt: skip


def test_every_registry_has_two_blocking_checks() -> None:
    """Seal and schema checks on every asset; append_only, coordination, rules where they apply."""
    defs = build_definitions(DEMO_WORKSPACE)
    graph = defs.resolve_asset_graph()
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert checks == {(r, name) for r in ASSETS for name in ("seal_valid", "schema_valid")} | {
        ("registry_delta_log", "append_only"),
        ("rolepack", "append_only"),
        ("allowed_operations", "append_only"),
    } | {(r, "coordination") for r in SOURCE_IDS} | {
        (r, name) for r in ("run_index", "run_overrides") for name in ("append_only", "rules")
    }
    for key in graph.asset_check_keys:
        assert graph.get_check_spec(key).blocking


def test_jobs_and_groups() -> None:
    defs = build_definitions(DEMO_WORKSPACE)
    jobs = {job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert jobs == {BUILD_JOB, "promote_registries", "drift_signals_daily_job"}
    promotion = defs.resolve_job_def("promote_registries")  # one op, no asset of its own
    assert [node.name for node in promotion.graph.nodes] == ["promote_build"]
    assert not promotion.asset_layer.asset_graph.executable_asset_keys
    build = defs.resolve_job_def(BUILD_JOB).asset_layer.asset_graph.executable_asset_keys
    assert {key.to_user_string() for key in build} == set(REGISTRIES)  # not the daily one
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups["expected_versions"] == "sources"
    assert groups["run_registry"] == "registries"
    assert groups["drift_signals_daily"] == "drift_history"
    daily = graph.get(dg.AssetKey("drift_signals_daily")).partitions_def
    assert isinstance(daily, dg.DailyPartitionsDefinition)
    assert daily.get_first_partition_key() == "2026-01-01"


def test_definitions_module_loads_the_demo_workspace_when_dagster_asks() -> None:
    from registry_pipeline import definitions

    loaded = definitions.defs()  # what workspace.yaml and dg call; importing builds nothing
    assert isinstance(loaded, dg.Definitions)
    assert dg.AssetKey("run_registry") in loaded.resolve_asset_graph().get_all_asset_keys()


def test_a_sensor_builds_when_inputs_change_and_one_promotes_each_build() -> None:
    """The build job never moves a pointer; the promotion sensor requests the promotion job."""
    defs = build_definitions(DEMO_WORKSPACE)
    sensors = {sensor.name: sensor for sensor in defs.sensors or []}
    assert set(sensors) == {"build_when_inputs_change", "promote_after_build"}
    assert sensors["build_when_inputs_change"].job_name == BUILD_JOB
    assert sensors["promote_after_build"].job_name == "promote_registries"
    assert sensors["promote_after_build"].default_status == dg.DefaultSensorStatus.RUNNING
    assert sensors["promote_after_build"].minimum_interval_seconds <= 5


def test_schedules_rebuild_daily_and_audit_weekly() -> None:
    defs = build_definitions(DEMO_WORKSPACE)
    schedules = {
        schedule.name: (schedule.job_name, schedule.cron_schedule, schedule.execution_timezone)
        for schedule in defs.get_repository_def().schedule_defs
    }
    assert schedules == {
        "daily_full_rebuild": (BUILD_JOB, "0 2 * * *", "UTC"),
        "weekly_full_audit": (BUILD_JOB, "0 3 * * 0", "UTC"),
        "drift_signals_daily_schedule": ("drift_signals_daily_job", "30 0 * * *", "UTC"),
    }
    audit = defs.resolve_schedule_def("weekly_full_audit")
    context = dg.build_schedule_context(scheduled_execution_time=None)
    request = audit.evaluate_tick(context).run_requests[0]
    config = request.run_config["resources"]["registry_workspace"]["config"]
    assert config == {"root": str(DEMO_WORKSPACE), "full_audit": True}
    build = request.run_config["resources"]["build_run"]["config"]  # it trusts no stored
    assert build == {"root": str(DEMO_WORKSPACE), "full_audit": True}  # verdict, reuses nothing
    job = defs.resolve_job_def(BUILD_JOB)
    assert dg.validate_run_config(job, request.run_config)
