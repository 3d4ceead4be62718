"""How the workspace instance queues and launches runs: Dagster's queue, which counts every run
that builds registries as a build, and Dagster's launcher, plus a run worker forked by the
command that launches the run when that command has the code location loaded itself.

The queue admits one build at a time (the tag `BUILD_TAG`, limit 1, in the generated
`dagster.yaml`). A run of the build job carries the tag; a run of a selection of registries
that the UI's Materialize button launches (an implicit asset job) does not, so the queue
(`RegistryRunCoordinator`) tags every run that needs the `build_run` resource as it enters:
it waits queued like any other build, never in a run worker.

A run dequeued by the UI's daemon (or launched by the webserver without a queue) goes to the
code server that serves the run's code location, which starts a run worker for it: Dagster's
`DefaultRunLauncher`, unchanged. A run that `registry build` launches is created from the code
location loaded in the command's own process (`lib.launch.local_location`); when the command
dequeues it (or the instance does not queue runs), this launcher forks the command: the fork is
the run worker, with Dagster and the definitions already imported, so a launched build costs
about what a build executed in the command's own process costs (docs/benchmarks.md). Either
way it is the same run, through the same queue, on the job's page like any other.

The fork runs in a session of its own: a Ctrl-C at the terminal reaches the command only, which
cancels the run as the UI's Terminate does (`terminate`: the run is marked CANCELING, then its
worker is interrupted and ends it CANCELED). Its pid and host are the run's tag `WORKER_TAG`;
the daemon's run monitoring asks `check_run_worker_health` whether it still runs.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import time
from typing import Any, NoReturn

from dagster._core.launcher import DefaultRunLauncher, LaunchRunContext
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext

from registry_pipeline.lib.build_run import BUILD_TAG, alive, builds_in_progress

BUILD_RESOURCE = "build_run"
"""The resource every registry asset asks for (`lib.build_run.BuildRun`): a run that needs it
is a build."""

WORKER_TAG = "registry-pipeline/worker"
"""`pid@host` of the forked run worker of a run `registry build` launched."""


class RegistryRunCoordinator(QueuedRunCoordinator):
    """Dagster's run queue, counting every run that builds registries as a build (module doc)."""

    def submit_run(self, context: SubmitRunContext) -> Any:
        run = context.dagster_run
        if BUILD_TAG not in run.tags and is_build(self._instance, run):
            self._instance.add_run_tags(run.run_id, {BUILD_TAG: "1"})
            run = self._instance.get_run_by_id(run.run_id) or run
            context = SubmitRunContext(run, context.workspace)
        queued = super().submit_run(context)
        if BUILD_TAG in queued.tags:
            ahead = builds_in_progress(self._instance, queued.run_id)
            if ahead:  # said in the queued run's log, where the UI shows it
                self._instance.report_engine_event(
                    f"queued: one build at a time per workspace; this run starts when {ahead} ends",
                    queued,
                )
        return queued


def is_build(instance: Any, run: Any) -> bool:
    """Whether `run` builds registries: one of its ops needs the build run resource."""
    snapshot = instance.get_job_snapshot(run.job_snapshot_id) if run.job_snapshot_id else None
    if snapshot is None:
        return False
    ops = snapshot.node_defs_snapshot.op_def_snaps
    return any(BUILD_RESOURCE in op.required_resource_keys for op in ops)


class RegistryRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher`, forking the launching process for runs of a code location loaded
    in that process (module doc)."""

    def __init__(self, inst_data: Any = None) -> None:
        super().__init__(inst_data=inst_data)
        self._children: set[int] = set()

    def launch_run(self, context: LaunchRunContext) -> None:
        from dagster._core.remote_representation.code_location import InProcessCodeLocation

        run = context.dagster_run
        origin = run.remote_job_origin
        location = None
        if context.workspace is not None and origin is not None:
            name = origin.repository_origin.code_location_origin.location_name
            location = context.workspace.get_code_location(name)
        if not isinstance(location, InProcessCodeLocation):
            super().launch_run(context)
            return
        pid = fork_worker(self._instance.get_ref(), run.run_id)
        self._children.add(pid)
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: f"{pid}@{socket.gethostname()}"})

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        worker = _worker(run.tags.get(WORKER_TAG))
        if worker is None:
            return bool(super().terminate(run_id))  # type: ignore[no-untyped-call]
        self._instance.report_run_canceling(run)
        try:
            os.kill(worker, signal.SIGINT)  # Dagster's own interrupt: the run ends CANCELED
        except ProcessLookupError:
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: Any) -> CheckRunHealthResult:
        text = run.tags.get(WORKER_TAG)
        if text is None:  # launched through its code server: as Dagster's own launcher, which
            # has no health check, nothing here says its worker died (UNKNOWN would fail it)
            return CheckRunHealthResult(WorkerStatus.RUNNING, "launched by its code server")
        worker = _worker(text)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"run worker {text} on another host")
        if alive(worker):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(worker))
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker {text} no longer runs")

    def worker_end(self, run: Any) -> str | None:
        """How the run worker this process forked for `run` ended (`was killed by signal 9
        (SIGKILL)`), once it has ended (it is reaped here); None while it runs, or when this
        process did not fork it. Until reaped, an ended worker still answers `alive`."""
        pid = _worker(run.tags.get(WORKER_TAG))
        if pid is None or pid not in self._children:
            return None
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: how it ended is not known
            self._children.discard(pid)
            return f"(pid {pid}) ended"
        if not done:
            return None
        self._children.discard(pid)
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            return f"(pid {pid}) was killed by signal {number} ({signal.Signals(number).name})"
        return f"(pid {pid}) exited with code {os.waitstatus_to_exitcode(status)}"

    def reap(self, timeout: float = 30.0) -> None:
        """Wait (up to `timeout` s in all) for the forked run workers that have ended their
        runs to exit, so that none is left a zombie of this process."""
        deadline = time.monotonic() + timeout
        for pid in sorted(self._children):
            while True:
                try:
                    done, _status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.01)  # a poll: waitpid has no timeout
            if done:
                self._children.discard(pid)


def fork_worker(instance_ref: Any, run_id: str) -> int:
    """Fork a run worker for the run `run_id` (status STARTING): its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # the fork never collects the parent's objects (its connections among them)
    try:
        pid = os.fork()
        if pid == 0:
            _work(instance_ref, run_id)
    finally:
        gc.unfreeze()  # in this process only: the fork never returns here
    return pid


def _work(instance_ref: Any, run_id: str) -> NoReturn:
    """The run worker: what `dagster api execute_run` does, in the forked process. What ends
    it otherwise is said in one line on the command's terminal, its traceback in the run's log
    (`_report`)."""
    code = 1
    try:
        os.setsid()  # a session of its own: a Ctrl-C at the terminal is the command's
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from dagster import DagsterInstance
        from dagster._cli.api import _execute_run_command_body
        from dagster._utils.interrupts import capture_interrupts

        with capture_interrupts(), DagsterInstance.from_ref(instance_ref) as instance:
            _execute_run_command_body(run_id, instance, lambda _event: None, False)
        code = 0
    except BaseException as exc:
        _report(instance_ref, run_id, exc)
    finally:
        os._exit(code)


def _report(instance_ref: Any, run_id: str, exc: BaseException) -> None:
    """The error that ended a run worker: its traceback in the run's log (an engine error, as
    Dagster records one), one line on stderr (with `RUN_WORKER_FAILED`, its reason code)."""
    where = "the run's log"
    try:
        from dagster import DagsterInstance
        from dagster._core.events import EngineEventData
        from dagster._utils.error import serializable_error_info_from_exc_info

        error = serializable_error_info_from_exc_info(sys.exc_info())
        with DagsterInstance.from_ref(instance_ref) as instance:
            run = instance.get_run_by_id(run_id)
            if run is None:
                raise LookupError(f"run {run_id} is not in the instance")
            message = f"the run worker ended with an error: {type(exc).__name__}"
            instance.report_engine_event(message, run, EngineEventData.engine_error(error))
    except Exception as unreported:  # the instance itself may be what failed
        where = f"nowhere: the run's log could not be written ({type(unreported).__name__})"
    first = (str(exc).strip().splitlines() or [""])[0]
    said = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    sys.stderr.write(f"error: RUN_WORKER_FAILED run {run_id}: {said} (traceback: {where})\n")
    sys.stderr.flush()


def _worker(text: str | None) -> int | None:
    """The pid of a `pid@host` worker tag naming this host, else None."""
    pid, _, host = (text or "").partition("@")
    return int(pid) if pid.isdigit() and host == socket.gethostname() else None
