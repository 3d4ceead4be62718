"""What a build did to each registry, decided from its Dagster run's events: one function
(`entries_of`) for a run `registry build` executed in process and for one it launched (a run
worker wrote its events), while it goes on and once it has finished, so every path says the
same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    dg.DagsterEventType.STEP_SKIPPED,
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


def entries_of(
    events: Sequence[Any],
    keys: Sequence[dg.AssetKey],
    checks: Mapping[dg.AssetKey, int] | None = None,
) -> list[RegistryBuild]:
    """The entry of each asset of `keys` (in that order) among a run's `events`. With `checks`
    (asset -> how many checks the run runs on it: the run goes on), only the registries whose
    outcome is in: materialized with every check evaluated, or their step failed or skipped."""
    if checks is None:
        return [_entry(events, key) for key in keys]
    return [_entry(events, key) for key in keys if _done(events, key, checks.get(key, 0))]


def _done(events: Sequence[Any], key: dg.AssetKey, checks: int) -> bool:
    step = key.to_python_identifier()
    ended = (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED)
    if any(e.event_type in ended and e.step_key == step for e in events):
        return True
    if not any(
        e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and e.asset_key == key
        for e in events
    ):
        return False
    evaluated = {
        e.event_specific_data.check_name
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and e.event_specific_data.asset_key == key
    }
    return len(evaluated) >= checks


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


def run_problems(events: Sequence[Any]) -> list[dict[str, object]]:
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
