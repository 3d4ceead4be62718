"""Backfill `drift_signals_daily`: computed days reused, the rest run here (docs/OPERATIONS.md)."""

from __future__ import annotations

import secrets
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.builders.drift_days import DAILY_CHECKS, DAILY_REGISTRY_ID, reusable_day
from registry_pipeline.core.builders.registry import check_catalog
from registry_pipeline.core.errors import problem_object, render
from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build import QUIET_LOGS, execute_here
from registry_pipeline.lib.failures import (
    check_verdicts,
    listed,
    materialized_metadata,
    step_problems,
)
from registry_pipeline.lib.instance import open_instance

DRIFT_DAILY_JOB = "drift_signals_daily_job"
"""The job that materializes drift_signals_daily alone, one day a run (`defs.drift_daily`)."""
BACKFILL_TAG = "registry-pipeline/drift-backfill"
"""On every run of one `registry drift backfill`: its id, so the UI's run filter lists them."""
RANGE_TAG = "registry_pipeline/backfill"
"""On every run of one backfill: its days, `D1..D2` (the tag earlier releases set too)."""
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
"""The signals an in-process run treats as an interrupt (Dagster maps SIGTERM to SIGINT)."""


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
    job: Callable[[], dg.JobDefinition],
    on_day: Callable[[DayOutcome], None] | None = None,
    *,
    shortcut: bool = True,
) -> list[DayOutcome]:
    """Materialize drift_signals_daily days: computed ones reused, each other one a run of `job()`
    (the CLI's definitions, which lib may not import, loaded only when a day must run)."""
    workspace = Workspace(root)
    check_catalog(load_catalog(workspace))  # a broken catalog says its reason code first
    with open_instance(root) as instance, inspection_cache(workspace.root):
        reused = reused_days(instance, workspace, days) if shortcut else {}
        for outcome in reused.values() if on_day is not None else ():
            on_day(outcome)
        rest = [day for day in days if day not in reused]
        ran = _run_days(instance, job(), rest, on_day) if rest else []
    return sorted([*reused.values(), *ran], key=lambda outcome: outcome.day)


def reused_days(
    instance: dg.DagsterInstance, workspace: Workspace, days: Sequence[date]
) -> dict[date, DayOutcome]:
    """The days a run would only reuse, whose folder the instance records, as REUSED outcomes."""
    found: dict[date, DayOutcome] = {}
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
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    days: Sequence[date],
    on_day: Callable[[DayOutcome], None] | None,
) -> list[DayOutcome]:
    """Each day one run of `job` here, in order, tagged with one backfill id; Ctrl-C stops them."""
    tags = {
        BACKFILL_TAG: secrets.token_hex(6),
        RANGE_TAG: f"{days[0].isoformat()}..{days[-1].isoformat()}",
    }
    outcomes: list[DayOutcome] = []
    with _stop_signals() as stopped:
        for day in days:
            if stopped():
                raise KeyboardInterrupt
            run_id = str(uuid.uuid4())
            result = execute_here(job, instance, run_id, "registry drift backfill", tags=tags,
                                  run_config=QUIET_LOGS, partition_key=day.isoformat())  # fmt: skip
            outcomes.append(_outcome(day, run_id, result.success, result.all_events))
            if on_day is not None:
                on_day(outcomes[-1])
        if stopped():
            raise KeyboardInterrupt
    return outcomes


@contextmanager
def _stop_signals() -> Iterator[Callable[[], bool]]:
    """Whether a STOP_SIGNAL came since the last look, even one a run swallowed."""
    # a run drops a SIGINT that comes as Dagster writes its end, and one between runs could cut a
    # write to the instance: the signals only leave their number on a wakeup fd, read between days
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # signals reach the main thread alone
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    handlers = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    previous = signal.set_wakeup_fd(writer.fileno())
    for number, handler in handlers.items():
        if handler not in (signal.SIG_IGN, None):  # one ignored stays ignored
            signal.signal(number, _looked_at_later)

    def stopped() -> bool:
        received = b""
        with suppress(BlockingIOError):
            while chunk := reader.recv(256):
                received += chunk
        return any(number in STOP_SIGNALS for number in received)

    try:
        yield stopped
    finally:
        signal.set_wakeup_fd(previous)
        for number, handler in handlers.items():  # a run leaves SIGTERM as it found SIGINT
            if handler is not None:
                signal.signal(number, handler)
        reader.close()
        writer.close()


def _looked_at_later(_number: int, _frame: object) -> None:
    """A STOP_SIGNAL's handler during a backfill: its byte on the wakeup fd is what counts."""


def _outcome(day: date, dagster_run_id: str, success: bool, events: Sequence[Any]) -> DayOutcome:
    """One day's outcome from its run's events: the checks' verdicts and problems, the snapshot."""
    events = [event for event in events if event is not None]
    checks, problems = check_verdicts(events, dg.AssetKey(DAILY_REGISTRY_ID))
    unchecked = [check.name for check in DAILY_CHECKS if check.name not in checks]
    problems += [
        problem_object("CHECK_NOT_RUN", render("CHECK_NOT_RUN", check=name), check=name)
        for name in unchecked
        if success  # else the step's failure says why
    ]
    problems += step_problems(events)
    metadata = materialized_metadata(events, dg.AssetKey(DAILY_REGISTRY_ID))
    if metadata is None:
        unsealed = problem_object("NOT_MATERIALIZED", render("NOT_MATERIALIZED"))
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
