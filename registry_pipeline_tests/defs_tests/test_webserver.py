"""The real `dagster-webserver` serves the built demo's graph and history (a server a process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import DEMO_GRAPH
from registry_pipeline_tests._webserver import Served, graphql

REGISTRIES = DEMO_GRAPH
CHECKS = {"seal_valid", "schema_valid"}


ASSET_NODES = """
{ assetNodes {
    assetKey { path }
    groupName
    dependencyKeys { path }
    assetChecksOrError { __typename ... on AssetChecks { checks {
        name blocking executionForLatestMaterialization { status runId } } } }
    assetMaterializations(limit: 1) {
        runId
        metadataEntries {
            __typename label
            ... on TextMetadataEntry { text }
            ... on PathMetadataEntry { path }
            ... on IntMetadataEntry { intValue }
            ... on MarkdownMetadataEntry { mdStr }
            ... on JsonMetadataEntry { jsonString }
        }
    }
} }
"""


@pytest.fixture(scope="module")
def nodes(served_demo: Served) -> dict[str, dict[str, Any]]:
    """The asset nodes the server serves, by asset key."""
    data = graphql(served_demo.base_url, ASSET_NODES)
    return {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}


def _metadata(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [latest] = node["assetMaterializations"]
    return {entry["label"]: entry for entry in latest["metadataEntries"]}


def test_server_serves_the_registry_graph(nodes: dict[str, dict[str, Any]]) -> None:
    """Its edges are the definitions' (`test_definitions.test_demo_graph_is_pinned`)."""
    assert set(nodes) == {*REGISTRIES, "drift_signals_daily"}
    assert nodes["expected_versions"]["groupName"] == "sources"
    assert nodes["run_registry"]["groupName"] == "registries"


def test_every_asset_has_its_blocking_checks_and_they_passed(
    served_demo: Served, nodes: dict[str, dict[str, Any]]
) -> None:
    for registry_id in REGISTRIES:  # what `registry build` materialized (not the daily one)
        node = nodes[registry_id]
        assert node["assetChecksOrError"]["__typename"] == "AssetChecks", registry_id
        checks = {check["name"]: check for check in node["assetChecksOrError"]["checks"]}
        logs = ("run_index", "run_overrides")
        governed = registry_id in ("registry_delta_log", "allowed_operations", "rolepack", *logs)
        append_only = {"append_only"} if governed else set()
        sourced = nodes[registry_id]["groupName"] == "sources"
        written = {"coordination"} if sourced and registry_id not in logs else set()
        ruled = {"rules"} if registry_id in logs else set()
        assert set(checks) == CHECKS | append_only | written | ruled, registry_id
        for name, check in checks.items():
            assert check["blocking"] is True, (registry_id, name)
            execution = check["executionForLatestMaterialization"]
            assert execution is not None, (registry_id, name)
            assert execution["status"] == "SUCCEEDED", (registry_id, name, execution)
            assert execution["runId"] == served_demo.build["dagster_run_id"]


def test_every_registry_shows_the_cli_build_and_its_run_folder(
    served_demo: Served, nodes: dict[str, dict[str, Any]]
) -> None:
    for registry_id in REGISTRIES:
        [latest] = nodes[registry_id]["assetMaterializations"]
        assert latest["runId"] == served_demo.build["dagster_run_id"]  # the CLI's run, in the UI
        metadata = _metadata(nodes[registry_id])
        entry = served_demo.entry(registry_id)
        assert metadata["run_id"]["text"] == entry["run_id"], registry_id
        assert metadata["root_sha256"]["text"] == entry["root_sha256"], registry_id
        folder = Path(metadata["path"]["path"])
        assert folder == served_demo.workspace / ".codex" / "RUNS" / entry["run_id"]
    metadata, entry = _metadata(nodes["run_registry"]), served_demo.entry("run_registry")
    assert metadata["record_count"]["intValue"] == entry["record_count"]
    folder = served_demo.workspace / ".codex" / "RUNS" / entry["run_id"]
    manifest = (folder / "MANIFEST.sha256").read_text(encoding="utf-8")
    assert f"ROOT_SHA256  {entry['root_sha256']}" in manifest.splitlines()


def test_health_report_markdown_and_sealed_scorecard_are_served(
    served_demo: Served, nodes: dict[str, dict[str, Any]]
) -> None:
    """The UI's figures are the sealed summary's, not computed again."""
    metadata = _metadata(nodes["system_health_report"])
    report = metadata["report"]
    assert report["__typename"] == "MarkdownMetadataEntry"
    assert report["mdStr"].startswith("# System Health Report v0.1")
    assert "## Governance scorecard" in report["mdStr"]
    shown = json.loads(metadata["scorecard"]["jsonString"])
    entry = served_demo.entry("system_health_report")
    folder = served_demo.workspace / ".codex" / "RUNS" / entry["run_id"]
    sealed = json.loads((folder / "SYSTEM_HEALTH_SUMMARY_v0_1.json").read_text(encoding="utf-8"))
    assert shown == sealed["scorecard"]
    assert shown["enforcement_c3_plus"]["total"] > 0
