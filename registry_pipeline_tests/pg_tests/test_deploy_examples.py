"""The deployment examples checked as far as this machine can; they name Dagster's classes only."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from registry_pipeline.definitions import BUILD_JOB
from registry_pipeline.lib.instance import BUILD_TAG, POSTGRES_INSTANCE_CONFIG, POSTGRES_URL_ENV

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
LOCATION = "registry_pipeline"
MODULE = "registry_pipeline.definitions"
WORKSPACE = "/workspace"
DOCKER_LAUNCHER_FIELDS = {
    "image",
    "registry",
    "env_vars",
    "network",
    "networks",
    "container_kwargs",
}
"""DockerRunLauncher's config (dagster-docker 0.29: not installed here)."""


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_the_postgres_example_is_the_file_registry_writes() -> None:
    assert (DEPLOY / "postgres" / "dagster.yaml").read_text() == POSTGRES_INSTANCE_CONFIG


def test_no_example_names_a_class_of_the_package() -> None:
    """An example naming a class of ours breaks when it moves (as `lib/launcher.py`'s did)."""
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        data = path.read_bytes()  # a test's bytecode cache (`__pycache__`) is there too
        assert b"registry_pipeline.lib" not in data and b"RegistryRun" not in data, path


def test_the_docker_instance_loads_on_postgresql(
    pg_url: str, pg_env: Callable[[str], dict[str, str]], tmp_path: Path
) -> None:
    """Everything but the run launcher (dagster-docker is not installed here) loads as is."""
    pg_env(pg_url)
    config = _yaml(DEPLOY / "docker" / "dagster.yaml")
    launcher = config.pop("run_launcher")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__module__.startswith("dagster_postgres")
        assert type(instance.run_coordinator) is dg.QueuedRunCoordinator  # Dagster's own
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": BUILD_TAG, "limit": 1} in limits
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    assert set(launcher["config"]) <= DOCKER_LAUNCHER_FIELDS
    assert {POSTGRES_URL_ENV, "REGISTRY_WORKSPACE"} <= set(launcher["config"]["env_vars"])
    assert launcher["config"]["container_kwargs"]["volumes"] == [f"registry_workspace:{WORKSPACE}"]


def _dockerfile() -> tuple[str, list[str]]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    [cmd] = [line for line in text.splitlines() if line.startswith("CMD ")]
    return text, json.loads(cmd.removeprefix("CMD "))


def test_the_image_serves_the_definitions_under_the_location_name() -> None:
    from dagster_postgres.version import __version__ as libraries

    text, cmd = _dockerfile()
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-m") + 1] == MODULE and cmd[cmd.index("--location-name") + 1] == LOCATION
    assert f"REGISTRY_WORKSPACE={WORKSPACE}" in text and 'pip install ".[postgres]"' in text
    assert f'"dagster-docker=={libraries}"' in text  # the versions this checkout runs
    assert f'"dagster-webserver=={dg.__version__}"' in text
    # `dagster code-server start --help`, the command this venv installs: the options the image's
    # command may use
    dagster = Path(sys.executable).with_name("dagster")
    shown = subprocess.run([dagster, *cmd[1:3], "--help"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert all(flag in shown.stdout for flag in cmd if flag.startswith("-"))


def test_the_compose_file_and_the_grpc_workspace_agree_with_the_image() -> None:
    _text, cmd = _dockerfile()
    workspace = _yaml(DEPLOY / "docker" / "workspace.yaml")
    [server] = [entry["grpc_server"] for entry in workspace["load_from"]]
    assert server["location_name"] == LOCATION and str(server["port"]) == cmd[cmd.index("-p") + 1]
    compose = _yaml(DEPLOY / "docker" / "docker-compose.yaml")
    services = compose["services"]
    assert server["host"] in services and set(services) >= {"postgres", "webserver", "daemon"}
    for name in (server["host"], "webserver", "daemon"):
        environment = services[name]["environment"]
        assert environment[POSTGRES_URL_ENV].startswith("postgresql+psycopg2://")
        assert environment["REGISTRY_WORKSPACE"] == WORKSPACE
    assert f"registry_workspace:{WORKSPACE}" in services[server["host"]]["volumes"]
    for name in ("webserver", "daemon"):
        assert "/opt/dagster/workspace.yaml" in services[name]["command"]


def test_the_multiprocess_definitions_load_with_every_job_on_multiprocess() -> None:
    path = DEPLOY / "multiprocess" / "definitions.py"
    spec = importlib.util.spec_from_file_location("multiprocess_definitions", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defs = module.defs()
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def(BUILD_JOB).executor_def.name == "multiprocess"
