"""How `registry runs` shows runs: one run's fields, and long answers streamed as a table or a
JSON list (a million runs never sit in memory); failed runs with their marks."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from registry_pipeline.cli._output import out

if TYPE_CHECKING:
    from collections.abc import Iterator

    from registry_pipeline.core.run_index import FailedRun, LogIndex, Run

TABLE_SAMPLE = 1000
"""Rows a table's column widths are measured on before it is streamed."""
WRITE_PIECES = 2000
"""Pieces of a JSON answer (a run and its separator each) written at once."""


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


def failed_json(lines: Iterator[bytes]) -> int:
    """A JSON list of failed runs (`FailedRun.as_json`: the key, what FAILed, the override and
    whether it covers them, the problems, the latest view as the log holds it), one per line
    (`failed.failed_lines`), written as they come."""
    sys.stdout.flush()
    pending = [b"["]
    count = 0
    for line in lines:
        pending.append(b",\n" if count else b"\n")
        pending.append(line)
        count += 1
        if len(pending) >= WRITE_PIECES:
            sys.stdout.buffer.write(b"".join(pending))
            pending = []
    pending.append(b"\n]\n" if count else b"]\n")
    sys.stdout.buffer.write(b"".join(pending))
    sys.stdout.flush()
    return count


def table(index: LogIndex, runs: Iterator[Run]) -> int:
    """A table of runs, streamed: column widths from the first rows."""
    return _table(_header(index), _cells(index), runs)


def failed_table(index: LogIndex, marked: Iterator[FailedRun]) -> int:
    """`table` of failed runs, with what FAILed, the override named and whether it covers the
    failed checks (yes, no, - when no check FAILed)."""
    cells = _cells(index)

    def row(failed: FailedRun) -> list[str]:
        covered = "-" if failed.covered is None else "yes" if failed.covered else "no"
        what = ",".join([*failed.failed_checks, *failed.failed_gates]) or "-"
        return [*cells(failed.run), what, failed.override_id or "-", covered]

    return _table([*_header(index), "FAILED", "OVERRIDE", "COVERED"], row, marked)


def _header(index: LogIndex) -> list[str]:
    spec = index.spec
    lanes = [lane.upper() for lane in spec.lanes]
    return [spec.key.upper(), "FIRST", "LATEST", *lanes, "RECORDS", "STATUS"]


def _cells(index: LogIndex) -> Callable[[Run], list[str]]:
    spec = index.spec

    def row(run: Run) -> list[str]:
        lanes = [str(run.record.get(lane, "")) for lane in spec.lanes]
        latest = str(run.record.get(spec.updated) or run.record.get(spec.time, ""))
        return [run.key, run.first_time, latest, *lanes, str(run.records), run.status]

    return row


def _table(header: list[str], row: Callable[[Any], list[str]], items: Iterator[Any]) -> int:
    first = [row(item) for item in itertools.islice(items, TABLE_SAMPLE)]
    if not first:
        return 0
    widths = [max(len(cells[i]) for cells in [header, *first]) for i in range(len(header))]
    count = 0
    for cells in itertools.chain([header], first, map(row, items)):
        out("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        count += 1
    sys.stdout.flush()
    return count - 1
