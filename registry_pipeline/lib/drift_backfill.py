"""Backfill `drift_signals_daily`: computed days reused, the rest run (docs/OPERATIONS.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.builders.drift_days import DAILY_CHECKS, DAILY_REGISTRY_ID, reusable_day
from registry_pipeline.core.builders.registry import check_catalog
from registry_pipeline.core.errors import problem_object
from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build import QUIET_LOGS, execute_here, runs_here
from registry_pipeline.lib.failures import (
    check_verdicts,
    listed,
    materialized_metadata,
    step_problems,
)
from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.launcher import (
    code_location,
    create_job_backfill,
    create_run,
    drive_backfill,
)

BACKFILL_TIMEOUT = 6 * 3600.0
"""Seconds a backfill is driven before the command stops waiting (it stays REQUESTED)."""


DRIFT_DAILY_JOB = "drift_signals_daily_job"
"""The job that materializes drift_signals_daily alone, one day a run (`defs.drift_daily`)."""


@dataclass(frozen=True)
class DayOutcome:
    """What backfilling one day did."""

    day: date
    success: bool
    reused: bool
    """The day's folder was sealed before (`dagster_run_id`: the run that recorded it)."""
    dagster_run_id: str
    run_id: str | None = None
    root_sha256: str | None = None
    signals: dict[str, int] = field(default_factory=dict)
    """Signals by value: true, false, unknown."""
    missing_history: list[str] = field(default_factory=list)
    problems: list[dict[str, object]] = field(default_factory=list)
    """`problem_object`s: each failed check's problems, the failed step's cause."""

    @property
    def status(self) -> str:
        """`OK` (sealed and checked now), `REUSED` (sealed before, checked now) or `FAILED`."""
        return "FAILED" if not self.success else "REUSED" if self.reused else "OK"

    def as_json(self) -> dict[str, object]:
        """The object `registry drift backfill --json` prints for this day: its fields in order."""
        fields = asdict(self)
        return {"day": fields.pop("day").isoformat(), "status": self.status, **fields}


def run_drift_backfill(
    root: Path,
    days: Sequence[date],
    on_day: Callable[[DayOutcome], None] | None = None,
    *,
    in_process: bool | None = None,
    shortcut: bool = True,
) -> list[DayOutcome]:
    """Materialize drift_signals_daily days: computed ones reused, others backfilled or run here."""
    check_catalog(load_catalog(Workspace(root)))  # a broken catalog says its reason code first
    reused = reused_days(root, days) if shortcut else {}
    for outcome in reused.values() if on_day is not None else ():
        on_day(outcome)
    rest = [day for day in days if day not in reused]
    ran = _run_days(root, rest, on_day, runs_here(in_process)) if rest else []
    return sorted([*reused.values(), *ran], key=lambda outcome: outcome.day)


def reused_days(root: Path, days: Sequence[date]) -> dict[date, DayOutcome]:
    """The days a run would only reuse, whose folder the instance records, as REUSED outcomes."""
    found: dict[date, DayOutcome] = {}
    workspace = Workspace(root)
    with open_instance(root) as instance, inspection_cache(workspace.root):
        for day in days:
            reuse = reusable_day(workspace, day)
            if reuse is None:
                continue
            drift, snapshot = reuse
            recorded = _recorded_by(instance, day, snapshot.run_id)
            if recorded is None:
                continue
            found[day] = DayOutcome(
                day,
                True,
                True,
                recorded,
                snapshot.run_id,
                snapshot.root_sha256,
                drift.counts(),
                list(drift.missing),
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


def _run_days(
    root: Path,
    days: Sequence[date],
    on_day: Callable[[DayOutcome], None] | None,
    in_process: bool,
) -> list[DayOutcome]:
    """Each day a DRIFT_DAILY_JOB run: one backfill driven to its end, or each run here in turn."""
    from dagster._core.storage.tags import BACKFILL_ID_TAG, PARTITION_NAME_TAG

    keys = [day.isoformat() for day in days]
    tags = {"registry_pipeline/backfill": f"{keys[0]}..{keys[-1]}"}
    reported: dict[str, DayOutcome] = {}

    def report(runs: Iterable[dg.DagsterRun]) -> None:
        for run in sorted(runs, key=lambda r: keys.index(r.tags[PARTITION_NAME_TAG])):
            key = run.tags[PARTITION_NAME_TAG]
            if run.is_finished and key not in reported:
                success = run.status == dg.DagsterRunStatus.SUCCESS
                events = [e.dagster_event for e in instance.all_logs(run.run_id)]
                reported[key] = _outcome(days[keys.index(key)], run.run_id, success, events)
                if on_day is not None:
                    on_day(reported[key])

    with open_instance(root) as instance, code_location(instance, root, here=in_process) as context:
        if in_process:
            with inspection_cache(Workspace(root).root):
                for key in keys:
                    tagged = {**tags, PARTITION_NAME_TAG: key}
                    run = create_run(context, DRIFT_DAILY_JOB, tagged, QUIET_LOGS)
                    execute_here(context, run, "registry drift backfill")
                    report([instance.get_run_by_id(run.run_id) or run])
        else:
            backfill_id = create_job_backfill(
                context, DRIFT_DAILY_JOB, keys, title=f"drift_signals_daily {keys[0]}..{keys[-1]}",
                tags=tags,
            )  # fmt: skip
            in_backfill = dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})
            drive_backfill(
                context,
                backfill_id,
                timeout=BACKFILL_TIMEOUT,
                on_poll=lambda _backfill: report(instance.get_runs(in_backfill)),
            )
            report(instance.get_runs(in_backfill))
    return [reported[key] for key in keys if key in reported]


def _outcome(day: date, dagster_run_id: str, success: bool, events: Sequence[Any]) -> DayOutcome:
    """One day's outcome from its run's events: the checks' verdicts and problems, the snapshot."""
    events = [event for event in events if event is not None]
    checks, problems = check_verdicts(events, dg.AssetKey(DAILY_REGISTRY_ID))
    unchecked = [check.name for check in DAILY_CHECKS if check.name not in checks]
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
        return DayOutcome(day, False, False, dagster_run_id, problems=problems or [unsealed])
    signals = {
        key.removeprefix("signals_"): int(str(value.value))
        for key, value in metadata.items()
        if key.startswith("signals_")
    }
    reused = metadata.get("reused_snapshot")
    return DayOutcome(
        day,
        success and all(checks.values()) and not unchecked,
        reused is not None and reused.value is True,
        dagster_run_id,
        str(metadata["run_id"].value),
        str(metadata["root_sha256"].value),
        signals,
        list(listed(metadata, "missing_history")),
        problems,
    )
