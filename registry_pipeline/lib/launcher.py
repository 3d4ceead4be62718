"""How runs are launched: the instance's queue and launcher, and the daemon's part for a waiter."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NoReturn

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher, LaunchRunContext
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster_shared.utils import environ

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.lib.build_run import (
    BUILD_TAG,
    builds_in_progress,
    process_end,
    process_tag,
    tagged_pid,
)

MODULE = "registry_pipeline.definitions"
LOCATION = "registry_pipeline"
POLL = 0.25
"""Seconds between looks at a run or backfill (the instance has no notification to wait on)."""
CANCEL_GRACE = 60.0
"""Seconds a cancelled run is given to stop before it is marked CANCELED regardless."""

_log = logging.getLogger("registry_pipeline.launch")


@contextmanager
def code_location(
    instance: dg.DagsterInstance, workspace_root: Path, *, here: bool = False
) -> Iterator[Any]:
    """The workspace's code location under one name (a server or `here`); CODE_LOCATION_ERROR."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget, ModuleTarget

    folder = str(workspace_root)
    target: Any = ModuleTarget(
        module_name=MODULE, attribute=None, working_directory=folder, location_name=LOCATION
    )
    if here:
        loadable = LoadableTargetOrigin(
            executable_path=sys.executable, module_name=MODULE, working_directory=folder
        )
        target = InProcessWorkspaceLoadTarget(
            InProcessCodeLocationOrigin(loadable, location_name=LOCATION)
        )
    with ExitStack() as stack:
        home = instance.root_directory
        stack.enter_context(environ({"REGISTRY_WORKSPACE": folder, "DAGSTER_HOME": home}))
        servers = None if here else stack.enter_context(_servers(instance))
        context = stack.enter_context(
            WorkspaceProcessContext(
                instance, target, version=dg.__version__, grpc_server_registry=servers
            )
        )
        error = context.create_request_context().get_code_location_error(LOCATION)
        if error is not None:  # its traceback is in the UI
            first = (error.message.strip().splitlines() or ["?"])[0]
            raise RegistryError(
                f"the code location {MODULE} did not load: {first}",
                code="CODE_LOCATION_ERROR",
                path=folder,
            )
        yield context


@contextmanager
def _servers(instance: dg.DagsterInstance) -> Iterator[Any]:
    """The code servers' registry of a WorkspaceProcessContext, waiting for them at close."""
    import subprocess

    from dagster._core.remote_representation.grpc_server_registry import GrpcServerRegistry
    from dagster._core.workspace.context import WEBSERVER_GRPC_SERVER_HEARTBEAT_TTL
    from dagster._grpc.constants import INCREASE_TIMEOUT_DAGSTER_YAML_MSG, GrpcServerCommand

    registry = GrpcServerRegistry(
        instance_ref=instance.get_ref(),
        server_command=GrpcServerCommand.API_GRPC,
        heartbeat_ttl=WEBSERVER_GRPC_SERVER_HEARTBEAT_TTL,
        startup_timeout=instance.code_server_process_startup_timeout,
        log_level="WARNING",
        wait_for_processes_on_shutdown=True,
        additional_timeout_msg=INCREASE_TIMEOUT_DAGSTER_YAML_MSG,
    )
    try:
        yield registry
    finally:
        try:
            registry.__exit__(None, None, None)  # type: ignore[no-untyped-call]  # unread args
        except subprocess.TimeoutExpired as exc:
            _log.warning("the code server did not exit in %s s; it ends on its own", exc.timeout)


def create_run(
    context: Any,
    job_name: str,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
) -> dg.DagsterRun:
    """A new run of `job_name` (of `asset_selection` and their checks, if given), not started."""
    from dagster._core.definitions.selector import JobSubsetSelector

    instance = context.instance
    location = context.create_request_context().get_code_location(LOCATION)
    (repository,) = location.get_repositories().values()
    selection = frozenset(asset_selection) if asset_selection else None
    remote_job = location.get_job(  # the subset job: its plan has exactly the selected steps
        JobSubsetSelector(
            location_name=LOCATION,
            repository_name=repository.name,
            job_name=job_name,
            op_selection=None,
            asset_selection=selection,
        )
    )
    config = dict(run_config or {})
    plan = location.get_execution_plan(
        remote_job, config, step_keys_to_execute=None, known_state=None, instance=instance
    )
    return instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config=config,
        resolved_op_selection=remote_job.resolved_op_selection,
        step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**remote_job.tags, **(tags or {})},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=selection,
        asset_check_selection=None,  # None: the checks of the selected assets, as in process
        asset_graph=repository.asset_graph,
    )


def wait_for_run(
    context: Any,
    run_id: str,
    timeout: float,
    on_poll: Callable[[dg.DagsterRun], None] | None = None,
) -> dg.DagsterRun:
    """The run once finished, dequeuing meanwhile; TimeoutError after `timeout` (it goes on)."""
    instance = context.instance
    deadline = time.monotonic() + timeout
    with _queue(context) as dequeue:
        while True:
            run = instance.get_run_by_id(run_id)
            if run is None:
                raise LookupError(f"run {run_id} is not in the instance")
            if run.is_finished:
                return run
            if on_poll is not None:
                on_poll(run)
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {run.status.value} after {timeout:g} s")
            dequeue()
            time.sleep(POLL)  # a poll: the instance cannot notify us


def cancel_run(context: Any, run_id: str, grace: float = CANCEL_GRACE) -> None:
    """Cancel a run as the UI's Terminate does; one not ended after `grace` s is marked CANCELED."""
    instance = context.instance
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return
    try:
        asked = instance.run_coordinator.cancel_run(run_id)
    except Exception as exc:  # its code server is gone (a Ctrl-C reaches the whole group)
        _log.warning("cancelling run %s: %s", run_id, exc)
        asked = False
    deadline = time.monotonic() + grace
    while asked and not run.is_finished and time.monotonic() < deadline:
        time.sleep(POLL)  # a poll: the instance cannot notify us
        run = instance.get_run_by_id(run_id) or run
    if not run.is_finished:
        instance.report_run_canceled(
            run, message="the command that launched this run was interrupted; marked canceled"
        )


def create_job_backfill(
    context: Any,
    job_name: str,
    partitions: Sequence[str],
    tags: Mapping[str, str] | None = None,
    title: str | None = None,
) -> str:
    """The id of a new backfill of `job_name` over `partitions`, REQUESTED in the instance."""
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    workspace = context.create_request_context()
    (repository,) = workspace.get_code_location(LOCATION).get_repositories().values()
    partition_set = next(p for p in repository.get_partition_sets() if p.job_name == job_name)
    backfill = PartitionBackfill(
        backfill_id=make_new_backfill_id(),
        partition_set_origin=partition_set.get_remote_origin(),
        status=BulkActionStatus.REQUESTED,
        partition_names=list(partitions),
        from_failure=False,
        reexecution_steps=None,
        tags=dict(tags or {}),
        backfill_timestamp=get_current_timestamp(),
        title=title,
    )
    context.instance.add_backfill(backfill)
    return backfill.backfill_id


def drive_backfill(
    context: Any, backfill_id: str, timeout: float, on_poll: Callable[[Any], None] | None = None
) -> Any:
    """The backfill once it ends, advanced as the daemon would; one stopped stays REQUESTED."""
    from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES
    from dagster._daemon.backfill import execute_backfill_iteration

    instance = context.instance
    deadline = time.monotonic() + timeout
    with _queue(context) as dequeue:
        while True:
            for error in execute_backfill_iteration(context, _log):
                if error is not None:
                    _log.warning("backfill iteration: %s", error.message.strip())
            dequeue()
            backfill = instance.get_backfill(backfill_id)
            if backfill is None:
                raise LookupError(f"backfill {backfill_id} is not in the instance")
            if backfill.status in BULK_ACTION_TERMINAL_STATUSES:
                return backfill
            if on_poll is not None:
                on_poll(backfill)
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill {backfill_id} still {backfill.status.value}")
            time.sleep(POLL)  # a poll: the instance cannot notify us


@contextmanager
def children_print_to_stderr() -> Iterator[None]:
    """fd 1 pointed at stderr for the block, so Dagster's child processes keep stdout for --json."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def _queue(context: Any) -> Iterator[Callable[[], None]]:
    """A step of the daemon's run queue, when the instance queues runs and no live daemon does."""
    from dagster._daemon.controller import get_daemon_statuses
    from dagster._daemon.daemon import get_default_daemon_logger
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    if not isinstance(context.instance.run_coordinator, QueuedRunCoordinator):
        yield lambda: None
        return
    kind = QueuedRunCoordinatorDaemon.daemon_type()
    with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:

        def step() -> None:  # not when a live daemon (its heartbeat recent) drains the queue
            try:
                status = get_daemon_statuses(context.instance, [kind], ignore_errors=True)[kind]
            except Exception:  # no heartbeat table, an old storage: no daemon to count on
                status = None
            if status is None or not status.healthy:
                list(daemon.run_iteration(context))

        # the daemon's step logs kept off the terminal (a failed launch's traceback is in the
        # run's own log too, and the command says its end); a parent logger's handler gets them
        logger = get_default_daemon_logger(type(daemon).__name__)  # the one the daemon logs to
        quiet = logging.NullHandler()  # a handler: Python's last resort no longer prints it
        logger.addHandler(quiet)
        try:
            yield step
        finally:
            logger.removeHandler(quiet)


BUILD_RESOURCE = "build_run"
"""The resource every registry asset asks for (`BuildRun`): a run that needs it is a build."""

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
        if BUILD_TAG in queued.tags and (ahead := builds_in_progress(self._instance, run.run_id)):
            self._instance.report_engine_event(  # in the queued run's log, where the UI shows it
                f"queued: one build at a time per workspace; this run starts when {ahead} ends",
                queued,
            )
        return queued


def is_build(instance: Any, run: Any) -> bool:
    """Whether `run` builds registries: one of its ops needs the build run resource."""
    snapshot = instance.get_job_snapshot(run.job_snapshot_id) if run.job_snapshot_id else None
    ops = snapshot.node_defs_snapshot.op_def_snaps if snapshot is not None else ()
    return any(BUILD_RESOURCE in op.required_resource_keys for op in ops)


class RegistryRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher`, forking this process for runs of a location loaded here."""

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
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: process_tag(pid)})

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        worker = tagged_pid(run.tags.get(WORKER_TAG))
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
        worker = tagged_pid(text)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"run worker {text} on another host")
        if process_end(worker) is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(worker))
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker {text} no longer runs")

    def reap(self, timeout: float = 30.0) -> None:
        """Wait (up to `timeout` s in all) for the forked run workers to exit: no zombie left."""
        deadline = time.monotonic() + timeout
        for pid in sorted(self._children):
            while process_end(pid) is None and time.monotonic() <= deadline:
                time.sleep(0.01)  # a poll: waitpid has no timeout
        self._children.clear()


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
    """The run worker: what `dagster api execute_run` does, in the forked process."""
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
    """The error that ended a run worker: its traceback in the run's log, one line on stderr."""
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
