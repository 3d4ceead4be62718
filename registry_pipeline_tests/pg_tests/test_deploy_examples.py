"""The deployment examples checked as far as this machine can; they name Dagster's classes only."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from registry_pipeline.definitions import BUILD_JOB
from registry_pipeline.lib.instance import BUILD_TAG, POSTGRES_INSTANCE_CONFIG, POSTGRES_URL_ENV
from registry_pipeline_tests._helpers import watched
from registry_pipeline_tests._webserver import free_port, stop

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
SERVING_TIMEOUT = 120.0
"""How long the image's code server may take to serve the definitions here."""


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


def test_the_grpc_workspace_loads_the_location_the_images_command_serves(
    demo: Path, tmp_path: Path
) -> None:
    """The image's command run here (this machine's address, a free port) serving the demo, and
    the webserver's and daemon's workspace.yaml pointed at it: Dagster's own loader takes the
    file and loads the location from that server (`dagster definitions validate`)."""
    _text, cmd = _dockerfile()
    port = free_port()
    here = {"-h": "127.0.0.1", "-p": str(port)}
    served = [here.get(flag, arg) for flag, arg in zip(["", *cmd], cmd, strict=False)]
    workspace = _yaml(DEPLOY / "docker" / "workspace.yaml")
    [entry] = workspace["load_from"]
    entry["grpc_server"].update(host="127.0.0.1", port=port)
    (tmp_path / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    (home := tmp_path / "home").mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "REGISTRY_WORKSPACE": str(demo), "DAGSTER_HOME": str(home)}
    dagster = str(Path(sys.executable).with_name("dagster"))
    log = tmp_path / "code-server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            watched([dagster, *served[1:]], group=True),
            stdin=subprocess.PIPE,  # the watchdog stops the server when this process ends
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVING_TIMEOUT
        while not _listening(port):  # Dagster's proxy binds its port once the code is loaded
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)  # polling the port
        health = [dagster, "api", "grpc-health-check", "-p", str(port), "-h", "127.0.0.1"]
        served_ok = subprocess.run(health, env=env, capture_output=True, timeout=SERVING_TIMEOUT)
        validate = [dagster, "definitions", "validate", "-w", str(tmp_path / "workspace.yaml")]
        checked = subprocess.run(validate, env=env, cwd=tmp_path, capture_output=True, text=True,
                                 timeout=SERVING_TIMEOUT)  # fmt: skip
        assert server.poll() is None, log.read_text()  # ours answered, not another's on the port
    finally:
        stop(server)
    assert served_ok.returncode == 0, served_ok.stdout + served_ok.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"Validation successful for code location {LOCATION}" in checked.stdout + checked.stderr


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return False
    return True


def test_the_multiprocess_definitions_load_with_every_job_on_multiprocess() -> None:
    path = DEPLOY / "multiprocess" / "definitions.py"
    spec = importlib.util.spec_from_file_location("multiprocess_definitions", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defs = module.defs()
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def(BUILD_JOB).executor_def.name == "multiprocess"
