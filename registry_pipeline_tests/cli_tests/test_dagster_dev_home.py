"""`dagster dev` as the README starts it shows the workspace's instance; links name its port."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.core.freshness import up_to_date
from registry_pipeline.core.workspace.layout import (
    DAGSTER_HOME_RELPATH,
    Workspace,
    point_dagster_here,
)
from registry_pipeline.lib.webserver import run_url
from registry_pipeline_tests._helpers import registry
from registry_pipeline_tests._webserver import (
    POLL_INTERVAL,
    READY_TIMEOUT,
    graphql,
    wait_until_ready,
)

BIN = Path(sys.executable).parent
SERVING = re.compile(r"Serving dagster-webserver on (http://\S+?) in process")
RUNS = "{ runsOrError { __typename ... on Runs { results { runId } } } }"


@pytest.fixture
def port_3000_taken() -> Iterator[None]:
    """Dagster's default port in use, so `dagster dev` without `--port` serves on a random one."""
    with socket.socket() as sock:
        with contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", 3000))
            sock.listen()
        yield


@pytest.fixture
def dev(built: Path, port_3000_taken: None, tmp_path: Path) -> Iterator[str]:
    """`dagster dev -f registry_defs.py` in a built copy, no DAGSTER_HOME: the address it serves."""
    code, _, err = registry("build", "--force", "--workspace", str(built))
    assert code == 0, err
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "REGISTRY_WORKSPACE")}
    log = tmp_path / "dev.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-f", "registry_defs.py"],
            cwd=built,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = _served_at(log, process)
        wait_until_ready(base, process, log)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


def _served_at(log: Path, process: subprocess.Popen[bytes]) -> str:
    """The address in the webserver's `Serving dagster-webserver on URL` line, once logged."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        found = SERVING.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found[1]
        time.sleep(POLL_INTERVAL)  # polling the log, not a wait for readiness
    pytest.fail(f"dagster dev serves nowhere:\n{log.read_text(errors='replace')[-4000:]}")


def test_dagster_dev_in_the_workspace_shows_its_instance(
    built: Path, dev: str, tmp_path: Path
) -> None:
    last = up_to_date(Workspace(built)).last_build
    runs = graphql(dev, RUNS)["runsOrError"]["results"]
    assert last["dagster_run_id"] in {run["runId"] for run in runs}  # the workspace's history
    assert not list(built.glob(".tmp_dagster_home_*"))  # no temporary instance
    assert not dev.endswith(":3000")  # taken: a random port, which no argument names
    # the link's base is the user's: nothing of the webserver's process is read (issue 61)
    os.environ["DAGSTER_WEBSERVER_URL"] = dev
    try:
        assert run_url("abc") == f"{dev}/runs/abc"
    finally:
        del os.environ["DAGSTER_WEBSERVER_URL"]


def test_env_names_this_workspaces_home_and_keeps_the_rest(tmp_path: Path) -> None:
    """A moved or copied checkout's `.env` is corrected; a home the user chose is kept."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / ".env").write_text("SECRET=1\nDAGSTER_HOME=/gone/ws/.codex/dagster_home\n")
    said = point_dagster_here(root)
    ours = f"DAGSTER_HOME={(root / DAGSTER_HOME_RELPATH).resolve()}"
    assert (root / ".env").read_text() == f"SECRET=1\n{ours}\n"
    assert said[-1].startswith("replaced /gone/ws/.codex/dagster_home in .env")
    assert point_dagster_here(root) == []  # nothing more to do
    chosen = tmp_path / "shared-home"
    chosen.mkdir()
    (root / ".env").write_text(f"DAGSTER_HOME={chosen}\n")
    assert point_dagster_here(root) == []
    assert (root / ".env").read_text() == f"DAGSTER_HOME={chosen}\n"
