"""The real `dagster-webserver` serves the registry graph and the CLI's build history.

One server per module: a copy of the demo workspace is built once with `registry build`, then
`dagster-webserver -w workspace.yaml` runs against it (REGISTRY_WORKSPACE = the copy, DAGSTER_HOME
= its `.codex/dagster_home`), and the tests read what the UI would show through `POST /graphql`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.workspace.layout import init_workspace
from registry_pipeline_tests._helpers import DEMO_GRAPH

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READY_TIMEOUT = 90.0
"""Upper bound on the server's start (it is usually ready within a few seconds)."""
POLL_INTERVAL = 0.2
REQUEST_TIMEOUT = 30.0

REGISTRIES = DEMO_GRAPH
CHECKS = {"seal_valid", "schema_valid"}


@dataclass(frozen=True)
class Served:
    """A running webserver on a built copy of the demo workspace."""

    base_url: str
    workspace: Path
    build: dict[str, Any]
    """The `registry build --json` document of the build that ran before the server started."""

    def entry(self, registry_id: str) -> dict[str, Any]:
        """The build's entry for `registry_id`."""
        return next(e for e in self.build["registries"] if e["registry_id"] == registry_id)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""


def _graphql(base_url: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
        document = json.load(response)
    assert not document.get("errors"), document.get("errors")
    return document["data"]


LOCATIONS = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /server_info, then the code location's load status, within READY_TIMEOUT."""
    deadline = time.monotonic() + READY_TIMEOUT
    stage = "server_info"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{_log_tail(log)}")
        try:
            if stage == "server_info":
                with urllib.request.urlopen(f"{base_url}/server_info", timeout=5) as response:
                    info = json.load(response)
                assert "dagster_webserver_version" in info, info
                stage = "location"
            entries = _graphql(base_url, LOCATIONS)["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                loaded = {e["locationOrLoadError"]["__typename"] for e in entries}
                assert loaded == {"RepositoryLocation"}, entries  # not a PythonError
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        time.sleep(POLL_INTERVAL)  # polling interval, not a wait for readiness
    pytest.fail(f"dagster-webserver not ready after {READY_TIMEOUT}s ({stage}):\n{_log_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server and the code server it spawned (its own process group)."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Build a copy of the demo workspace once, then serve it with the real webserver."""
    root = tmp_path_factory.mktemp("webserver") / "demo"
    root.mkdir()
    shutil.copytree(REPO / "registries", root / "registries")
    shutil.copytree(REPO / "schemas", root / "schemas")
    init_workspace(root)
    env = {
        **os.environ,
        "REGISTRY_WORKSPACE": str(root),
        "DAGSTER_HOME": str(root / ".codex" / "dagster_home"),
    }
    built = subprocess.run(
        [str(BIN / "registry"), "build", "--json"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    build = json.loads(built.stdout)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = root.parent / "webserver.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                str(REPO / "workspace.yaml"),
            ],
            env=env,
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(base_url, process, log)
        yield Served(base_url, root, build)
    finally:
        _stop(process)


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
        }
    }
} }
"""


@pytest.fixture(scope="module")
def nodes(served: Served) -> dict[str, dict[str, Any]]:
    """The asset nodes the server serves, by asset key."""
    data = _graphql(served.base_url, ASSET_NODES)
    return {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}


def _metadata(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [latest] = node["assetMaterializations"]
    return {entry["label"]: entry for entry in latest["metadataEntries"]}


def test_server_serves_the_registry_graph(nodes: dict[str, dict[str, Any]]) -> None:
    assert set(nodes) == {*REGISTRIES, "drift_signals_daily"}
    daily = sorted("/".join(key["path"]) for key in nodes["drift_signals_daily"]["dependencyKeys"])
    assert daily == ["expected_versions", "op_status_table", "run_registry", "threshold_packs_file"]
    for registry_id, upstream in REGISTRIES.items():
        served_deps = sorted("/".join(key["path"]) for key in nodes[registry_id]["dependencyKeys"])
        assert served_deps == upstream, registry_id
    assert nodes["expected_versions"]["groupName"] == "sources"
    assert nodes["run_registry"]["groupName"] == "registries"


def test_every_asset_has_its_blocking_checks_and_they_passed(
    served: Served, nodes: dict[str, dict[str, Any]]
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
            assert execution["runId"] == served.build["dagster_run_id"]


def test_latest_materialization_carries_the_run_folder(
    served: Served, nodes: dict[str, dict[str, Any]]
) -> None:
    node = nodes["run_registry"]
    [latest] = node["assetMaterializations"]
    assert latest["runId"] == served.build["dagster_run_id"]  # the CLI's run, in the UI
    metadata = _metadata(node)
    assert {"run_id", "root_sha256", "path", "record_count"} <= set(metadata)
    entry = served.entry("run_registry")
    assert metadata["run_id"]["text"] == entry["run_id"]
    assert metadata["root_sha256"]["text"] == entry["root_sha256"]
    assert metadata["record_count"]["intValue"] == entry["record_count"]
    folder = Path(metadata["path"]["path"])
    assert folder == served.workspace / ".codex" / "RUNS" / entry["run_id"]
    manifest = (folder / "MANIFEST.sha256").read_text(encoding="utf-8")
    assert f"ROOT_SHA256  {entry['root_sha256']}" in manifest.splitlines()


def test_every_registry_shows_the_cli_build(
    served: Served, nodes: dict[str, dict[str, Any]]
) -> None:
    for registry_id in REGISTRIES:
        metadata = _metadata(nodes[registry_id])
        entry = served.entry(registry_id)
        assert metadata["run_id"]["text"] == entry["run_id"], registry_id
        assert metadata["root_sha256"]["text"] == entry["root_sha256"], registry_id
        assert Path(metadata["path"]["path"]).is_dir(), registry_id


def test_health_report_markdown_is_served(nodes: dict[str, dict[str, Any]]) -> None:
    report = _metadata(nodes["system_health_report"])["report"]
    assert report["__typename"] == "MarkdownMetadataEntry"
    assert report["mdStr"].startswith("# System Health Report v0.1")
    assert "## Governance scorecard" in report["mdStr"]
