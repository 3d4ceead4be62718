"""Runs and backfills submitted as the Dagster UI submits them: created from the workspace's code
location (loaded in this process, `local_location`, or served by a code server Dagster starts,
`code_location`) and handed to the instance's run coordinator and launcher, so each one shows on
the job's page, the asset pages, the Overview timeline and (a backfill) the Backfills tab, and can
be cancelled or resumed there.

Without a running `dagster-daemon`, the waiting command does the daemon's part itself: it
dequeues queued runs (`QueuedRunCoordinatorDaemon.run_iteration`, honouring the instance's
concurrency limits) and advances backfills (`execute_backfill_iteration`), the functions the
daemon calls on each tick. A daemon running beside it does the same work; either may take a step.

Dagster 1.13 has no public API for these; the steps are those of `dagster job launch`
(`dagster._cli.job._create_run`) and of the daemon's loops, read from the installed version.

The run's page in the UI (`run_url`) points at the webserver serving the workspace's instance,
found among this machine's processes (`webserver_url`): a `dagster-webserver` process (`dagster
dev` and `dg dev` start one as a child, handing it the instance in `--instance-ref`) whose
instance is the workspace's home (else its `DAGSTER_HOME`, from its environment or the `.env` of
the folder it runs in), at the TCP port it listens on (`/proc/<pid>/fd` and `/proc/<pid>/net/tcp*`):
started without `--port`, it takes 3000, or a random free port when 3000 is in use. It counts
once it answers `/server_info`; only processes of this user are readable, and on a system without
`/proc` nothing is found.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import logging
import os
import re
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.errors import RegistryError

MODULE = "registry_pipeline.definitions"
LOCATION = "registry_pipeline"
POLL = 0.25
"""Seconds between looks at a run or backfill (the instance has no notification to wait on)."""
CANCEL_GRACE = 60.0
"""Seconds a cancelled run is given to stop before it is marked CANCELED regardless."""
WEBSERVER_URL_ENV = "DAGSTER_WEBSERVER_URL"
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
"""Where `dagster dev` serves the UI unless told otherwise: the base of the run links printed."""

_log = logging.getLogger("registry_pipeline.launch")


@contextmanager
def code_location(instance: dg.DagsterInstance, workspace_root: Path) -> Iterator[Any]:
    """The workspace's code location, served by a code server Dagster starts for
    `registry_pipeline.definitions` of `workspace_root`: a WorkspaceProcessContext. At the end
    the server is told to stop and waited for (it finishes its runs' bookkeeping first), so the
    command leaves no process behind. $REGISTRY_WORKSPACE names `workspace_root` for the block
    (the code server inherits it)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget

    target = ModuleTarget(
        module_name=MODULE,
        attribute=None,
        working_directory=str(workspace_root),
        location_name=LOCATION,
    )
    with (
        _environment("REGISTRY_WORKSPACE", str(workspace_root)),
        _servers(instance) as servers,
        WorkspaceProcessContext(
            instance, target, version=dg.__version__, grpc_server_registry=servers
        ) as context,
    ):
        _require_loaded(context, workspace_root)
        yield context


@contextmanager
def local_location(instance: dg.DagsterInstance, workspace_root: Path) -> Iterator[Any]:
    """The workspace's code location loaded in this process (no code server), under the same
    name as `code_location`'s, so the runs created from it are the same job's runs in the UI:
    a WorkspaceProcessContext. The instance's launcher forks this process for the runs it
    launches from here (`lib.launcher`)."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=MODULE,
            working_directory=str(workspace_root),
        ),
        location_name=LOCATION,
    )
    target = InProcessWorkspaceLoadTarget(origin)
    with (
        _environment("REGISTRY_WORKSPACE", str(workspace_root)),
        WorkspaceProcessContext(instance, target, version=dg.__version__) as context,
    ):
        _require_loaded(context, workspace_root)
        yield context


@contextmanager
def launch_context(instance: dg.DagsterInstance, workspace_root: Path) -> Iterator[Any]:
    """Where this process launches runs from: the code location loaded here when the instance's
    launcher forks for it (the generated dagster.yaml's), else a code server (`code_location`:
    a user's own dagster.yaml with another launcher)."""
    from registry_pipeline.lib.launcher import RegistryRunLauncher

    if isinstance(instance.run_launcher, RegistryRunLauncher):
        with local_location(instance, workspace_root) as context:
            yield context
    else:
        with code_location(instance, workspace_root) as context:
            yield context


def _require_loaded(context: Any, workspace_root: Path) -> None:
    """CODE_LOCATION_ERROR with the exception's first line when the location did not load (the
    traceback is in the UI)."""
    error = context.create_request_context().get_code_location_error(LOCATION)
    if error is not None:
        first = error.message.strip().splitlines()[0] if error.message.strip() else "?"
        raise RegistryError(
            f"the code location {MODULE} did not load: {first}",
            code="CODE_LOCATION_ERROR",
            path=str(workspace_root),
        )


@contextmanager
def _servers(instance: dg.DagsterInstance) -> Iterator[Any]:
    """The registry of the code servers a WorkspaceProcessContext starts, as it makes its own
    (logging warnings only), but waiting for them to exit when it closes; one that takes longer
    than Dagster's 30 s is left to end on its own (it stops without a heartbeat)."""
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


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """The environment variable `name` set to `value` for the block, as it was afterwards."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def submit(
    context: Any,
    job_name: str,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    run_id: str | None = None,
) -> dg.DagsterRun:
    """`create_run`, then submit it to the run coordinator (queued, or launched at once), as the
    UI's Launch button does."""
    run = create_run(context, job_name, tags, run_config, asset_selection, run_id)
    return context.instance.submit_run(run.run_id, context.create_request_context())


def create_run(
    context: Any,
    job_name: str,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    run_id: str | None = None,
) -> dg.DagsterRun:
    """A new run of `job_name` (of the assets `asset_selection` only, with their checks, when
    given; with the id `run_id` when given) from the code location, not started."""
    from dagster._core.definitions.selector import JobSubsetSelector

    instance = context.instance
    workspace = context.create_request_context()
    location = workspace.get_code_location(LOCATION)
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
    run = instance.create_run(
        job_name=job_name,
        run_id=run_id,
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
    return run


def wait_for_run(
    context: Any,
    run_id: str,
    timeout: float,
    on_poll: Callable[[dg.DagsterRun], None] | None = None,
) -> dg.DagsterRun:
    """The run once it has finished, dequeuing queued runs meanwhile; TimeoutError after
    `timeout` seconds (the run goes on: it is the instance's now)."""
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


def cancel_run(context: Any, run_id: str, grace: float = CANCEL_GRACE) -> dg.DagsterRun | None:
    """Cancel a run as the UI's Terminate does (dequeued, or its run worker told to stop), then
    wait up to `grace` seconds for it to end; one that has not ended by then (never launched,
    or its code server gone) is marked CANCELED, as the UI's forced termination does. The run
    then; None when the instance does not know it."""
    instance = context.instance
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return run
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
        run = instance.get_run_by_id(run_id) or run
    return run


def run_url(run_id: str, home: Path | None = None) -> str:
    """The run's page in the Dagster UI: `$DAGSTER_WEBSERVER_URL`, else the webserver serving
    the instance at `home` (default `$DAGSTER_HOME`; `webserver_url`: the port `dagster dev`
    actually serves), else the address `dagster dev` serves by default; then `/runs/<id>`."""

    base = os.environ.get(WEBSERVER_URL_ENV)
    if not base and (home or os.environ.get("DAGSTER_HOME")):
        base = webserver_url(home or Path(os.environ["DAGSTER_HOME"]))
    return f"{(base or DEFAULT_WEBSERVER_URL).rstrip('/')}/runs/{run_id}"


def create_job_backfill(
    context: Any,
    job_name: str,
    partitions: Sequence[str],
    tags: Mapping[str, str] | None = None,
    title: str | None = None,
) -> str:
    """A backfill of `job_name` over `partitions`, REQUESTED in the instance (the Backfills tab
    lists it from here on; each run is a run of the job itself, on the job's page); its id."""
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
    """Advance backfills as the daemon would (every REQUESTED or CANCELING one, as its tick
    does) until `backfill_id` ends; the PartitionBackfill then. A driver stopped halfway leaves
    it REQUESTED: driving it again (here or by a daemon) resumes it."""
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
    """File descriptor 1 pointed at stderr for the block: the code server and run workers
    Dagster starts inherit it and log there, so this process's stdout (a `--json` document)
    holds only what it prints after the block."""
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
    """A step of the daemon's run queue (dequeue and launch, within the concurrency limits)
    when the instance queues runs and no daemon does (`dagster dev` running on the instance:
    two dequeuers could launch one run twice); nothing otherwise."""
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    if not isinstance(context.instance.run_coordinator, QueuedRunCoordinator):
        yield lambda: None
        return
    with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon, _off_the_terminal(daemon):

        def step() -> None:
            if not daemon_dequeues(context.instance):
                list(daemon.run_iteration(context))

        yield step


@contextmanager
def _off_the_terminal(daemon: Any) -> Iterator[None]:
    """What the daemon's step logs kept off the command's terminal for the block: a launch that
    failed (its code server gone) is logged with Dagster's traceback, which the run's own log
    holds too (the engine error before its failure, in the UI); the command says the run's end
    in one line of its own. A handler configured for the logger's parents still gets it."""
    from dagster._daemon.daemon import get_default_daemon_logger

    logger = get_default_daemon_logger(type(daemon).__name__)  # the one the daemon logs to
    quiet = logging.NullHandler()  # a handler: Python's last resort no longer prints it
    logger.addHandler(quiet)
    try:
        yield
    finally:
        logger.removeHandler(quiet)


def daemon_dequeues(instance: dg.DagsterInstance) -> bool:
    """Whether a live daemon (its heartbeat recent) drains the instance's run queue."""
    from dagster._daemon.controller import get_daemon_statuses
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    kind = QueuedRunCoordinatorDaemon.daemon_type()
    try:
        status = get_daemon_statuses(instance, [kind], ignore_errors=True)[kind]
    except Exception:  # no heartbeat table, an old storage: no daemon to count on
        return False
    return bool(status.healthy)


PROC = Path("/proc")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
"""dagster-webserver's defaults (`dagster_webserver/cli.py`), for a process whose sockets are
not readable."""
ANSWER_TIMEOUT = 1.0
"""Seconds a webserver has to answer `/server_info` (a local request: it answers in ms)."""
_LISTEN = "0A"
"""TCP_LISTEN in the `st` column of `/proc/net/tcp`."""
_PATH = re.compile(r"/[^\s\"',:]+")
"""An absolute path inside the instance reference's JSON and YAML text."""
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def webserver_url(home: Path) -> str | None:
    """`http://HOST:PORT[/prefix]` of a running webserver whose instance is `home` and which
    answers, else None."""
    wanted = _resolved(home)
    for pid, argv, environ, cwd in _processes():
        if not _is_webserver(argv) or not _serves(argv, environ, cwd, wanted):
            continue
        prefix = (_option(argv, "--path-prefix", "-l") or "").rstrip("/")
        for host, port in _addresses(pid, argv):
            url = f"http://{host}:{port}{prefix}"
            if _answers(url):
                return url
    return None


def _processes() -> Iterator[tuple[str, list[str], dict[str, str], Path | None]]:
    """(pid, argv, environment, working folder) of each readable process."""
    try:
        pids = [entry.name for entry in os.scandir(PROC) if entry.name.isdigit()]
    except OSError:
        return
    for pid in pids:
        try:
            argv = (PROC / pid / "cmdline").read_bytes().split(b"\0")
            environ = (PROC / pid / "environ").read_bytes().split(b"\0")
            cwd: Path | None = Path(os.readlink(PROC / pid / "cwd"))
        except OSError:  # gone, or another user's
            continue
        yield (
            pid,
            [arg.decode("utf-8", "replace") for arg in argv if arg],
            dict(_pair(item.decode("utf-8", "replace")) for item in environ if b"=" in item),
            cwd,
        )


def _pair(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name, value


def _addresses(pid: str, argv: Sequence[str]) -> list[tuple[str, int]]:
    """(host, port) to try for the webserver `pid`: the sockets it listens on (its `--port`
    first), each host its `--host` unless that is a wildcard; its arguments or Dagster's
    defaults when its sockets are not readable."""
    host = _option(argv, "--host", "-h")
    named = host if host not in (None, "", "0.0.0.0", "::", "[::]") else None
    port = _option(argv, "--port", "-p")
    listening = sorted(_listening(pid), key=lambda address: str(address[1]) != port)
    if not listening:
        return [(named or DEFAULT_HOST, int(port) if port and port.isdigit() else DEFAULT_PORT)]
    return [(named or address, number) for address, number in listening]


def _listening(pid: str) -> list[tuple[str, int]]:
    """(address for a URL, port) of each TCP socket process `pid` listens on."""
    try:
        fds = list((PROC / pid / "fd").iterdir())
    except OSError:
        return []
    sockets = set()
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile (a browser's request)
            sockets.add(os.readlink(fd))
    found = []
    for table in ("tcp", "tcp6"):
        try:
            rows = (PROC / pid / "net" / table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for fields in (row.split() for row in rows):
            if len(fields) > 9 and fields[3] == _LISTEN and f"socket:[{fields[9]}]" in sockets:
                address, _, port = fields[1].partition(":")
                found.append((_url_host(address), int(port, 16)))
    return found


def _url_host(hex_address: str) -> str:
    """A `/proc/net/tcp*` address as a URL's host (a wildcard as 127.0.0.1, IPv6 in brackets);
    the file prints each 32-bit word of the address in the machine's byte order."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":
        raw = b"".join(raw[at : at + 4][::-1] for at in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return DEFAULT_HOST
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _answers(url: str) -> bool:
    """Whether a Dagster webserver answers at `url` (its `/server_info`), proxies bypassed."""
    try:
        with _NO_PROXY.open(f"{url}/server_info", timeout=ANSWER_TIMEOUT) as response:
            info = json.loads(response.read(65536))
    except (OSError, ValueError, http.client.HTTPException):
        return False
    return isinstance(info, dict) and "dagster_webserver_version" in info


def _is_webserver(argv: Sequence[str]) -> bool:
    """A `dagster-webserver` (its console script, or `-m dagster_webserver`)."""
    return any(Path(arg).name in ("dagster-webserver", "dagster_webserver") for arg in argv[:3])


def _serves(
    argv: Sequence[str], environ: dict[str, str], cwd: Path | None, home: Path | None
) -> bool:
    """Whether the process's instance is `home`: the instance `dagster dev` hands its webserver
    (`--instance-ref`, naming the home's folders), else the process's own DAGSTER_HOME."""
    if home is None:
        return False
    ref = _option(argv, "--instance-ref")
    if ref is not None:  # the home itself, or its storage folders (history/, storage/, ...)
        paths = {_resolved(Path(found)) for found in _PATH.findall(ref)}
        return home in paths or any(path is not None and path.parent == home for path in paths)
    return _resolved(_home_of(environ, cwd)) == home


def _home_of(environ: dict[str, str], cwd: Path | None) -> Path | None:
    """The DAGSTER_HOME a process uses: its environment's, else its folder's `.env` line."""
    if environ.get("DAGSTER_HOME"):
        return Path(environ["DAGSTER_HOME"])
    if cwd is None:
        return None
    try:
        lines = (cwd / ".env").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        name, _, value = line.strip().partition("=")
        if name == "DAGSTER_HOME" and value:
            return Path(value.strip().strip("'\""))
    return None


def _resolved(path: Path | None) -> Path | None:
    try:
        return path.resolve() if path is not None else None
    except OSError:
        return None


def _option(argv: Sequence[str], *names: str) -> str | None:
    """The value of the first of `names` in `argv` (`--port 3001`, `--port=3001`, `-p3001`)."""
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                return arg[len(name) :]
    return None
