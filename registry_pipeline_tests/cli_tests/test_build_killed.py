"""A SIGKILLed build's STARTED run is marked FAILURE by the next build, which says so and builds
(the killed one in its own process, the next ones in this one, as the `cli` fixture runs them)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.runs import lock_path
from registry_pipeline_tests._helpers import Run, child_env

GUARD = 300.0
"""Seconds before a build is taken to hang (a build of the demo takes a few)."""


def _build(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`registry build --force --json` of `root` in its own process, failed if it hangs."""
    args = ["-m", "registry_pipeline", "build", "--force", "--json", "--workspace", str(root)]
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=GUARD, check=False,
        env=child_env(**env),
    )  # fmt: skip


def test_a_killed_build_is_marked_failed_by_the_next_which_proceeds(built: Path, cli: Run) -> None:
    killed = _build(built, REGISTRY_PIPELINE_CRASH_AT="staging_created")  # while it seals
    assert killed.returncode == -signal.SIGKILL
    with open_instance(built) as instance:
        [left] = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert lock_path(instance, left.run_id).exists()  # its holder is gone: free
    code, out, err = cli("build", "--force", "--json", "--workspace", str(built))  # no traceback
    assert code == 0, out + err
    [said] = [line for line in err.splitlines() if left.run_id in line]
    assert said.startswith("cleaned up: ") and "marked FAILURE" in said
    document = json.loads(out)
    assert document["success"] is True and document["dagster_run_id"] != left.run_id
    with open_instance(built) as instance:
        run = instance.get_run_by_id(left.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        assert not lock_path(instance, left.run_id).exists()
    code, _out, err = cli("build", "--force", "--json", "--workspace", str(built))
    assert code == 0 and "cleaned up" not in err  # said once: nothing is left to clean
