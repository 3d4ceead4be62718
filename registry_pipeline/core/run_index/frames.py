"""The run index's answers as pandas DataFrames (the Python API beside `registry runs`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.run_index import query
from registry_pipeline.core.run_index.query import Run

if TYPE_CHECKING:
    import pandas as pd

    from registry_pipeline.core.run_index.index import LogIndex

EXTRA = ("_first_utc", "_records", "_status")
"""Columns added to a run's fields: its first record's time, its record count, its status."""


def runs_frame(index: LogIndex, runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run (its latest view's fields, then EXTRA), indexed by the run's key."""
    import pandas as pd

    rows = [
        {**run.record, "_first_utc": run.first_time, "_records": run.records, "_status": run.status}
        for run in runs
    ]
    frame = pd.DataFrame.from_records(rows, columns=_columns(index, rows))
    return frame.set_index(index.spec.key, drop=False).rename_axis(None)


def history_frame(index: LogIndex, key: str) -> pd.DataFrame:
    """Every record of one run, oldest first."""
    import pandas as pd

    rows = query.history(index, key)
    return pd.DataFrame.from_records(rows, columns=_columns(index, rows, extra=False))


def select(
    index: LogIndex,
    lanes: Mapping[str, str] | None,
    since: str | None,
    until: str | None,
) -> query.Window:
    """The Window of keyword arguments (the CLI's flags, as a mapping)."""
    pairs = [f"{field}={value}" for field, value in (lanes or {}).items()]
    return query.window(index, pairs, since, until)


def _columns(index: LogIndex, rows: list[dict[str, Any]], *, extra: bool = True) -> list[str]:
    seen: dict[str, None] = {index.spec.key: None}
    for row in rows:
        seen.update(dict.fromkeys(row))
    for column in EXTRA:
        seen.pop(column, None)
    return [*seen, *(EXTRA if extra else ())]
