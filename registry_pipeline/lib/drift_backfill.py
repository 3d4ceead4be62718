"""Backfilling `drift_signals_daily`: one in-process Dagster run per day, on the workspace's
instance (so the UI shows each partition as materialized, like a backfill launched there)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg

from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import build_definitions
from registry_pipeline.defs.drift_daily import DRIFT_DAILY_JOB
from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.instance import dagster_home, open_instance


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
    problems: list[str] = field(default_factory=list)

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
    root: Path, days: Sequence[date], on_day: Callable[[DayOutcome], None] | None = None
) -> list[DayOutcome]:
    """Materialize day partitions of drift_signals_daily in order, one Dagster run each."""
    home = dagster_home(root)
    os.environ["DAGSTER_HOME"] = str(home)
    outcomes: list[DayOutcome] = []
    with (
        open_instance(root) as instance,
        inspection_cache(Workspace(root).verdicts_path),
    ):
        # resolved inside the instance's context (see lib.build._run_build)
        job = build_definitions(root).resolve_job_def(DRIFT_DAILY_JOB)
        for day in days:
            result = job.execute_in_process(
                instance=instance,
                partition_key=day.isoformat(),
                raise_on_error=False,
                run_config=QUIET_LOGS,
                tags={"registry_pipeline/backfill": f"{days[0]}..{days[-1]}"},
            )
            outcome = _outcome(day, result)
            outcomes.append(outcome)
            if on_day is not None:
                on_day(outcome)
    return outcomes


def _outcome(day: date, result: dg.ExecuteInProcessResult) -> DayOutcome:
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    problems = [
        f"{e.check_name}: {e.description}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.description
    ]
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            problems.append(event.step_failure_data.error.message.strip())
    materialized = result.asset_materializations_for_node("drift_signals_daily")
    if not materialized:
        return DayOutcome(day, False, result.run_id, problems=problems or ["not materialized"])
    metadata = materialized[-1].metadata
    counts = {
        key.removeprefix("signals_"): int(str(value.value))
        for key, value in metadata.items()
        if key.startswith("signals_")
    }
    missing = metadata.get("missing_history")
    return DayOutcome(
        day,
        result.success and all(checks.values()) and len(checks) == 2,
        result.run_id,
        str(metadata["run_id"].value),
        str(metadata["root_sha256"].value),
        counts,
        list(missing.value) if missing is not None else [],  # type: ignore[arg-type]
        problems,
    )
