"""A forked run worker that fails outside its run says so in one line on the command's terminal
(RUN_WORKER_FAILED), its traceback in the run's log (it printed the traceback)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from registry_pipeline.lib.launcher import fork_worker


def test_a_failing_run_worker_says_one_line_its_trace_in_the_runs_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        run = instance.add_run(dg.DagsterRun(job_name="no_origin"))  # nothing a worker can run
        capfd.readouterr()
        pid = fork_worker(instance.get_ref(), run.run_id)
        _pid, status = os.waitpid(pid, 0)
        err = capfd.readouterr().err
        records = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    assert os.waitstatus_to_exitcode(status) == 1
    (line,) = err.splitlines()
    assert line.startswith(f"error: RUN_WORKER_FAILED run {run.run_id}: CheckError: ")
    assert line.endswith("does not include an origin. (traceback: the run's log)")
    (record,) = records
    event = record.dagster_event
    assert event is not None and event.engine_event_data.error is not None
    assert event.engine_event_data.error.cls_name == "CheckError"
