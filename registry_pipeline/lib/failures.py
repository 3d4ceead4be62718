"""Our errors as Dagster step failures and check results, so the UI shows the real cause."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import dagster as dg

from registry_pipeline.core.errors import (
    Problem,
    RegistryError,
    io_error,
    problem_object,
    problem_text,
)
from registry_pipeline.core.gate.verdict import CheckVerdict, problem_objects

MAX_LISTED = 50


def step_failure(
    code: str, path: str | None, message: str, problems: Sequence[Problem] = ()
) -> dg.Failure:
    """A `dg.Failure` reading like the CLI's errors, its problems (up to MAX_LISTED) in metadata."""
    lines = [problem_text(problem_object(code, message, path=path))]
    lines.extend(f"  {problem_text(problem)}" for problem in problems[:5])
    if len(problems) > 5:
        lines.append(f"  (+{len(problems) - 5} more in the metadata)")
    metadata: dict[str, Any] = {"reason_code": code, "path": path or ""}
    if problems:
        metadata["problems"] = dg.MetadataValue.json(
            [problem.as_json() for problem in problems[:MAX_LISTED]]
        )
        metadata["problem_count"] = len(problems)
    return dg.Failure(description="\n".join(lines), metadata=metadata, allow_retries=False)


def failure_problems(description: str, metadata: Mapping[str, Any]) -> list[dict[str, object]]:
    """A `step_failure` read back as problem objects: its own, then those its metadata lists."""
    values = {name: getattr(value, "value", value) for name, value in metadata.items()}
    code = str(values.get("reason_code") or "STEP_FAILED")
    path = str(values.get("path") or "") or None
    first, prefix = description.splitlines()[0], problem_text(problem_object(code, "", path=path))
    listed = values.get("problems")
    return [
        problem_object(code, first.removeprefix(prefix), path=path),
        *(dict(item) for item in (listed if isinstance(listed, list) else [])),
    ]


@contextmanager
def as_step_failure(
    where: Callable[[str | None], str | None] = lambda path: path,
) -> Iterator[None]:
    """Our errors and OSErrors as a `step_failure`, paths via `where`; anything else is a bug."""
    try:
        yield
    except dg.Failure:
        raise
    except RegistryError as exc:
        problems = [replace(problem, path=where(problem.path)) for problem in exc.problems]
        raise step_failure(exc.code, where(exc.path), exc.message, problems) from None
    except OSError as exc:
        error = io_error(exc)
        raise step_failure(error.code, error.path, error.message) from None


def step_problems(events: Sequence[Any]) -> list[dict[str, object]]:
    """What failed steps among `events` say; one failed by a blocking check adds nothing."""
    found: list[dict[str, object]] = []
    for event in events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        failure = data.user_failure_data
        if failure is not None and failure.description:
            found.extend(failure_problems(failure.description, failure.metadata))
            continue
        error = data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            continue
        said = error.message.strip() if error else "step failed"
        bug = Problem.of("INTERNAL", error=said, traceback="the Dagster UI shows its traceback")
        found.append(bug.as_json())
    return found


def run_events(
    instance: dg.DagsterInstance,
    run_id: str,
    kind: dg.DagsterEventType | set[dg.DagsterEventType],
) -> list[Any]:
    """The events of `kind` (one, or a set) in Dagster run `run_id`, oldest first."""
    records = instance.get_records_for_run(run_id, of_type=kind).records
    return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]


def check_verdicts(
    events: Sequence[Any], key: dg.AssetKey
) -> tuple[dict[str, bool], list[dict[str, object]]]:
    """The checks `events` evaluated on `key`: name -> passed, and the failed ones' problems."""
    evaluations = [
        e.event_specific_data
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and e.event_specific_data.asset_key == key
    ]
    problems = [
        problem
        for e in evaluations
        for problem in problem_objects(
            e.check_name, e.passed, e.description, {k: v.value for k, v in e.metadata.items()}
        )
    ]
    return {e.check_name: e.passed for e in evaluations}, problems


def materialized_metadata(events: Sequence[Any], key: dg.AssetKey) -> Mapping[str, Any] | None:
    """The metadata of the last materialization of `key` among a run's `events`, if any."""
    materialized = [
        e.step_materialization_data.materialization
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and e.asset_key == key
    ]
    return materialized[-1].metadata if materialized else None


def listed(metadata: Mapping[str, Any], name: str) -> list[Any]:
    """The list a metadata entry holds (empty when absent or not a list)."""
    value = getattr(metadata.get(name), "value", None)
    return value if isinstance(value, list) else []


def as_check_result(verdict: CheckVerdict, key: dg.AssetKey) -> dg.AssetCheckResult:
    """`verdict` as the AssetCheckResult of `key`: lists and objects as JSON, `path` a path."""
    metadata: dict[str, Any] = {}
    for name, value in verdict.metadata.items():
        if name == "path" and isinstance(value, str):
            metadata[name] = dg.MetadataValue.path(value)
        elif isinstance(value, dict) or (isinstance(value, list) and name != "reason_codes"):
            metadata[name] = dg.MetadataValue.json(value)
        else:
            metadata[name] = value
    if verdict.inputs:
        metadata["inputs"] = dg.MetadataValue.json([ref.as_input_json() for ref in verdict.inputs])
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=verdict.name,
        passed=verdict.passed,
        metadata=metadata,
        description=verdict.description,
    )
