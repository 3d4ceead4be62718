"""Backfilling `drift_signals_daily`: a real Dagster backfill of its job over the days, through
the workspace's code location (`lib.launcher`), so the UI lists it and can resume or cancel it;
or, `in_process`, one in-process run per day on the workspace's instance. Either way each day's
outcome is read from its run's events by one function (`_outcome`).

First, the shortcut: a day already computed is REUSED without a run when running it would only
reuse its sealed folder and pass its checks (`core.builders.drift_days.reusable_day`) and the
instance records that very folder as the day's materialization."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.builders.drift_days import DAILY_REGISTRY_ID, reusable_day
from registry_pipeline.core.errors import problem_object
from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.failures import (
    check_verdicts,
    listed,
    materialized_metadata,
    step_problems,
)
from registry_pipeline.lib.instance import dagster_home, open_instance

BACKFILL_TIMEOUT = 6 * 3600.0
"""Seconds a backfill is driven before the command gives up waiting (it stays in the instance,
REQUESTED: driving it again, or a daemon, resumes it)."""


DefinitionsFactory = Callable[[Path], dg.Definitions]
"""Makes a workspace's Definitions (`definitions.build_definitions`): lib is given the graph."""


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
    reused: bool = False
    """The day's folder was sealed before (the shortcut's `dagster_run_id` is the run that
    recorded it)."""

    @property
    def status(self) -> str:
        """`OK` (sealed and checked now), `REUSED` (sealed before, checked now) or `FAILED`."""
        return "FAILED" if not self.success else "REUSED" if self.reused else "OK"

    def as_json(self) -> dict[str, object]:
        """The object `registry drift backfill --json` prints for this day."""
        return {
            "day": self.day.isoformat(),
            "status": self.status,
            "success": self.success,
            "reused": self.reused,
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
    shortcut: bool = True,
) -> list[DayOutcome]:
    """Materialize day partitions of drift_signals_daily: the days already computed reused
    without a run (with `shortcut`), the others as a Dagster backfill of `job_name` (whose
    blocking `checks` every day must pass), or, `in_process`, one run per day with the job of
    the graph `definitions` makes."""
    os.environ["DAGSTER_HOME"] = str(dagster_home(root))
    definitions(root)  # first: a broken catalog says its reason code, before anything runs
    reused = reused_days(root, days) if shortcut else {}
    for outcome in reused.values() if on_day is not None else ():
        on_day(outcome)
    rest = [day for day in days if day not in reused]
    ran = []
    if rest and in_process:
        ran = _in_process(root, rest, definitions, on_day)
    elif rest:
        ran = _as_backfill(root, rest, job_name, checks, on_day)
    return sorted([*reused.values(), *ran], key=lambda outcome: outcome.day)


def reused_days(root: Path, days: Sequence[date]) -> dict[date, DayOutcome]:
    """The days a run would only reuse, whose folder the instance records, as REUSED outcomes."""
    found: dict[date, DayOutcome] = {}
    workspace = Workspace(root)
    with open_instance(root) as instance, inspection_cache(workspace.root):
        for day in days:
            reuse = reusable_day(workspace, day)
            recorded = _recorded_by(instance, day, reuse.snapshot.run_id) if reuse else None
            if reuse is None or recorded is None:
                continue
            found[day] = DayOutcome(
                day,
                True,
                recorded,
                reuse.snapshot.run_id,
                reuse.snapshot.root_sha256,
                reuse.drift.counts(),
                list(reuse.drift.missing),
                reused=True,
            )
    return found


def _recorded_by(instance: dg.DagsterInstance, day: date, run_id: str) -> str | None:
    """The Dagster run whose materialization of `day` is the latest and sealed `run_id`."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(DAILY_REGISTRY_ID), asset_partitions=[day.isoformat()]
        ),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    sealed = records[0].asset_materialization.metadata.get("run_id")
    return records[0].run_id if sealed is not None and sealed.value == run_id else None


def _in_process(
    root: Path,
    days: Sequence[date],
    definitions: DefinitionsFactory,
    on_day: Callable[[DayOutcome], None] | None,
) -> list[DayOutcome]:
    """One in-process run per day, in order, on the workspace's instance."""
    outcomes: list[DayOutcome] = []
    with open_instance(root) as instance, inspection_cache(Workspace(root).root):
        graph = definitions(root)  # resolved inside the instance's context
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
            outcome = _outcome(day, result.run_id, result.success, result.all_events, expected)
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

    from registry_pipeline.lib.launcher import code_location, create_job_backfill, drive_backfill

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
    """One day's outcome from its run's events: the checks' verdicts and problems, the snapshot."""
    events = [event for event in events if event is not None]
    checks, problems = check_verdicts(events, dg.AssetKey(DAILY_REGISTRY_ID))
    unchecked = [name for name in expected if name not in checks]
    problems += [
        problem_object(
            "CHECK_NOT_RUN", f"{name} was not evaluated: the day is not checked", check=name
        )
        for name in unchecked
        if success  # else the step's failure says why
    ]
    problems += step_problems(events)
    metadata = materialized_metadata(events, dg.AssetKey(DAILY_REGISTRY_ID))
    if metadata is None:
        unsealed = problem_object("NOT_MATERIALIZED", "no snapshot of the day was sealed")
        return DayOutcome(day, False, dagster_run_id, problems=problems or [unsealed])
    counts = {
        key.removeprefix("signals_"): int(str(value.value))
        for key, value in metadata.items()
        if key.startswith("signals_")
    }
    reused = metadata.get("reused_snapshot")
    return DayOutcome(
        day,
        success and all(checks.values()) and not unchecked,
        dagster_run_id,
        str(metadata["run_id"].value),
        str(metadata["root_sha256"].value),
        counts,
        list(listed(metadata, "missing_history")),
        problems,
        reused=reused is not None and reused.value is True,
    )
