"""The asset graph is a contract: registry assets, their checks and the job are pinned here."""

from __future__ import annotations

import dagster as dg

from registry_pipeline.definitions import BUILD_JOB, DEMO_WORKSPACE, build_definitions
from registry_pipeline_tests._helpers import DEMO_GRAPH

REGISTRIES = DEMO_GRAPH


def test_demo_graph_is_pinned() -> None:
    defs = build_definitions(DEMO_WORKSPACE)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(REGISTRIES)
    for registry_id, upstream in REGISTRIES.items():
        parents = graph.get(dg.AssetKey(registry_id)).parent_keys
        assert sorted(key.to_user_string() for key in parents) == upstream


def test_every_registry_has_two_blocking_checks() -> None:
    defs = build_definitions(DEMO_WORKSPACE)
    graph = defs.resolve_asset_graph()
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert checks == {(r, name) for r in REGISTRIES for name in ("seal_valid", "schema_valid")}
    for key in graph.asset_check_keys:
        assert graph.get_check_spec(key).blocking


def test_jobs_and_groups() -> None:
    defs = build_definitions(DEMO_WORKSPACE)
    assert defs.resolve_job_def(BUILD_JOB).name == BUILD_JOB
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups["expected_versions"] == "sources"
    assert groups["run_registry"] == "registries"


def test_definitions_module_loads_the_demo_workspace() -> None:
    from registry_pipeline import definitions

    assert isinstance(definitions.defs, dg.Definitions)
