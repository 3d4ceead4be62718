"""Backfilling `drift_signals_daily`: a real Dagster backfill of its job over the days, submitted
through the workspace's code location (`lib/launch.py`), so it is listed in the UI's Backfills
tab, each day a run of the job on its page, resumable and cancellable there; or, `in_process`,
one in-process run per day on the workspace's instance (tests, a machine without code server).
Either way each day's outcome is read from the same events by one function (`_outcome`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import dagster as dg

from registry_pipeline.core.builders.drift_days import DAILY_REGISTRY_ID
from registry_pipeline.core.errors import problem_object
from registry_pipeline.core.gate.verdict import problem_objects
from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.failures import step_problems
from registry_pipeline.lib.instance import dagster_home, open_instance

BACKFILL_TIMEOUT = 6 * 3600.0
"""Seconds a backfill is driven before the command gives up waiting (it stays in the instance,
REQUESTED: driving it again, or a daemon, resumes it)."""


class DefinitionsFactory(Protocol):
    """Makes a workspace's Definitions (`definitions.build_definitions`): lib is given the graph."""

    def __call__(self, root: Path) -> dg.Definitions: ...


@dataclass(frozen=True)
class DayOutcome:
    """What backfilling one day did."""

    day: date
    success: bool
    dagster_run_id: str
    run_id: str | None = None
    root_sha256: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    """Signals by value: true, false, unknown."""
    missing_history: list[str] = field(default_factory=list)
    problems: list[dict[str, object]] = field(default_factory=list)
    """`problem_object`s: each failed check's problems, the failed step's cause."""

    def as_json(self) -> dict[str, object]:
        """The object `registry drift backfill --json` prints for this day."""
        return {
            "day": self.day.isoformat(),
            "success": self.success,
            "dagster_run_id": self.dagster_run_id,
            "run_id": self.run_id,
            "root_sha256": self.root_sha256,
            "signals": self.counts,
            "missing_history": self.missing_history,
            "problems": self.problems,
        }


def run_drift_backfill(
    root: Path,
    days: Sequence[date],
    definitions: DefinitionsFactory,
    on_day: Callable[[DayOutcome], None] | None = None,
    *,
    in_process: bool = False,
    checks: Sequence[str] = (),
    job_name: str = "",
) -> list[DayOutcome]:
    """Materialize day partitions of drift_signals_daily: a Dagster backfill of `job_name`
    (whose blocking `checks` every day must pass), or, `in_process`, one run per day in order
    with the job of the graph `definitions` makes (`definitions.build_definitions`)."""
    home = dagster_home(root)
    os.environ["DAGSTER_HOME"] = str(home)
    if not in_process:  # the graph made here first: a broken catalog says its reason code
        definitions(root)  # before a code server starts (it would only say it did not load)
        return _as_backfill(root, days, job_name, checks, on_day)
    outcomes: list[DayOutcome] = []
    with (
        open_instance(root) as instance,
        inspection_cache(Workspace(root).verdicts_path),
    ):
        # resolved inside the instance's context (see lib.build._run_build)
        graph = definitions(root)
        job = _daily_job(graph)
        daily = graph.resolve_assets_def(dg.AssetKey(DAILY_REGISTRY_ID))
        expected = [spec.name for spec in daily.check_specs]
        for day in days:
            result = job.execute_in_process(
                instance=instance,
                partition_key=day.isoformat(),
                raise_on_error=False,
                run_config=QUIET_LOGS,
                tags={"registry_pipeline/backfill": f"{days[0]}..{days[-1]}"},
            )
            events = [event for event in result.all_events]
            outcome = _outcome(day, result.run_id, result.success, events, expected)
            outcomes.append(outcome)
            if on_day is not None:
                on_day(outcome)
    return outcomes


def _as_backfill(
    root: Path,
    days: Sequence[date],
    job_name: str,
    expected: Sequence[str],
    on_day: Callable[[DayOutcome], None] | None,
) -> list[DayOutcome]:
    from dagster._core.storage.tags import BACKFILL_ID_TAG, PARTITION_NAME_TAG

    from registry_pipeline.lib.launch import code_location, create_job_backfill, drive_backfill

    keys = [day.isoformat() for day in days]
    with open_instance(root) as instance, code_location(instance, root) as context:
        backfill_id = create_job_backfill(
            context, job_name, keys, title=f"drift_signals_daily {keys[0]}..{keys[-1]}",
            tags={"registry_pipeline/backfill": f"{keys[0]}..{keys[-1]}"},
        )  # fmt: skip
        reported: dict[str, DayOutcome] = {}

        def report(_backfill: object = None) -> None:
            runs = instance.get_runs(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
            for run in sorted(runs, key=lambda r: keys.index(r.tags[PARTITION_NAME_TAG])):
                key = run.tags[PARTITION_NAME_TAG]
                if run.is_finished and key not in reported:
                    success = run.status == dg.DagsterRunStatus.SUCCESS
                    events = [e.dagster_event for e in instance.all_logs(run.run_id)]
                    day = days[keys.index(key)]
                    reported[key] = _outcome(day, run.run_id, success, events, expected)
                    if on_day is not None:
                        on_day(reported[key])

        drive_backfill(context, backfill_id, timeout=BACKFILL_TIMEOUT, on_poll=report)
        report()
    return [reported[key] for key in keys if key in reported]


def _daily_job(definitions: dg.Definitions) -> dg.JobDefinition:
    """The graph's declared job that materializes drift_signals_daily alone (its schedule's)."""
    daily = {dg.AssetKey(DAILY_REGISTRY_ID)}
    for declared in definitions.jobs or ():
        job = definitions.resolve_job_def(declared.name)
        if job.asset_layer.asset_graph.executable_asset_keys == daily:
            return job
    raise LookupError(f"the graph declares no job that materializes {DAILY_REGISTRY_ID} alone")


def _outcome(
    day: date, dagster_run_id: str, success: bool, events: Sequence[Any], expected: Sequence[str]
) -> DayOutcome:
    """One day's outcome from its run's events (an in-process result's, or the instance's event
    log of a backfill's run): the checks' verdicts and problems, the sealed snapshot."""
    events = [event for event in events if event is not None]
    evaluations = [
        e.event_specific_data
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    checks = {e.check_name: e.passed for e in evaluations}
    problems = [
        problem
        for e in evaluations
        for problem in problem_objects(
            e.check_name, e.passed, e.description, {k: v.value for k, v in e.metadata.items()}
        )
    ]
    unchecked = [name for name in expected if name not in checks]
    problems += [
        problem_object(
            "CHECK_NOT_RUN", f"{name} was not evaluated: the day is not checked", check=name
        )
        for name in unchecked
        if success  # else the step's failure says why
    ]
    problems += step_problems(events)
    materialized = [
        e.step_materialization_data.materialization
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and e.asset_key == dg.AssetKey(DAILY_REGISTRY_ID)
    ]
    if not materialized:
        unsealed = problem_object("NOT_MATERIALIZED", "no snapshot of the day was sealed")
        return DayOutcome(day, False, dagster_run_id, problems=problems or [unsealed])
    metadata = materialized[-1].metadata
    counts = {
        key.removeprefix("signals_"): int(str(value.value))
        for key, value in metadata.items()
        if key.startswith("signals_")
    }
    missing = metadata.get("missing_history")
    return DayOutcome(
        day,
        success and all(checks.values()) and not unchecked,
        dagster_run_id,
        str(metadata["run_id"].value),
        str(metadata["root_sha256"].value),
        counts,
        list(missing.value) if missing is not None else [],
        problems,
    )
