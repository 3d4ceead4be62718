"""`registry build`: one build-job run, launched or in process, reported from its events."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.builders.registry import check_catalog
from registry_pipeline.core.errors import BuildInProgress, RegistryError, problem_object
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.build_slot import (
    DEFAULT_WAIT,
    in_progress,
    require_safe,
)
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import unexpected_note
from registry_pipeline.lib.build_run import (
    BUILD_JOB,
    SLOT_WAIT_KEY,
    STEP_TROUBLE,
    SUBMITTER_TAG,
    builds_in_progress,
    process_end,
    process_tag,
    promotions,
    resources_config,
    tagged_pid,
)
from registry_pipeline.lib.failures import (
    check_verdicts,
    listed,
    materialized_metadata,
    run_events,
    step_problems,
)
from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.io_manager import UNEXPECTED_FILES
from registry_pipeline.lib.launcher import (
    LOCATION,
    WORKER_TAG,
    RegistryRunLauncher,
    cancel_run,
    code_location,
    create_run,
    wait_for_run,
)

FOLLOW_POLL = 0.2
"""Seconds between two looks at the run's events (the instance cannot notify)."""
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Dagster's run log stays in the instance (the UI shows it); the CLI prints its own lines."""
IN_PROCESS_ENV = "REGISTRY_BUILD_IN_PROCESS"
"""Set to 1: `registry build` executes its run in process, as with `--in-process`."""
RUN_TIMEOUT = 24 * 3600.0
"""Seconds `registry build` waits for the run it launched before cancelling it."""
ENTRY_EVENTS = {
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.ENGINE_EVENT,
}
"""The events an outcome is decided from (the rest of the run's log stays in the instance)."""
INTERRUPTS = ("DagsterExecutionInterruptedError", "KeyboardInterrupt")


def runs_here(in_process: bool | None) -> bool:
    """Whether Dagster runs execute here: as `--in-process` says, else REGISTRY_BUILD_IN_PROCESS."""
    if in_process is not None:
        return in_process
    return os.environ.get(IN_PROCESS_ENV, "").strip() == "1"


@dataclass(frozen=True)
class BuildSummary:
    """The Dagster run (None when there was nothing to run) and one entry per registry."""

    dagster_run_id: str | None
    success: bool
    registries: list[RegistryBuild]
    problems: list[dict[str, object]] = field(default_factory=list)
    """Why the run failed outside any registry's step (RUN_FAILED), if it did."""


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
    """Build the selected registries (all when empty) in one run of BUILD_JOB and summarize it."""
    workspace = Workspace(root)
    # the run's own first checks, made here too so that bad input is refused before a run
    check_catalog(load_catalog(workspace))
    require_safe(workspace)
    PointerStore(workspace).require_intact(admit=admission)
    in_process = runs_here(in_process)
    tags = {SUBMITTER_TAG: process_tag()}
    selection = [dg.AssetKey(registry_id) for registry_id in select] or None
    config = {**QUIET_LOGS, **resources_config(str(root), full_audit, wait_seconds=wait)}

    with open_instance(root) as instance:
        # loaded here when this process executes the run or the instance's launcher forks it
        here = in_process or isinstance(instance.run_launcher, RegistryRunLauncher)
        with code_location(instance, root, here=here) as context:
            keys, checks = _graph_keys(context, selection)
            run = create_run(context, BUILD_JOB, tags, config, selection)
            watch = _Watch(instance, run.run_id, on_entry, on_wait, keys, checks)
            if in_process:
                execute_here(context, run, "registry build", watch.read)
            else:
                _launch(context, run, wait, watch)
        refused = _slot_refusal(instance, run.run_id)
        if refused is not None:  # nothing was built: the command's answer is the refusal
            raise refused
        return _summary(instance, run.run_id, keys)


def _graph_keys(
    context: Any, selection: Sequence[dg.AssetKey] | None
) -> tuple[list[dg.AssetKey], dict[dg.AssetKey, int]]:
    """The registries the run builds, in the graph's order, and how many checks it runs on each."""
    location = context.create_request_context().get_code_location(LOCATION)
    (repository,) = location.get_repositories().values()
    graph = repository.asset_graph
    keys = [
        key
        for key in graph.toposorted_asset_keys
        if graph.get(key).is_executable
        and BUILD_JOB in graph.get(key).job_names
        and (not selection or key in selection)
    ]
    return keys, {key: len(graph.get(key).check_keys) for key in keys}


def execute_here(
    context: Any, run: dg.DagsterRun, by: str, look: Callable[[], None] = lambda: None
) -> None:
    """Execute `run` here while a thread calls `look`; Ctrl-C leaves it CANCELED and re-raises."""
    from dagster._core.execution.api import execute_run_iterator
    from dagster._utils.hosted_user_process import recon_job_from_origin

    origin = run.job_code_origin
    assert origin is not None  # created from a code location
    job = recon_job_from_origin(origin)
    instance = context.instance
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(FOLLOW_POLL):
            look()

    follower = threading.Thread(target=follow, name="run-progress", daemon=True)
    follower.start()
    interrupted = False
    try:
        for event in execute_run_iterator(job, run, instance):  # Dagster turns a Ctrl-C into
            # a run failure, which the command reports as the cancellation it is
            interrupted = interrupted or _caused_by(event, *INTERRUPTS) is not None
    except KeyboardInterrupt:  # outside Dagster's own handling (before or after the run)
        interrupted = True
    finally:
        stop.set()
        follower.join()
    look()
    if interrupted:
        finished = instance.get_run_by_id(run.run_id)
        if finished is not None and finished.status != dg.DagsterRunStatus.CANCELED:
            instance.report_run_canceled(
                finished, message=f"interrupted (Ctrl-C) in the `{by}` that ran it"
            )
        raise KeyboardInterrupt


def _slot_refusal(instance: dg.DagsterInstance, run_id: str) -> BuildInProgress | None:
    """The run's BUILD_IN_PROGRESS when it failed waiting for the build slot, else None."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        error = _caused_by(record.dagster_event, BuildInProgress.__name__)
        if error is not None:
            return BuildInProgress(error.message.split(": ", 1)[-1].strip())
    return None


def _caused_by(event: Any, *names: str) -> Any:
    """The error of run failure `event`, or its first cause, whose class is one of `names`."""
    if event is None or event.event_type != dg.DagsterEventType.RUN_FAILURE:
        return None
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cls_name not in names:
        error = error.cause
    return error


def _launch(context: Any, run: dg.DagsterRun, wait: float, watch: _Watch) -> None:
    """Queue `run` and wait for it; still queued after `wait` seconds: BUILD_IN_PROGRESS."""
    instance = context.instance
    queued_since = time.monotonic()
    looks = 0

    def poll(current: dg.DagsterRun) -> None:
        nonlocal looks
        looks += 1
        watch.read()
        _fail_if_worker_ended(instance, current)
        if current.status != dg.DagsterRunStatus.QUEUED:
            return
        ahead = builds_in_progress(instance, run.run_id)
        if ahead:
            watch.waiting(f"queued behind {ahead} (one build at a time)")
        # the first look comes before the queue was asked once: any run is queued then
        if looks > 1 and time.monotonic() - queued_since >= wait:
            raise in_progress(ahead or "another build run", "the instance's run queue", wait)

    instance.submit_run(run.run_id, context.create_request_context())
    try:
        finished = wait_for_run(context, run.run_id, timeout=RUN_TIMEOUT, on_poll=poll)
    except BaseException:
        cancel_run(context, run.run_id)
        raise
    finally:
        if isinstance(instance.run_launcher, RegistryRunLauncher):
            instance.run_launcher.reap()  # none of its forked run workers left a zombie
    watch.read()
    if finished.status == dg.DagsterRunStatus.CANCELED:
        raise RegistryError(
            f"dagster run {run.run_id} was cancelled before it finished (from the UI?); "
            "nothing was promoted",
            code="RUN_CANCELED",
        )


def _fail_if_worker_ended(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Mark `run` FAILED when its forked run worker ended first: nothing else would end it."""
    pid = tagged_pid(run.tags.get(WORKER_TAG))
    if pid is None or run.status not in (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED):
        return
    ended = process_end(pid)
    latest = instance.get_run_by_id(run.run_id) if ended else None
    if latest is not None and not latest.is_finished:  # what it wrote before it ended is in
        instance.report_run_failed(
            latest,
            message=f"its run worker (pid {pid}) {ended} before the run finished; build again",
        )


@dataclass
class _Watch:
    """What the command says as its run goes on: each registry's line, and why it waits."""

    instance: dg.DagsterInstance
    run_id: str
    on_entry: Callable[[RegistryBuild], None] | None
    on_wait: Callable[[str], None] | None
    keys: list[dg.AssetKey]
    checks: dict[dg.AssetKey, int]
    events: list[Any] = field(default_factory=list)
    told: set[str] = field(default_factory=set)
    cursor: str | None = None
    said_wait: bool = False

    def read(self) -> None:
        """Say what the run's events since the last look finish, and why the run waits."""
        if self.on_entry is None and self.on_wait is None:
            return
        result = self.instance.get_records_for_run(self.run_id, self.cursor, ENTRY_EVENTS)
        self.cursor = result.cursor
        for record in result.records:
            event: Any = record.event_log_entry.dagster_event  # of an ENTRY_EVENTS type
            metadata = getattr(event.event_specific_data, "metadata", None) or {}
            if event.event_type == dg.DagsterEventType.ENGINE_EVENT and SLOT_WAIT_KEY in metadata:
                self.waiting(f"waiting for the build slot, held by {metadata[SLOT_WAIT_KEY].value}")
            self.events.append(event)
        for entry in entries_of(self.events, self.keys, self.checks) if self.on_entry else ():
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
    events = run_events(instance, run_id, ENTRY_EVENTS)
    outcome = entries_of(events, keys)
    promoted = promotions(events)
    entries = [_with_promotion(entry, promoted.get(entry.registry_id)) for entry in outcome]
    success = (
        run.status == dg.DagsterRunStatus.SUCCESS
        and all(entry.status in ("built", "reused") for entry in entries)
        and not any(entry.problems for entry in entries)
    )
    return BuildSummary(run_id, success, entries, run_problems(events))


def _with_promotion(entry: RegistryBuild, outcome: dict[str, Any] | None) -> RegistryBuild:
    """`entry` with what the run's end did with its snapshot (`lib.build_run.finish`)."""
    if entry.status not in ("built", "reused") or outcome is None:
        return entry  # promotion: "build failed"
    code, reason, kind = outcome.get("code"), str(outcome["reason"]), str(outcome["outcome"])
    promotion = reason if code in (None, "HELD") else str(code)
    if kind in ("refused", "checks not passed"):
        problem = problem_object(str(code), reason, field="promotion")
        entry = replace(entry, problems=[*entry.problems, problem])
    return replace(entry, promoted=kind == "promoted", promotion=promotion)


@dataclass(frozen=True)
class RegistryBuild:
    """What one build did to one registry (`registry build --json` prints its fields in order)."""

    registry_id: str
    status: str
    """`built`, `reused`, `failed` (a step or a check failed) or `skipped` (upstream failed)."""
    run_id: str | None = None
    root_sha256: str | None = None
    record_count: int | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    promoted: bool = False
    """True when this build moved the registry's active pointer to `run_id`."""
    promotion: str = "build failed"
    """Why not, when not: "already active", "NOT_NEWER", "no pointer by design", ..."""
    problems: list[dict[str, object]] = field(default_factory=list)
    """`problem_object`s: what failed (a check, the step, the promotion), never a warning."""
    notes: list[str] = field(default_factory=list)
    """What the build noticed without failing (files a source's glob left out)."""


def entries_of(
    events: Sequence[Any],
    keys: Sequence[dg.AssetKey],
    checks: Mapping[dg.AssetKey, int] | None = None,
) -> list[RegistryBuild]:
    """Each asset's entry among a run's `events`, in `keys` order; with `checks`, finished ones."""
    entries = [_entry(events, key) for key in keys]
    if checks is None:
        return entries
    ended = {e.step_key for e in events if e.event_type in STEP_TROUBLE}
    return [
        entry
        for key, entry in zip(keys, entries, strict=True)
        if key.to_python_identifier() in ended
        or (entry.run_id is not None and len(entry.checks) >= checks.get(key, 0))
    ]


def _entry(events: Sequence[Any], key: dg.AssetKey) -> RegistryBuild:
    checks, problems = check_verdicts(events, key)
    metadata = materialized_metadata(events, key)
    if metadata is None:
        step = key.to_python_identifier()
        failed = [e for e in events if e.is_step_failure and e.step_key == step]
        return RegistryBuild(
            key.to_user_string(),
            "failed" if failed else "skipped",
            problems=problems or step_problems(failed),
        )
    reused = bool(metadata["reused_snapshot"].value) if "reused_snapshot" in metadata else False
    status = "failed" if not all(checks.values()) else ("reused" if reused else "built")
    count = metadata.get("record_count")
    unexpected = [unexpected_note(str(path)) for path in listed(metadata, UNEXPECTED_FILES)]
    notes = [str(note) for note in listed(metadata, "notes")]  # a builder's own (unread lines)
    return RegistryBuild(
        key.to_user_string(),
        status,
        str(metadata["run_id"].value),
        str(metadata["root_sha256"].value),
        int(str(count.value)) if count is not None else None,
        checks,
        problems=problems,
        notes=unexpected + notes,
    )


def run_problems(events: Sequence[Any]) -> list[dict[str, object]]:
    """The run's failure outside its steps: the innermost exception, else the engine's last word."""
    from dagster._core.events import RunFailureReason

    problems: list[dict[str, object]] = []
    said = ""
    for event in events:
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            said = (event.message or "").strip()
            continue
        data = event.event_specific_data
        if event.event_type != dg.DagsterEventType.RUN_FAILURE or (
            data is not None and data.failure_reason == RunFailureReason.STEP_FAILURE
        ):
            continue
        error = data.error if data is not None else None
        while error is not None and error.cause is not None:
            error = error.cause
        text = error.message.strip() if error is not None else (event.message or "").strip()
        if error is None and said:
            text = f"{text} (the engine's last word: {said})"
        problems.append(problem_object("RUN_FAILED", f"{text} (the run's log is in the UI)"))
    return problems
