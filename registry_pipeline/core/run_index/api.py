"""The run index's Python API: append records, and the four answers as pandas DataFrames."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.run_index import frames, query
from registry_pipeline.core.run_index.append import AppendResult, append_records
from registry_pipeline.core.run_index.failed import failed_runs
from registry_pipeline.core.run_index.index import LogIndex

if TYPE_CHECKING:
    import pandas as pd


class RunIndex(LogIndex):
    """`RunIndex.open(workspace, "run_index")`: what `registry runs` does, from Python."""

    def append(self, records: Iterable[dict[str, Any]]) -> AppendResult:
        """Append `records`, all or none (see `append.append_records`)."""
        return append_records(self, enumerate(records, start=1))

    def show(self, run_id: str, *, history: bool = False) -> pd.DataFrame:
        """The run's latest view (one row; none when unknown), or every record with
        `history`."""
        if history:
            return self.answer(lambda: frames.history_frame(self, run_id))
        found = self.answer(lambda: query.show(self, run_id))
        return frames.runs_frame(self, [found] if found else [])

    def runs(
        self,
        lanes: Mapping[str, str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> pd.DataFrame:
        """The runs of a lane (every run without `lanes`) first recorded in [since, until]."""
        where = frames.select(self, lanes, since, until)
        return frames.runs_frame(self, self.answer(lambda: query.runs(self, where)))

    def failed(
        self,
        lanes: Mapping[str, str] | None = None,
        since: str | None = None,
        until: str | None = None,
        *,
        gates: bool = False,
    ) -> pd.DataFrame:
        """The runs whose latest view FAILed a uniqueness check (with `gates`: meets the
        failure predicate), with what FAILed and whether an override covers it."""
        where = frames.select(self, lanes, since, until)
        marked = self.answer(lambda: list(failed_runs(self, where, gates=gates)))
        return frames.failed_frame(self, marked)

    def latest(self, lanes: Mapping[str, str]) -> pd.DataFrame:
        """The lane's newest successful run (one row; none when the lane has no success)."""
        where = frames.select(self, lanes, None, None)
        found = self.answer(lambda: query.latest_success(self, where))
        return frames.runs_frame(self, [found] if found else [])
