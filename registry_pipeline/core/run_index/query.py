"""The four questions a run index answers (seed 004, "Minimal Queries"), from the sidecar:
show one run, list a lane's runs in a date range, the runs that failed uniqueness checks (or
the failure predicate), a lane's latest success.

A run is shown as its latest view: the fields of its latest record (`order`: written, then
created; ties: the later line). A run's date is its earliest `created_utc`. Records are read
from the log itself at the offsets the sidecar holds, so what is shown is what the log says.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from json.encoder import encode_basestring
from typing import Any

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.run_index.spec import EARLIEST, parse_time

_ANSWERS = itertools.count(1)
"""Numbers the temporary tables of streamed answers (two may be open on one connection)."""
WINDOW = 1 << 18
"""Bytes of the log read at once when an answer's lines come in the log's order."""


@dataclass(frozen=True)
class Run:
    """One run: its latest view, when it was first recorded, how many records it has."""

    key: str
    raw: bytes
    """The latest view's line as the log holds it (one JSON object, no newline)."""
    first_t: int
    """The first record's time (microseconds since the epoch)."""
    records: int
    success: bool
    failure: bool
    line: int
    """The line of the latest view in the log."""

    @functools.cached_property
    def record(self) -> dict[str, Any]:
        """The latest view's fields (parsed when first asked for)."""
        parsed: dict[str, Any] = json.loads(self.raw.decode("utf-8"))
        return parsed

    @property
    def first_time(self) -> str:
        """The first record's time, as ISO 8601 UTC."""
        return _iso(self.first_t)

    @property
    def status(self) -> str:
        """success, failed, success+failed (e.g. passed with an override) or open."""
        if self.success and self.failure:
            return "success+failed"
        return "success" if self.success else "failed" if self.failure else "open"


@dataclass(frozen=True)
class Window:
    """Which runs: lane values, and the first record's time within [since, until]."""

    lanes: tuple[tuple[str, str], ...] = ()
    since: int | None = None
    until: int | None = None


def window(
    index: LogIndex, lanes: Sequence[str] = (), since: str | None = None, until: str | None = None
) -> Window:
    """A Window from `FIELD=VALUE` strings and dates (YYYY-MM-DD, `until` inclusive of its
    whole day, or ISO 8601 times); BAD_LANE / BAD_DATE / UNKNOWN_LANE (exit 2)."""
    pairs: list[tuple[str, str]] = []
    for text in lanes:
        field, sep, value = text.partition("=")
        if not sep or not field:
            raise UsageError(
                f"--lane takes FIELD=VALUE, not {text!r}", code="BAD_LANE", field="--lane"
            )
        pairs.append((field, value))
    index.spec.lane_filter(dict(pairs))
    start = _moment(since, end=False)
    end = _moment(until, end=True)
    if start is not None and end is not None and start > end:
        raise UsageError(
            f"--since {since} is after --until {until}", code="BAD_DATE", field="--since"
        )
    return Window(tuple(pairs), start, end)


def show(index: LogIndex, key: str) -> Run | None:
    """The run `key`, or None."""
    rows = list(_runs(index, "r.key = ?", [key], "", 1))
    return rows[0] if rows else None


def history(index: LogIndex, key: str) -> list[dict[str, Any]]:
    """Every record of the run `key`, oldest first (`order`, then line)."""
    rows = index.db.execute(
        "SELECT key, off, len, line FROM records WHERE key = ? ORDER BY t, c, seq", (key,)
    ).fetchall()
    with _log(index) as log:
        return [_record(index, log.read(off, n), key, line) for key, off, n, line in rows]


def runs(index: LogIndex, where: Window, *, limit: int | None = None) -> list[Run]:
    """The runs in `where`, oldest first."""
    return list(iter_runs(index, where, limit=limit))


def iter_runs(
    index: LogIndex,
    where: Window,
    *,
    failed: bool = False,
    gates: bool = False,
    limit: int | None = None,
) -> Iterator[Run]:
    """`runs`, one at a time (flat memory for a big answer). With `failed`: only those whose
    latest view FAILed a uniqueness check, or with `gates` meets the failure predicate."""
    clauses, params = _clauses(index, where)
    if failed:
        clauses.append("r.failure" if gates else "r.unique_fail")
    sql = " AND ".join(clauses) or "1"
    order = "ORDER BY r.first_t, r.first_seq"
    yield from _runs(index, sql, params, order, limit, snapshot=True)


def latest_success(index: LogIndex, where: Window) -> Run | None:
    """The newest run in `where` whose latest view succeeded (ties: the later first line)."""
    clauses, params = _clauses(index, where)
    clauses.append("r.success")
    order = "ORDER BY r.first_t DESC, r.first_seq DESC"
    rows = list(_runs(index, " AND ".join(clauses), params, order, 1))
    return rows[0] if rows else None


def latest_records(index: LogIndex, keys: Sequence[str]) -> dict[str, tuple[dict[str, Any], int]]:
    """key -> (latest view, its line) of each of `keys` the index has (after `sync`)."""
    found: dict[str, tuple[dict[str, Any], int]] = {}
    for start in range(0, len(keys), 500):
        part = list(keys[start : start + 500])
        marks = ", ".join("?" * len(part))
        for run in _runs(index, f"r.key IN ({marks})", part, "", None):
            found[run.key] = (run.record, run.line)
    return found


def passed_despite_failure(index: LogIndex) -> Iterator[dict[str, Any]]:
    """The latest views that met the success predicate with a failed uniqueness check (the runs
    that need an override: few), after `sync`."""
    for run in _runs(index, "r.success AND r.unique_fail", [], "", None, snapshot=True):
        yield run.record


def _clauses(index: LogIndex, where: Window) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for field, value in where.lanes:
        clauses.append(f"r.l{index.spec.lanes.index(field)} = ?")
        params.append(value)
    if where.since is not None:
        clauses.append("r.first_t >= ?")
        params.append(where.since)
    if where.until is not None:
        clauses.append("r.first_t <= ?")
        params.append(where.until)
    return clauses, params


def _runs(
    index: LogIndex,
    where: str,
    params: list[Any],
    order: str,
    limit: int | None,
    *,
    snapshot: bool = False,
) -> Iterator[Run]:
    """The runs selected, read from the log at their offsets (`_rows`)."""
    for run, _marks in _rows(index, where, params, order, limit, snapshot=snapshot):
        yield run


def iter_marked(
    index: LogIndex, where: Window, *, gates: bool = False, limit: int | None = None
) -> Iterator[tuple[Run, str, str, str | None]]:
    """`iter_runs(failed=True)`, each run with what the sidecar holds of its failure
    (`sidecar.marks`): the uniqueness checks that FAILed and the failure predicate's other
    fields that hold (JSON lists, `fields_of`), the override it names."""
    clauses, params = _clauses(index, where)
    clauses.append("r.failure" if gates else "r.unique_fail")
    order = "ORDER BY r.first_t, r.first_seq"
    found = _rows(index, " AND ".join(clauses), params, order, limit, snapshot=True, marks=True)
    for run, (checks, failed_gates, named) in found:
        yield run, checks, failed_gates, named


def fields_of(text: str) -> list[str]:
    """A list of fields the sidecar holds as JSON."""
    return [] if text == "[]" else list(_fields(text))


@functools.lru_cache(maxsize=1024)
def _fields(text: str) -> tuple[str, ...]:
    """`fields_of`, parsed once per text (a few combinations of checks and gates)."""
    return tuple(json.loads(text))


def _rows(
    index: LogIndex,
    where: str,
    params: list[Any],
    order: str,
    limit: int | None,
    *,
    snapshot: bool = False,
    marks: bool = False,
) -> Iterator[tuple[Run, tuple[Any, ...]]]:
    """The runs selected, read from the log at their offsets (with `marks`: with the failure's
    columns). With `snapshot` the rows are copied into a temporary table first (one short read
    of the sidecar): a slow reader of a long answer then holds no lock on the sidecar, so it
    never keeps an append waiting."""
    extra = ", r.checks, r.gates, r.override" if marks else ""
    sql = (
        f"SELECT r.key, x.off, x.len, x.line, r.first_t, r.n, r.success, r.failure{extra} "
        f"FROM runs AS r JOIN records AS x ON x.seq = r.last_seq WHERE {where} {order}"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    db = index.db
    table = f"temp.answer_{next(_ANSWERS)}" if snapshot else None
    if table is not None:
        db.execute(f"CREATE TABLE {table} AS {sql}", params)
        rows = db.execute(f"SELECT * FROM {table} ORDER BY rowid")
    else:
        rows = db.execute(sql, params)
    try:
        with _log(index) as log:
            for key, off, length, line, first_t, count, success, failure, *more in rows:
                raw = log.read(off, length)
                if _quoted(key) not in raw:  # the cheap test; the exact one when it says no
                    _record(index, raw, key, line)
                run = Run(key, raw, first_t, count, bool(success), bool(failure), line)
                yield run, tuple(more)
    finally:
        with contextlib.suppress(sqlite3.Error):  # the connection may be closed already
            rows.close()
            if table is not None:
                db.execute(f"DROP TABLE IF EXISTS {table}")


class _log:
    """The log opened for reading at offsets (a context manager). Lines read in the log's order
    (a long answer's latest views mostly are) come from one read of WINDOW bytes, not one
    system call each: a line just past the window moves it there; any other is read alone."""

    def __init__(self, index: LogIndex) -> None:
        self.path = index.log
        self.base = 0
        self.window = b""

    def __enter__(self) -> _log:
        self.fd = os.open(self.path, os.O_RDONLY)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def read(self, off: int, length: int) -> bytes:
        """The `length` bytes at `off` (fewer when the log is shorter now)."""
        at = off - self.base
        if at >= 0 and at + length <= len(self.window):
            return self.window[at : at + length]
        end = self.base + len(self.window)
        if end <= off < end + WINDOW and length < WINDOW:
            self.window, self.base = os.pread(self.fd, WINDOW, off), off
            return self.window[:length]
        return os.pread(self.fd, length, off)


def _quoted(key: str) -> bytes:
    """`key` as a JSON string, as a record naming it holds it (compact lines)."""
    return encode_basestring(key).encode()


def _record(index: LogIndex, raw: bytes, key: str, line: int) -> dict[str, Any]:
    """The record of `raw`, read at the offset the sidecar holds for `key`; INDEX_CHANGED when
    the log no longer holds it there (rewritten while this command ran).

    These very bytes were parsed strictly when the sidecar indexed them, and the sidecar is
    current (its stamp matches), so the plain C parser reads them back: the strict one costs
    twice as much a record on a big answer."""
    try:
        record = json.loads(raw)
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get(index.spec.key) != key:
        raise RegistryError(
            f"line {line} is no longer the record the index has (the log was rewritten while "
            "this command ran); run it again",
            code="INDEX_CHANGED",
            path=str(index.log),
        )
    return record


def _moment(text: str | None, *, end: bool) -> int | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is not None:
        moment = parse_time((day + timedelta(days=1) if end else day).isoformat() + "T00:00Z")
        return None if moment is None else moment - 1 if end else moment
    moment = parse_time(text)
    option = "--until" if end else "--since"
    if moment is None:
        raise UsageError(
            f"{option} {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time",
            code="BAD_DATE",
            field=option,
        )
    return moment


def _iso(micros: int) -> str:
    from datetime import UTC, datetime

    if micros == EARLIEST:
        return ""  # a time that does not parse: its schema check says so
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ" if moment.second else "%Y-%m-%dT%H:%MZ")
