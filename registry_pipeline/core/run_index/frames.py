"""The run index's answers as pandas DataFrames (the Python API beside `registry runs`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.run_index import query
from registry_pipeline.core.run_index.query import Run

if TYPE_CHECKING:
    import pandas as pd

    from registry_pipeline.core.run_index.failed import FailedRun
    from registry_pipeline.core.run_index.index import LogIndex

EXTRA = ("_first_utc", "_records", "_status")
"""Columns added to a run's fields: its first record's time, its record count, its status."""
MARKS = ("_failed_checks", "_failed_gates", "_override_id", "_covered")
"""Columns added to a failed run's: what FAILed, its override, whether that covers it."""


def runs_frame(index: LogIndex, runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run (its latest view's fields, then EXTRA), indexed by the run's key."""
    return _frame(index, [_row(run) for run in runs], EXTRA)


def failed_frame(index: LogIndex, marked: Iterable[FailedRun]) -> pd.DataFrame:
    """`runs_frame` of failed runs, with the MARKS columns."""
    rows = [
        {
            **_row(failed.run),
            "_failed_checks": failed.failed_checks,
            "_failed_gates": failed.failed_gates,
            "_override_id": failed.override_id,
            "_covered": failed.covered,
        }
        for failed in marked
    ]
    return _frame(index, rows, (*EXTRA, *MARKS))


def _row(run: Run) -> dict[str, Any]:
    return {
        **run.record,
        "_first_utc": run.first_time,
        "_records": run.records,
        "_status": run.status,
    }


def _frame(index: LogIndex, rows: list[dict[str, Any]], extra: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame.from_records(rows, columns=_columns(index, rows, extra))
    return frame.set_index(index.spec.key, drop=False).rename_axis(None)


def history_frame(index: LogIndex, key: str) -> pd.DataFrame:
    """Every record of one run, oldest first."""
    import pandas as pd

    rows = query.history(index, key)
    return pd.DataFrame.from_records(rows, columns=_columns(index, rows, ()))


def select(
    index: LogIndex,
    lanes: Mapping[str, str] | None,
    since: str | None,
    until: str | None,
) -> query.Window:
    """The Window of keyword arguments (the CLI's flags, as a mapping)."""
    pairs = [f"{field}={value}" for field, value in (lanes or {}).items()]
    return query.window(index, pairs, since, until)


def _columns(index: LogIndex, rows: list[dict[str, Any]], extra: tuple[str, ...]) -> list[str]:
    seen: dict[str, None] = {index.spec.key: None}
    for row in rows:
        seen.update(dict.fromkeys(row))
    for column in extra:
        seen.pop(column, None)
    return [*seen, *extra]
