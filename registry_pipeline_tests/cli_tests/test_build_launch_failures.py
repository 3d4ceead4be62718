"""A launched build whose run dies outside its steps ends in one clean line with a reason code,
Dagster's traceback in the run's log only: its forked run worker killed (the command waited a
day for it: nothing ended the run), its code server gone as the run launches (the in-command
queue step printed Dagster's stack traces to the terminal).

The builds are processes of their own, killed (and the test failed) if they hang: a guard, never
a synchronization. The code server is killed from inside the build, before the run is handed to
the queue, and waited for: nothing depends on timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from registry_pipeline.lib.instance import open_instance
from registry_pipeline_tests._helpers import child_env

pytestmark = pytest.mark.launched
GUARD = 300.0
"""Seconds before a build is taken to hang (a launched build of the demo takes a few)."""

_KILL_THE_CODE_SERVER = """
import os, signal, sys
import registry_pipeline.lib.build as build

launch = build._launch

def killed_first(context, run, wait, watch):
    for server in context._grpc_server_registry._all_processes:  # the code server of the build
        os.kill(server.pid, signal.SIGKILL)
        server.server_process.wait()
    return launch(context, run, wait, watch)

build._launch = killed_first
from registry_pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""
OWN_DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
"""
"""A user's own instance settings: Dagster's queue and launcher, whose runs a code server
launches (the command then serves its code location from one)."""


def _build(root: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`registry build --force --json` of `root` in its own process (`command`: how to start
    it), killed (and the test failed) if it hangs."""
    args = [*(command or ("-m", "registry_pipeline")), "build", "--force", "--json",
            "--workspace", str(root)]  # fmt: skip
    try:
        return subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            timeout=GUARD,
            check=False,
            env=child_env(**env),
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the build still ran after {GUARD:.0f} s: it hangs")


def _failed(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The build's JSON, once it is known to have failed in one clean run problem."""
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 1, (done.stdout, done.stderr)
    document: dict[str, Any] = json.loads(done.stdout)
    assert document["success"] is False
    assert [problem["code"] for problem in document["problems"]] == ["RUN_FAILED"]
    return document


def test_a_killed_run_worker_fails_the_run_instead_of_a_day_of_waiting(built: Path) -> None:
    done = _build(built, REGISTRY_PIPELINE_CRASH_AT="staging_created")  # the worker seals
    document = _failed(done)
    assert "killed by signal 9 (SIGKILL)" in document["problems"][0]["message"]
    assert done.stderr == ""
    with open_instance(built) as instance:
        run = instance.get_run_by_id(document["dagster_run_id"])
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE


def test_a_code_server_gone_as_the_build_launches_is_one_line_its_trace_in_the_log(
    built: Path,
) -> None:
    (built / ".codex" / "dagster_home" / "dagster.yaml").write_text(OWN_DAGSTER_YAML)
    done = _build(built, "-c", _KILL_THE_CODE_SERVER)
    document = _failed(done)
    assert done.stderr == ""  # it was Dagster's "Caught an error dequeuing run" and its stack
    with open_instance(built) as instance:
        records = instance.all_logs(
            document["dagster_run_id"], of_type=dg.DagsterEventType.ENGINE_EVENT
        )
        events = [record.dagster_event for record in records if record.dagster_event]
        logged = [e.engine_event_data.error for e in events if e.engine_event_data.error]
    assert logged and {error.cls_name for error in logged} == {"DagsterUserCodeUnreachableError"}
    assert all(error.stack for error in logged)  # Dagster's traceback: in the run's log (the UI)
