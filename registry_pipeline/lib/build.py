"""`registry build`: a build run, then its promotion run, both executed in this process."""

from __future__ import annotations

import graphlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.builders.registry import BUILDERS, buildable, check_catalog
from registry_pipeline.core.errors import IO_ERROR, BuildInProgress, problem_object, render
from registry_pipeline.core.gate.checks import registry_checks
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.build_slot import DEFAULT_WAIT, require_safe
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import unexpected_note
from registry_pipeline.lib.build_run import (
    BUILD_JOB,
    SLOT_WAIT,
    command_tag,
    listening,
    resources_config,
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
from registry_pipeline.lib.promotion import (
    PROMOTION_JOB,
    PROMOTION_OP,
    STEP_TROUBLE,
    outcomes_of,
    pending_builds,
    promotion_key,
    promotions_in_progress,
)
from registry_pipeline.lib.runs import (
    PROMOTES_TAG,
    PROMOTION_TAG,
    RUN_KEY_TAG,
    clear_dead_runs,
    kept,
)

FOLLOW_POLL = 0.2
"""Seconds between two looks at the run's events (the instance cannot notify)."""
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Dagster's run log stays in the instance (the UI shows it); the CLI prints its own lines."""
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


@dataclass(frozen=True)
class BuildSummary:
    """The Dagster runs (None when there was nothing to run) and one entry per registry."""

    dagster_run_id: str | None
    success: bool
    registries: list[RegistryBuild]
    problems: list[dict[str, object]] = field(default_factory=list)
    """Why the run failed outside any registry's step (RUN_FAILED), if it did."""
    promotion_run_id: str | None = None
    """The promotion job's run that promoted this build."""
    fault: dict[str, object] | None = None
    """Why the promotion stopped: its run's failure, else a registry's step's IO_ERROR."""


def run_build(
    root: Path,
    defs: dg.Definitions,
    *,
    select: Sequence[str] = (),
    full_audit: bool = False,
    force: bool = False,
    wait: float = DEFAULT_WAIT,
    on_wait: Callable[[str], None] | None = None,
    on_entry: Callable[[RegistryBuild], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> BuildSummary:
    """Build the selected registries (all when empty) in one run of BUILD_JOB, then promote it."""
    workspace = Workspace(root)
    preflight(workspace)
    keys, checks = graph_keys(workspace, select)
    build_run = {"wait_seconds": wait, "force": force}
    config = {**QUIET_LOGS, **resources_config(str(root), full_audit, **build_run)}
    note = on_note or (lambda _line: None)
    with open_instance(root) as instance:
        settle(instance, defs, wait, on_wait, note)
        run_id = str(uuid.uuid4())
        watch = _Watch(instance, run_id, on_entry, on_wait, keys, checks)
        with kept(run_id), listening(run_id, watch.slot_wait):
            execute_here(
                defs.resolve_job_def(BUILD_JOB),
                instance,
                run_id,
                "registry build",
                run_config=config,
                asset_selection=[dg.AssetKey(registry_id) for registry_id in select] or None,
                look=watch.read,
            )
            refused = _slot_refusal(instance, run_id)
            if refused is not None:  # nothing was built: the command's answer is the refusal
                raise refused
            started = instance.get_run_by_id(run_id)
            # a build that never began (its resources failed: the lease, the storage) has
            # nothing to promote, and no door promotes it (`begin` marks a build's promotion due)
            begun = started is not None and PROMOTION_TAG in started.tags
            promotion = promote_here(instance, defs, run_id, wait, on_wait) if begun else None
        return _summary(instance, run_id, promotion, keys)


def preflight(workspace: Workspace) -> None:
    """Bad input refused before any run: the catalog, the places a build writes, the history."""
    check_catalog(load_catalog(workspace))
    require_safe(workspace)
    PointerStore(workspace).require_intact(admit=admission)


def settle_promotions(
    root: Path,
    defs: dg.Definitions,
    wait: float = DEFAULT_WAIT,
    on_wait: Callable[[str], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> None:
    """Before deciding whether to build: the dead runs cleared, every ended build promoted."""
    preflight(Workspace(root))
    with open_instance(root) as instance:
        settle(instance, defs, wait, on_wait, on_note or (lambda _line: None))


def settle(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    wait: float,
    on_wait: Callable[[str], None] | None,
    note: Callable[[str], None],
) -> None:
    """Clear dead runs, wait for promotions in progress, promote here the builds none took."""
    for line in clear_dead_runs(instance):
        note(f"cleaned up: {line}")
    deadline = time.monotonic() + wait
    said: set[str] = set()
    while (running := promotions_in_progress(instance)) and time.monotonic() < deadline:
        for run in running:
            if run.run_id not in said and on_wait is not None:
                on_wait(f"dagster run {run.run_id} promotes build "
                        f"{run.tags.get(PROMOTES_TAG)} ({run.status.value})")  # fmt: skip
            said.add(run.run_id)
        time.sleep(FOLLOW_POLL)  # waiting on another process's run: the instance cannot notify
    for pending in pending_builds(instance):  # ended while no daemon promoted them
        note(f"promoting dagster run {pending.run_id}, a build whose promotion was pending")
        promote_here(instance, defs, pending.run_id, wait, on_wait)


def graph_keys(
    workspace: Workspace, select: Sequence[str]
) -> tuple[list[dg.AssetKey], dict[dg.AssetKey, int]]:
    """The registries a build of `select` (all: empty) builds, in graph order, and their checks."""
    specs = {spec.registry_id: spec for spec in buildable(load_catalog(workspace), BUILDERS)}
    graph = graphlib.TopologicalSorter(
        {rid: [d for d in spec.depends_on if d in specs] for rid, spec in specs.items()}
    )
    graph.prepare()
    order: list[str] = []
    while graph.is_active():  # level by level, by name within a level (as the UI lists them)
        ready = sorted(graph.get_ready())
        order.extend(ready)
        graph.done(*ready)
    ids = [rid for rid in order if not select or rid in select]
    keys = [dg.AssetKey(rid) for rid in ids]
    return keys, {dg.AssetKey(rid): len(registry_checks(specs[rid])) for rid in ids}


def promote_here(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    build_run_id: str,
    wait: float,
    on_wait: Callable[[str], None] | None = None,
) -> str:
    """Run build `build_run_id`'s promotion here, as the sensor would request it: its run id."""
    run_id = str(uuid.uuid4())
    tags = {PROMOTES_TAG: build_run_id, RUN_KEY_TAG: promotion_key(instance, build_run_id)}
    config = {**QUIET_LOGS, "ops": {PROMOTION_OP: {"config": {"wait_seconds": wait}}}}

    def waiting(text: str) -> None:
        if on_wait is not None and text.startswith(SLOT_WAIT):
            on_wait(f"dagster run {run_id} (promotion): {text}")

    with listening(run_id, waiting):
        execute_here(
            defs.resolve_job_def(PROMOTION_JOB),
            instance,
            run_id,
            "registry build",
            run_config=config,
            tags=tags,
        )
    return run_id


def execute_here(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    run_id: str,
    by: str,
    *,
    run_config: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    partition_key: str | None = None,
    look: Callable[[], None] = lambda: None,
) -> dg.ExecuteInProcessResult:
    """Execute run `run_id` of `job` here while a thread calls `look`; Ctrl-C: CANCELED, raised."""
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(FOLLOW_POLL):
            try:
                look()
            except Exception:  # the storage failed: the look after the run says why, once
                return

    follower = threading.Thread(target=follow, name="run-progress", daemon=True)
    follower.start()
    interrupted = False
    try:
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            raise_on_error=False,
            run_id=run_id,
            tags={**command_tag(by), **(tags or {})},
            asset_selection=asset_selection,
            partition_key=partition_key,
        )
        # Dagster turns a Ctrl-C into a run failure, which the command reports as the
        # cancellation it is
        interrupted = any(_caused_by(event, *INTERRUPTS) for event in result.all_events)
    except KeyboardInterrupt:  # outside Dagster's own handling (before or after the run)
        interrupted = True
    finally:
        stop.set()
        follower.join()
    look()
    if interrupted:
        finished = instance.get_run_by_id(run_id)
        if finished is not None and finished.status != dg.DagsterRunStatus.CANCELED:
            instance.report_run_canceled(
                finished, message=f"interrupted (Ctrl-C) in the `{by}` that ran it"
            )
        raise KeyboardInterrupt
    return result


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
            self.events.append(event)
        for entry in entries_of(self.events, self.keys, self.checks) if self.on_entry else ():
            if entry.registry_id not in self.told:
                self.told.add(entry.registry_id)
                self.on_entry(entry)

    def slot_wait(self, text: str) -> None:
        """What the run says here as it happens: whom it waits for, said once."""
        if text.startswith(SLOT_WAIT) and self.on_wait is not None and not self.said_wait:
            self.said_wait = True
            self.on_wait(f"dagster run {self.run_id}: {text}")


def _summary(
    instance: dg.DagsterInstance,
    run_id: str,
    promotion_id: str | None,
    keys: Sequence[dg.AssetKey],
) -> BuildSummary:
    """The finished runs as the instance tells them: each registry's entry with its promotion."""
    run = instance.get_run_by_id(run_id)
    promotion = instance.get_run_by_id(promotion_id) if promotion_id else None
    if run is None or (promotion_id is not None and promotion is None):
        raise LookupError(f"run {run_id} or {promotion_id} is not in the instance")
    events = run_events(instance, run_id, ENTRY_EVENTS)
    outcome = entries_of(events, keys)
    promoted = outcomes_of(instance, promotion_id) if promotion_id else {}
    problems = run_problems(events)
    fault: dict[str, object] | None = None
    if promotion is not None:
        problems += run_problems(run_events(instance, promotion.run_id, ENTRY_EVENTS))
    if promotion is not None and promotion.status != dg.DagsterRunStatus.SUCCESS:  # why
        failure = dg.DagsterEventType.STEP_FAILURE
        failed = step_problems(run_events(instance, promotion.run_id, failure)) or [
            problem_object(
                "RUN_FAILED",
                render("RUN_FAILED", reason=f"the promotion run {promotion.status.value}"),
            )
        ]
        problems += failed
        fault = failed[0]
        said = f"promotion failed ({failed[0]['code']})"
        outcome = [replace(e, promotion=said) if e.status in ("built", "reused") else e
                   for e in outcome]  # fmt: skip
    entries = [_with_promotion(entry, promoted.get(entry.registry_id)) for entry in outcome]
    found = [*problems, *(problem for entry in entries for problem in entry.problems)]
    fault = fault or next((p for p in found if p.get("code") == IO_ERROR), None)
    success = (
        run.status == dg.DagsterRunStatus.SUCCESS
        and promotion is not None
        and promotion.status == dg.DagsterRunStatus.SUCCESS
        and all(entry.status in ("built", "reused") for entry in entries)
        and all(entry.registry_id in promoted for entry in entries)  # each one's outcome stored
        and not any(entry.problems for entry in entries)
        and not problems
    )
    return BuildSummary(run_id, success, entries, problems, promotion_id, fault)


def _with_promotion(entry: RegistryBuild, outcome: dict[str, Any] | None) -> RegistryBuild:
    """`entry` with what the build's promotion did with its snapshot (`lib.promotion`)."""
    if entry.status not in ("built", "reused") or outcome is None:
        return entry  # promotion: "build failed"
    code, reason, kind = outcome.get("code"), str(outcome["reason"]), str(outcome["outcome"])
    promotion = reason if code in (None, "HELD") else str(code)
    if kind in ("refused", "checks not passed"):
        problem = problem_object(str(code), reason, path=outcome.get("path"), field="promotion")
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
    step = key.to_python_identifier()
    failed = [e for e in events if e.is_step_failure and e.step_key == step]
    if metadata is None:
        return RegistryBuild(
            key.to_user_string(),
            "failed" if failed else "skipped",
            problems=problems or step_problems(failed),
        )
    problems = [*problems, *step_problems(failed)]  # sealed, then its checks' step failed
    reused = bool(metadata["reused_snapshot"].value) if "reused_snapshot" in metadata else False
    ok = all(checks.values()) and not failed
    status = "reused" if ok and reused else "built" if ok else "failed"
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
    problems: list[dict[str, object]] = []
    said = ""
    for event in events:
        data = event.event_specific_data
        error = getattr(data, "error", None)
        while error is not None and error.cause is not None:
            error = error.cause
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            said = (event.message or "").strip()
            # the machinery failed (a resource's teardown): not a success; but a step's stdout
            # capture (`tail` not on PATH) costs only the UI's view of its output
            if error is None or "compute log capture" in said:
                continue
            text = f"{said} {error.message.strip()}".strip()
        elif event.event_type != dg.DagsterEventType.RUN_FAILURE or (
            data is not None and _named(data.failure_reason) == "STEP_FAILURE"
        ):
            continue
        else:
            text = error.message.strip() if error is not None else (event.message or "").strip()
            text += f" (the engine's last word: {said})" if error is None and said else ""
        problems.append(problem_object("RUN_FAILED", render("RUN_FAILED", reason=text)))
    return problems


def _named(reason: Any) -> str:
    """A run failure's reason by its name (Dagster's enum of them is not exported)."""
    return str(getattr(reason, "value", reason))
