"""The four questions a run index answers (seed 004) from the sidecar, also as DataFrames."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring as _text
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.errors import Problem, RegistryError, UsageError
from registry_pipeline.core.run_index.append import AppendResult, append_records
from registry_pipeline.core.run_index.index import (
    LogIndex,
    Run,
    select_runs,
)
from registry_pipeline.core.run_index.index import (
    history as history_of,  # `RunIndex.show` takes a flag named `history`
)
from registry_pipeline.core.run_index.records import located, record_problem
from registry_pipeline.core.run_index.rules import coverage, overrides
from registry_pipeline.core.run_index.sidecar import list_text, listed
from registry_pipeline.core.run_index.spec import IndexSpec
from registry_pipeline.core.seal.run_id import did_you_mean, read_moment

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Window:
    """Which runs: lane values, and the first record's time within [since, until]."""

    lanes: tuple[tuple[str, str], ...] = ()
    since: int | None = None
    until: int | None = None


def window(
    index: LogIndex, lanes: Sequence[str] = (), since: str | None = None, until: str | None = None
) -> Window:
    """A Window from `FIELD=VALUE` strings and dates (`until` a date: its whole day)."""
    pairs: list[tuple[str, str]] = []
    for text in lanes:
        field, sep, value = text.partition("=")
        if not sep or not field:
            raise UsageError.of("BAD_LANE", field="--lane", text=text)
        pairs.append((field, value))
    index.spec.lane_filter(dict(pairs))
    start = _moment(since, end=False)
    end = _moment(until, end=True)
    if start is not None and end is not None and start > end:
        raise UsageError.of("BAD_DATE", field="--since", text=since, reason=f"is after --until "
                            f"{until!r}")  # fmt: skip
    return Window(tuple(pairs), start, end)


def show(index: LogIndex, key: str) -> Run | None:
    """The run `key`, or None."""
    return next(select_runs(index, "r.key = ?", [key], "", 1), None)


OLDEST_FIRST = "ORDER BY r.first_t, r.first_seq"


def iter_runs(index: LogIndex, where: Window, *, limit: int | None = None) -> Iterator[Run]:
    """The runs in `where`, oldest first, one at a time (flat memory for a big answer)."""
    return _runs(index, where, limit=limit, snapshot=True)


def latest_success(index: LogIndex, where: Window) -> Run | None:
    """The newest run in `where` whose latest view succeeded (ties: the later first line)."""
    newest = "ORDER BY r.first_t DESC, r.first_seq DESC"
    return next(_runs(index, where, "r.success", order=newest, limit=1), None)


def _runs(
    index: LogIndex,
    where: Window,
    *more: str,
    order: str = OLDEST_FIRST,
    limit: int | None = None,
    **options: bool,
) -> Iterator[Run]:
    """`select_runs` of the runs in `where` and `more` (conditions on `runs AS r`)."""
    clauses = [f"r.l{index.spec.lanes.index(field)} = ?" for field, _value in where.lanes]
    params: list[Any] = [value for _field, value in where.lanes]
    for clause, bound in (("r.first_t >= ?", where.since), ("r.first_t <= ?", where.until)):
        if bound is not None:
            clauses.append(clause)
            params.append(bound)
    sql = " AND ".join([*clauses, *more]) or "1"
    return select_runs(index, sql, params, order, limit, **options)


@functools.lru_cache(maxsize=1024)
def _fields(text: str) -> tuple[str, ...]:
    """A list of fields the sidecar holds as JSON, parsed once per text."""
    return tuple(json.loads(text))


def _moment(text: str | None, *, end: bool) -> int | None:
    """`--since`/`--until` in microseconds: a day is its first moment, or for `--until` its last."""
    if text is None:
        return None
    moment = read_moment(text, end_of_day=end)
    option = "--until" if end else "--since"
    if moment is None:
        raise UsageError.of("BAD_DATE", field=option, text=text, reason="is not a date "
                            f"(YYYY-MM-DD) or a time with its zone (2026-09-01T10:00Z)"
                            f"{did_you_mean(text)}")  # fmt: skip
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- the failed runs, marked ---------------------------------------------------------------

BATCH = 5000
"""Runs whose overrides are looked up at a time (the overrides' log synced once a batch)."""


_LITERAL = {None: "null", True: "true", False: "false"}
"""`covered` as `list_text` writes it, without an encoder's call per run."""


@dataclass(frozen=True)
class FailedRun:
    """A run that failed, and why: its checks and gates that FAILed, and its override."""

    run: Run
    failed_checks: list[str]
    failed_gates: list[str]
    """The other fields of the failure predicate that hold (the QA gates that FAILed)."""
    override_id: str | None
    covered: bool | None
    """Whether an override covers every failed check (None: no check FAILed)."""
    problems: list[Problem]
    """Why the override does not cover them (`overrides.coverage`)."""

    def json_line(self, spec: IndexSpec) -> bytes:
        """The object `registry runs failed --json` lists, the latest view as the log holds it."""
        checks, gates = listed(tuple(self.failed_checks)), listed(tuple(self.failed_gates))
        marks = (checks, gates, self.override_id)
        return _line(_text(spec.key), self.run, marks, self.covered, self.problems)


Marks = tuple[str, str, str | None]
"""A failed run's checks and gates that FAILed (as `sidecar.listed` writes them), its override."""


def _line(
    key_field: str, run: Run, marks: Marks, covered: bool | None, problems: list[Problem]
) -> bytes:
    """`FailedRun.json_line`, the key's field name given as JSON (`key_field`)."""
    checks, gates, override = marks
    named = "null" if override is None else _text(override)
    shown = list_text([problem.as_json() for problem in problems]) if problems else "[]"
    head = (
        f'{{{key_field}: {_text(run.key)}, "failed_checks": {checks}, "failed_gates": {gates}, '
        f'"override_id": {named}, "covered": {_LITERAL[covered]}, "problems": {shown}, "record": '
    )
    return b"".join((head.encode(), run.raw, b"}"))


def failed_runs(
    index: LogIndex, where: Window, *, gates: bool = False, limit: int | None = None
) -> Iterator[FailedRun]:
    """The failed runs in `where`, oldest first; a run with a failed check judged by `coverage`."""
    for run, (checks, failed_gates, override), covered, problems in _marked(
        index, where, gates, limit
    ):
        failed = list(_fields(checks)), list(_fields(failed_gates))
        yield FailedRun(run, *failed, override, covered, problems)


def failed_lines(
    index: LogIndex, where: Window, *, gates: bool = False, limit: int | None = None
) -> Iterator[bytes]:
    """`FailedRun.json_line` of each of `failed_runs` (from the marks as the sidecar holds them)."""
    key_field = _text(index.spec.key)
    for run, marks, covered, problems in _marked(index, where, gates, limit):
        yield _line(key_field, run, marks, covered, problems)


def _marked(
    index: LogIndex, where: Window, gates: bool, limit: int | None
) -> Iterator[tuple[Run, Marks, bool | None, list[Problem]]]:
    """The failed runs in `where`, oldest first, each with its marks, whether its override
    covers its failed checks (None: none FAILed) and why not."""
    spec = index.spec
    which = "r.failure" if gates else "r.unique_fail"
    rows = _runs(index, where, which, limit=limit, snapshot=True, marks=True)
    logs = overrides(index.root, index.catalog, spec)
    try:
        while batch := list(itertools.islice(rows, BATCH)):
            named = [r.marks[2] for r in batch if r.marks[0] != "[]" and r.marks[2] is not None]
            unreadable: list[Problem] = []
            try:
                logged = {} if logs is None else logs.values(named)
            except RegistryError as exc:
                logged = {}
                unreadable = [
                    record_problem(0, "", "DEPENDENCY_UNREADABLE", exc.message, path=exc.path)
                ]
            for run in batch:
                checks, _gates, override = marks = run.marks
                if checks == "[]":
                    yield run, marks, None, []
                    continue
                problems: list[Problem] = []
                # `needs_override` as the sidecar's marks hold it: the record is parsed only for
                # the runs whose coverage is judged
                if override is not None or run.success:
                    found = None if override is None else logged.get(override)
                    problems = unreadable or coverage(spec, run.line, run.record, found)
                    problems = [located(problem, spec.source) for problem in problems]
                yield run, marks, override is not None and not problems, problems
    finally:
        if logs is not None:
            index.set_aside.extend(logs.index.set_aside)  # the overrides log's, said with ours
            logs.close()


# --- the Python API: the answers as pandas DataFrames -------------------------------------

EXTRA = ("_first_utc", "_records", "_status")
"""Columns added to a run's fields: its first record's time, its record count, its status."""
MARKS = ("_failed_checks", "_failed_gates", "_override_id", "_covered")
"""Columns added to a failed run's: what FAILed, its override, whether that covers it."""


def runs_frame(index: LogIndex, runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run (its latest view's fields, then EXTRA), indexed by the run's key."""
    return _frame(index, [_row(run) for run in runs], EXTRA)


def _row(run: Run, marks: tuple[Any, ...] = ()) -> dict[str, Any]:
    """A run's latest view's fields, then EXTRA (and MARKS, when given)."""
    columns = (*EXTRA, *MARKS) if marks else EXTRA
    values = (run.first_time, run.records, run.status, *marks)
    return {**run.record, **dict(zip(columns, values, strict=True))}


def _frame(
    index: LogIndex, rows: list[dict[str, Any]], extra: tuple[str, ...], *, keyed: bool = True
) -> pd.DataFrame:
    """`rows` as a frame: the key, every field as first seen, `extra`; `keyed`: by the key."""
    import pandas as pd

    seen = dict.fromkeys([index.spec.key, *itertools.chain.from_iterable(rows)])
    columns = [*(column for column in seen if column not in extra), *extra]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    return frame.set_index(index.spec.key, drop=False).rename_axis(None) if keyed else frame


def select(
    index: LogIndex,
    lanes: Mapping[str, str] | None,
    since: str | None,
    until: str | None,
) -> Window:
    """The Window of keyword arguments (the CLI's flags, as a mapping)."""
    pairs = [f"{field}={value}" for field, value in (lanes or {}).items()]
    return window(index, pairs, since, until)


class RunIndex(LogIndex):
    """`RunIndex.open(workspace, "run_index")`: what `registry runs` does, from Python."""

    def append(self, records: Iterable[dict[str, Any]]) -> AppendResult:
        """Append `records`, all or none (see `append.append_records`)."""
        return append_records(self, enumerate(records, start=1))

    def show(self, run_id: str, *, history: bool = False) -> pd.DataFrame:
        """The run's latest view (one row; none when unknown), or with `history` every record."""
        if history:
            return self.answer(lambda: _frame(self, history_of(self, run_id), (), keyed=False))
        found = self.answer(lambda: show(self, run_id))
        return runs_frame(self, [found] if found else [])

    def runs(
        self,
        lanes: Mapping[str, str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> pd.DataFrame:
        """The runs of a lane (every run without `lanes`) first recorded in [since, until]."""
        where = select(self, lanes, since, until)
        return runs_frame(self, self.answer(lambda: list(iter_runs(self, where))))

    def failed(
        self,
        lanes: Mapping[str, str] | None = None,
        since: str | None = None,
        until: str | None = None,
        *,
        gates: bool = False,
    ) -> pd.DataFrame:
        """The runs whose latest view FAILed a uniqueness check (`gates`: the failure predicate)."""
        where = select(self, lanes, since, until)
        marked = self.answer(lambda: list(failed_runs(self, where, gates=gates)))
        rows = [
            _row(f.run, (f.failed_checks, f.failed_gates, f.override_id, f.covered)) for f in marked
        ]
        return _frame(self, rows, (*EXTRA, *MARKS))

    def latest(self, lanes: Mapping[str, str]) -> pd.DataFrame:
        """The lane's newest successful run (one row; none when the lane has no success)."""
        where = select(self, lanes, None, None)
        found = self.answer(lambda: latest_success(self, where))
        return runs_frame(self, [found] if found else [])
