"""How `registry runs` shows runs: one run's fields, and long answers streamed as a table or a
JSON list (a million runs never sit in memory)."""

from __future__ import annotations

import itertools
import sys
from typing import TYPE_CHECKING, Any

from registry_pipeline.cli._output import out

if TYPE_CHECKING:
    from collections.abc import Iterator

    from registry_pipeline.core.run_index import LogIndex
    from registry_pipeline.core.run_index.query import Run

TABLE_SAMPLE = 1000
"""Rows a table's column widths are measured on before it is streamed."""


def describe(index: LogIndex, run: Run) -> None:
    """One run: its key, status, first time and record count, then its latest view's fields."""
    count = f"{run.records} records" if run.records > 1 else "1 record"
    out(f"{run.key}  {run.status}  (first {run.first_time}; {count}; latest at line {run.line})")
    fields(run.record)


def fields(record: dict[str, Any]) -> None:
    """A record's fields, one a line, aligned."""
    width = max((len(name) for name in record), default=0)
    for name, value in record.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        out(f"  {name:<{width}}  {shown}")


def json_list(runs: Iterator[Run]) -> int:
    """A JSON list of the runs' latest views, one per line as the log holds it, written as
    they come (a million runs never sit in memory)."""
    write = sys.stdout.buffer.write
    count = 0
    write(b"[")
    for run in runs:
        write(b",\n" if count else b"\n")
        write(run.raw)
        count += 1
    write(b"\n]\n" if count else b"]\n")
    sys.stdout.flush()
    return count


def table(index: LogIndex, runs: Iterator[Run]) -> int:
    """A table of runs, streamed: column widths from the first rows."""
    spec = index.spec
    header = [spec.key.upper(), "FIRST", "LATEST", *(lane.upper() for lane in spec.lanes),
              "RECORDS", "STATUS"]  # fmt: skip

    def row(run: Run) -> list[str]:
        lanes = [str(run.record.get(lane, "")) for lane in spec.lanes]
        latest = str(run.record.get(spec.time, ""))
        return [run.key, run.first_time, latest, *lanes, str(run.records), run.status]

    first = [row(run) for run in itertools.islice(runs, TABLE_SAMPLE)]
    if not first:
        return 0
    widths = [max(len(cells[i]) for cells in [header, *first]) for i in range(len(header))]
    count = 0
    for cells in itertools.chain([header], first, map(row, runs)):
        out("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        count += 1
    sys.stdout.flush()
    return count - 1
