"""`dg` loads the registry graph here and in a user's workspace, under `workspace.yaml`'s name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from registry_pipeline_tests._helpers import DEMO_GRAPH, copy_demo

REPO = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).parent / "dg"
LOCATION = "registry_pipeline"


def _dg(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_WORKSPACE", "DAGSTER_HOME")}
    return subprocess.run(
        [str(DG), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _listed(cwd: Path) -> dict[str, Any]:
    done = _dg(cwd, "list", "defs", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    listed: dict[str, Any] = json.loads(done.stdout)
    return listed


def test_workspace_yaml_and_dg_name_the_same_code_location() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dg"]
    assert project["directory_type"] == "project"
    assert project["project"]["code_location_name"] == LOCATION
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text(encoding="utf-8"))
    module = workspace["load_from"][0]["python_module"]
    assert module["location_name"] == LOCATION
    assert module["module_name"] == project["project"]["code_location_target_module"]


def test_dg_lists_the_demo_graph_in_this_repository() -> None:
    listed = _listed(REPO)
    keys = {asset["asset_key"] for asset in listed["assets"]}
    assert keys == set(DEMO_GRAPH) | {"drift_signals_daily"}
    checks = {check["key"] for check in listed["asset_checks"]}
    assert {f"{key}:seal_valid" for key in keys} <= checks
    assert {f"{key}:schema_valid" for key in keys} <= checks
    assert "run_index:rules" in checks and "registry_delta_log:append_only" in checks
    assert {job["name"] for job in listed["jobs"]} >= {"build_registries"}


def test_dg_checks_and_lists_a_user_workspace_that_registry_init_made(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)  # init_workspace wrote dg.toml
    config = tomllib.loads((root / "dg.toml").read_text(encoding="utf-8"))
    assert config["project"]["code_location_name"] == LOCATION
    assert (root / f"{config['project']['root_module']}.py").is_file()
    (root / "registries" / "catalog_extra.txt").write_text("not part of the catalog\n")

    checked = _dg(root, "check", "defs")
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = _listed(root)
    assert {asset["asset_key"] for asset in listed["assets"]} == set(DEMO_GRAPH) | {
        "drift_signals_daily"
    }


def test_dg_check_defs_fails_with_our_reason_code_on_a_broken_catalog(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    catalog = root / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog.write_text("{ not json", encoding="utf-8")

    checked = _dg(root, "check", "defs")
    assert checked.returncode == 1
    said = checked.stdout + checked.stderr
    assert f"CATALOG_INVALID {catalog}" in said and "JSON_INVALID" in said


def test_dg_launch_materializes_one_day_of_drift_signals_daily(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    home = root / ".codex" / "dagster_home"
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_WORKSPACE"}
    launched = subprocess.run(
        [str(DG), "launch", "--assets", "drift_signals_daily", "--partition", "2026-11-20"],
        cwd=root,
        env={**env, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    folders = sorted((root / ".codex" / "RUNS").glob("*__drift_signals_daily_build"))
    assert len(folders) == 1
    validated = subprocess.run(
        [str(Path(sys.executable).parent / "registry"), "validate", str(folders[0]), "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validated.returncode == 0, validated.stdout
