"""What the daemon's run monitoring is told about a build run's worker: a forked worker is
alive or dead as its process is; a run launched through its code server is never failed for
want of a health check (run monitoring failed healthy UI builds mid-run when it was UNKNOWN)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import dagster as dg
from dagster._core.launcher.base import WorkerStatus

from registry_pipeline.lib.build_run import BUILD_JOB
from registry_pipeline.lib.launcher import WORKER_TAG, RegistryRunLauncher


def _run(tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(job_name=BUILD_JOB, status=dg.DagsterRunStatus.STARTED, tags=tags)


def test_a_workers_health_is_its_process_and_a_code_servers_run_is_not_failed() -> None:
    launcher = RegistryRunLauncher()
    here = socket.gethostname()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    alive = launcher.check_run_worker_health(_run({WORKER_TAG: f"{os.getpid()}@{here}"}))
    dead = launcher.check_run_worker_health(_run({WORKER_TAG: f"{gone}@{here}"}))
    served = launcher.check_run_worker_health(_run({}))
    assert (alive.status, dead.status) == (WorkerStatus.RUNNING, WorkerStatus.FAILED)
    assert served.status == WorkerStatus.RUNNING
