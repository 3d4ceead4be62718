"""What a build did to each registry, decided from its Dagster run's events as the instance keeps
them: one function (`run_entries`) for a run `registry build` executed in process and for one it
launched through the code location (a run worker wrote its events), so both paths say the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from registry_pipeline.core.errors import problem_object
from registry_pipeline.core.gate.verdict import problem_objects
from registry_pipeline.core.workspace.sources import unexpected_note
from registry_pipeline.lib.failures import step_problems
from registry_pipeline.lib.io_manager import UNEXPECTED_FILES

ENTRY_EVENTS = {
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.ENGINE_EVENT,
}
"""The events an outcome is decided from (the rest of the run's log stays in the instance)."""


@dataclass(frozen=True)
class RegistryBuild:
    """What one build did to one registry."""

    registry_id: str
    status: str
    """`built`, `reused`, `failed` (a step or a check failed) or `skipped` (upstream failed)."""
    run_id: str | None = None
    root_sha256: str | None = None
    record_count: int | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[dict[str, object]] = field(default_factory=list)
    """`problem_object`s: what failed (a check, the step, the promotion), never a warning."""
    promoted: bool = False
    """True when this build moved the registry's active pointer to `run_id`."""
    promotion: str = "build failed"
    """Why not, when not: "already active", "NOT_NEWER", "no pointer by design", ..."""
    notes: list[str] = field(default_factory=list)
    """What the build noticed without failing (files a source's glob left out)."""

    def as_json(self) -> dict[str, object]:
        """The object `registry build --json` prints for this registry."""
        return {
            "registry_id": self.registry_id,
            "status": self.status,
            "run_id": self.run_id,
            "root_sha256": self.root_sha256,
            "record_count": self.record_count,
            "checks": self.checks,
            "promoted": self.promoted,
            "promotion": self.promotion,
            "problems": self.problems,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class RunOutcome:
    """A finished build run as the instance tells it."""

    success: bool
    """The run succeeded (every step, every blocking check)."""
    interrupted: bool
    """Dagster stopped it on an interrupt (Ctrl-C, a cancel): nothing may be promoted."""
    entries: dict[str, RegistryBuild]
    """Registry id -> entry, for each asset the run was asked to materialize."""
    problems: list[dict[str, object]]
    """Why the run failed outside any step (its resources, its run worker), as RUN_FAILED."""


def run_entries(
    instance: dg.DagsterInstance, dagster_run_id: str, keys: Sequence[dg.AssetKey]
) -> RunOutcome:
    """The outcome of the finished run `dagster_run_id` for the assets `keys` it materialized
    (or failed, or skipped), from its events in `instance`."""
    run = instance.get_run_by_id(dagster_run_id)
    if run is None:
        raise LookupError(f"run {dagster_run_id} is not in the instance")
    records = instance.all_logs(dagster_run_id, of_type=ENTRY_EVENTS)
    events = [record.dagster_event for record in records if record.dagster_event is not None]
    entries = {key.to_user_string(): _entry(events, key) for key in keys}
    success = run.status == dg.DagsterRunStatus.SUCCESS
    return RunOutcome(success, _interrupted(events), entries, _run_problems(events))


def _entry(events: Sequence[Any], key: dg.AssetKey) -> RegistryBuild:
    step = key.to_python_identifier()
    evaluations = [
        e.event_specific_data
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and e.event_specific_data.asset_key == key
    ]
    checks = {evaluation.check_name: evaluation.passed for evaluation in evaluations}
    problems = [
        problem
        for evaluation in evaluations
        for problem in problem_objects(
            evaluation.check_name,
            evaluation.passed,
            evaluation.description,
            {name: value.value for name, value in evaluation.metadata.items()},
        )
    ]
    materialized = [
        e.step_materialization_data.materialization
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and e.asset_key == key
    ]
    if not materialized:
        failed = [e for e in events if e.is_step_failure and e.step_key == step]
        return RegistryBuild(
            key.to_user_string(),
            "failed" if failed else "skipped",
            problems=problems or step_problems(failed),
        )
    metadata = materialized[-1].metadata
    reused = bool(metadata["reused_snapshot"].value) if "reused_snapshot" in metadata else False
    status = "failed" if not all(checks.values()) else ("reused" if reused else "built")
    count = metadata.get("record_count")
    listed = metadata.get(UNEXPECTED_FILES)
    unexpected = listed.value if listed is not None and isinstance(listed.value, list) else []
    said = metadata.get("notes")  # a builder's own notes (lines of its inputs it could not read)
    notes = [str(note) for note in said.value] if said and isinstance(said.value, list) else []
    return RegistryBuild(
        key.to_user_string(),
        status,
        str(metadata["run_id"].value),
        str(metadata["root_sha256"].value),
        int(str(count.value)) if count is not None else None,
        checks,
        problems,
        notes=[unexpected_note(str(path)) for path in unexpected] + notes,
    )


def _interrupted(events: Sequence[Any]) -> bool:
    """Whether Dagster stopped the run on an interrupt (it captures SIGINT during the run, and a
    run worker a cancel, and fails the step it was in rather than letting it through)."""
    interrupts = ("DagsterExecutionInterruptedError", "KeyboardInterrupt")
    return any(
        event.is_step_failure
        and event.step_failure_data.error is not None
        and event.step_failure_data.error.cls_name in interrupts
        for event in events
    )


def _run_problems(events: Sequence[Any]) -> list[dict[str, object]]:
    """The run's own failure when it failed outside its steps (a resource that did not start,
    its run worker gone): the innermost exception, else its message with the engine's last word
    before it (how the code server saw its run worker end). A failed step says it itself."""
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

