"""`registry build`: one run of the build job on the workspace's instance, created from the
workspace's code location like a run the UI launches, then either handed to the instance's
queue and launcher (the default: it waits Queued behind another build and is forked from this
process when its turn comes, `lib.launcher`) or executed in this process (`in_process`). The
run does the whole build (`lib.build_run`: slot, reuse, steps, promotion, record); this module
only starts it, says what it does as it goes (read from the run's events, one line per
registry as its checks finish) and summarizes it (`lib.build_entries`), the same way whichever
way it ran."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.builders.registry import check_catalog
from registry_pipeline.core.errors import BuildInProgress, problem_object
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.build_slot import (
    DEFAULT_WAIT,
    in_progress,
    require_safe,
)
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build_entries import ENTRY_EVENTS, RegistryBuild, entries_of
from registry_pipeline.lib.build_run import (
    BUILD_JOB,
    SUBMITTER_TAG,
    builds_in_progress,
    promotions,
)
from registry_pipeline.lib.instance import dagster_home, open_instance
from registry_pipeline.lib.resources import SLOT_WAIT_KEY

FOLLOW_POLL = 0.2
"""Seconds between two looks at the run's events (the instance cannot notify)."""
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Dagster's run log stays in the instance (the UI shows it); the CLI prints its own lines."""
IN_PROCESS_ENV = "REGISTRY_BUILD_IN_PROCESS"
"""Set to 1: `registry build` executes its run in process, as with `--in-process`."""
RUN_TIMEOUT = 24 * 3600.0
"""Seconds `registry build` waits for the run it launched before cancelling it."""
FOLLOWED = ENTRY_EVENTS


@dataclass(frozen=True)
class BuildSummary:
    """The Dagster run (None when there was nothing to run) and one entry per registry."""

    dagster_run_id: str | None
    success: bool
    registries: list[RegistryBuild]
    problems: list[dict[str, object]] = field(default_factory=list)
    """Why the run failed outside any registry's step (RUN_FAILED), if it did."""


def in_process_default() -> bool:
    """Whether a build executes in process when not told: `$REGISTRY_BUILD_IN_PROCESS` is 1."""
    return os.environ.get(IN_PROCESS_ENV, "").strip() == "1"


def run_build(
    root: Path,
    *,
    select: Sequence[str] = (),
    full_audit: bool = False,
    wait: float = DEFAULT_WAIT,
    on_wait: Callable[[str], None] | None = None,
    on_entry: Callable[[RegistryBuild], None] | None = None,
    in_process: bool | None = None,
) -> BuildSummary:
    """Build the selected registries (all when empty) in one run of BUILD_JOB and summarize it.

    `on_entry` is told each registry's entry as soon as its checks are in (promotion not yet
    known), `on_wait` once why the run waits (queued behind another build, or for the build
    slot). Launched (the default, `in_process` None: `in_process_default()`), a run still
    queued after `wait` seconds is cancelled with BUILD_IN_PROGRESS naming the run it waited
    for; the run itself waits up to `wait` seconds for the build slot. Ctrl-C cancels the run
    (it ends CANCELED) and is raised again.
    """
    from dagster._core.utils import make_new_run_id

    workspace = Workspace(root)
    # the run's own first checks, made here too so that bad input is refused before a run
    check_catalog(load_catalog(workspace))
    require_safe(workspace)
    PointerStore(workspace).require_intact(admit=admission)
    in_process = in_process_default() if in_process is None else in_process
    os.environ["DAGSTER_HOME"] = str(dagster_home(root))
    run_id = make_new_run_id()
    tags = {SUBMITTER_TAG: f"{os.getpid()}@{socket.gethostname()}"}
    selection = [dg.AssetKey(registry_id) for registry_id in select] or None
    config = _run_config(root, full_audit, wait)
    from registry_pipeline.lib.launch import create_run, launch_context, local_location

    with open_instance(root) as instance:
        watch = _Watch(instance, run_id, on_entry, on_wait)
        opened = local_location if in_process else launch_context
        with opened(instance, root) as context:
            keys, watch.checks = _graph_keys(context, selection)
            watch.keys = keys
            run = create_run(context, BUILD_JOB, tags, config, selection, run_id)
            if in_process:
                _execute_here(context, run, watch)
            else:
                _launch(context, run, wait, watch)
        refused = _slot_refusal(instance, run_id)
        if refused is not None:  # nothing was built: the command's answer is the refusal
            raise refused
        return _summary(instance, run_id, keys)


def _graph_keys(
    context: Any, selection: Sequence[dg.AssetKey] | None
) -> tuple[list[dg.AssetKey], dict[dg.AssetKey, int]]:
    """The registries the run builds, in the graph's order (its entries' order), and how many
    checks it runs on each."""
    from registry_pipeline.lib.launch import LOCATION

    location = context.create_request_context().get_code_location(LOCATION)
    (repository,) = location.get_repositories().values()
    graph = repository.asset_graph
    keys = [
        key
        for key in graph.toposorted_asset_keys
        if graph.get(key).is_executable and BUILD_JOB in graph.get(key).job_names
    ]
    wanted = set(selection) if selection else None
    keys = [key for key in keys if wanted is None or key in wanted]
    return keys, {key: len(graph.get(key).check_keys) for key in keys}


def _execute_here(context: Any, run: dg.DagsterRun, watch: _Watch) -> None:
    """Execute `run` in this process while a thread tells `watch` its events as the instance
    records them (as for a launched run: a wait for the build slot is recorded, not yielded);
    Ctrl-C leaves it CANCELED and is raised again."""
    from dagster._core.execution.api import execute_run_iterator
    from dagster._utils.hosted_user_process import recon_job_from_origin

    origin = run.job_code_origin
    assert origin is not None  # created from a code location
    job = recon_job_from_origin(origin)
    instance = context.instance
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(FOLLOW_POLL):
            watch.read()

    follower = threading.Thread(target=follow, name="build-progress", daemon=True)
    follower.start()
    interrupted = False
    try:
        for event in execute_run_iterator(job, run, instance):
            interrupted = interrupted or _interrupted(event)
    except KeyboardInterrupt:  # outside Dagster's own handling (before or after the run)
        interrupted = True
    finally:
        stop.set()
        follower.join()
    watch.read()
    if interrupted:
        finished = instance.get_run_by_id(run.run_id)
        if finished is not None and finished.status != dg.DagsterRunStatus.CANCELED:
            instance.report_run_canceled(
                finished, message="interrupted (Ctrl-C) in the `registry build` that ran it"
            )
        raise KeyboardInterrupt


def _slot_refusal(instance: dg.DagsterInstance, run_id: str) -> BuildInProgress | None:
    """The run's BUILD_IN_PROGRESS when it failed waiting for the build slot, else None."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        event = record.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        while error is not None:
            if error.cls_name == BuildInProgress.__name__:
                return BuildInProgress(error.message.split(": ", 1)[-1].strip())
            error = error.cause
    return None


def _interrupted(event: Any) -> bool:
    """Whether `event` ends the run because this process was interrupted: Dagster turns the
    Ctrl-C into a run failure (DagsterExecutionInterruptedError), which the command reports as
    the cancellation it is."""
    if event.event_type != dg.DagsterEventType.RUN_FAILURE:
        return False
    error = getattr(event.event_specific_data, "error", None)
    while error is not None:
        if error.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt"):
            return True
        error = error.cause
    return False


def _launch(context: Any, run: dg.DagsterRun, wait: float, watch: _Watch) -> None:
    """Submit `run` to the instance's queue and wait for it (dequeuing as the daemon would),
    telling `watch` its events; cancelled on Ctrl-C, or with BUILD_IN_PROGRESS when it is still
    queued after `wait` seconds; RUN_CANCELED when it was cancelled from elsewhere (the UI)."""
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.lib.launch import cancel_run, wait_for_run

    instance = context.instance
    queued_since = time.monotonic()

    def poll(current: dg.DagsterRun) -> None:
        watch.read()
        _fail_if_worker_ended(instance, current)
        if current.status != dg.DagsterRunStatus.QUEUED:
            return
        ahead = builds_in_progress(instance, run.run_id)
        if ahead:
            watch.waiting(f"queued behind {ahead} (one build at a time)")
        if time.monotonic() - queued_since >= wait:
            raise in_progress(ahead or "another build run", "the instance's run queue", wait)

    instance.submit_run(run.run_id, context.create_request_context())
    try:
        finished = wait_for_run(context, run.run_id, timeout=RUN_TIMEOUT, on_poll=poll)
    except BaseException:
        cancel_run(context, run.run_id)
        raise
    finally:
        _reap(instance)
    watch.read()
    if finished.status == dg.DagsterRunStatus.CANCELED:
        raise RegistryError(
            f"dagster run {run.run_id} was cancelled before it finished (from the UI?); "
            "nothing was promoted",
            code="RUN_CANCELED",
        )


def _fail_if_worker_ended(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Mark `run` FAILED when the run worker this command forked for it ended before the run
    did (killed, out of memory): nothing else ends such a run (a daemon's run monitoring sees
    its unreaped worker as alive), and the command would wait for it for a day."""
    from registry_pipeline.lib.launcher import RegistryRunLauncher

    launcher = instance.run_launcher
    if not isinstance(launcher, RegistryRunLauncher) or run.status not in _UNDER_WAY:
        return
    ended = launcher.worker_end(run)
    latest = instance.get_run_by_id(run.run_id) if ended else None
    if latest is not None and not latest.is_finished:  # what it wrote before it ended is in
        instance.report_run_failed(
            latest, message=f"its run worker {ended} before the run finished; build again"
        )


_UNDER_WAY = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)


def _reap(instance: dg.DagsterInstance) -> None:
    from registry_pipeline.lib.launcher import RegistryRunLauncher

    launcher = instance.run_launcher
    if isinstance(launcher, RegistryRunLauncher):
        launcher.reap()


class _Watch:
    """What the command says while its run goes on: each registry's line once its checks are
    in, and once why the run waits."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        on_entry: Callable[[RegistryBuild], None] | None,
        on_wait: Callable[[str], None] | None,
    ) -> None:
        self.instance, self.run_id = instance, run_id
        self.on_entry, self.on_wait = on_entry, on_wait
        self.keys: list[dg.AssetKey] = []
        self.checks: dict[dg.AssetKey, int] = {}
        self.events: list[Any] = []
        self.told: set[str] = set()
        self.cursor: str | None = None
        self.said_wait = False

    def read(self) -> None:
        """The run's events since the last look, from the instance."""
        if self.on_entry is None and self.on_wait is None:
            return
        new: list[Any] = []
        result = self.instance.get_records_for_run(self.run_id, cursor=self.cursor)
        self.cursor = result.cursor
        for record in result.records:
            event = record.event_log_entry.dagster_event
            if event is not None and event.event_type in FOLLOWED:
                new.append(event)
        self.see(new)

    def see(self, events: Iterable[Any]) -> None:
        """Say what `events` (the run's next ones) finish: a registry whose checks are all in."""
        self.events.extend(events)
        for event in events:
            data = event.event_specific_data
            metadata = getattr(data, "metadata", None) or {}
            if event.event_type == dg.DagsterEventType.ENGINE_EVENT and SLOT_WAIT_KEY in metadata:
                self.waiting(f"waiting for the build slot, held by {metadata[SLOT_WAIT_KEY].value}")
        if self.on_entry is None:
            return
        for entry in entries_of(self.events, self.keys, self.checks):
            if entry.registry_id not in self.told:
                self.told.add(entry.registry_id)
                self.on_entry(entry)

    def waiting(self, why: str) -> None:
        if self.on_wait is not None and not self.said_wait:
            self.said_wait = True
            self.on_wait(f"dagster run {self.run_id}: {why}")


def _summary(
    instance: dg.DagsterInstance, run_id: str, keys: Sequence[dg.AssetKey]
) -> BuildSummary:
    """The finished run as the instance tells it: each registry's entry with its promotion."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise LookupError(f"run {run_id} is not in the instance")
    records = instance.all_logs(run_id, of_type=ENTRY_EVENTS)
    events = [record.dagster_event for record in records if record.dagster_event is not None]
    outcome = entries_of(events, keys)
    promoted = promotions(events)
    entries = [_with_promotion(entry, promoted.get(entry.registry_id)) for entry in outcome]
    success = (
        run.status == dg.DagsterRunStatus.SUCCESS
        and all(entry.status in ("built", "reused") for entry in entries)
        and not any(entry.problems for entry in entries)
    )
    from registry_pipeline.lib.build_entries import run_problems

    return BuildSummary(run_id, success, entries, run_problems(events))


def _with_promotion(entry: RegistryBuild, outcome: dict[str, Any] | None) -> RegistryBuild:
    """`entry` with what the run's end did with its snapshot (`lib.build_run.finish`)."""
    if entry.status not in ("built", "reused") or outcome is None:
        return entry  # promotion: "build failed"
    code, reason, kind = outcome.get("code"), str(outcome["reason"]), str(outcome["outcome"])
    promotion = reason if code in (None, "HELD") else str(code)
    problems = (
        [problem_object(str(code), reason, field="promotion")]
        if kind in ("refused", "checks not passed")
        else []
    )
    return replace(
        entry,
        promoted=kind == "promoted",
        promotion=promotion,
        problems=entry.problems + problems,
    )


def _run_config(root: Path, full_audit: bool, wait: float) -> dict[str, object]:
    """Quiet logs, and this build's settings for the resources (a code location's definitions
    have the defaults)."""
    workspace = {"root": str(root), "full_audit": full_audit}
    build = {"root": str(root), "wait_seconds": wait, "full_audit": full_audit}
    resources = {"registry_workspace": {"config": workspace}, "build_run": {"config": build}}
    return {**QUIET_LOGS, "resources": resources}
