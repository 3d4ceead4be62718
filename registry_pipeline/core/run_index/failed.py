"""Seed 004: "Find runs that failed uniqueness checks". `registry runs failed` lists the runs whose
latest view has a uniqueness check FAIL and marks each: the checks and gates that FAILed, the
override it names, and whether that override covers every failed check (`overrides.coverage`,
the rule `registry runs append` applies). With `gates`: the runs meeting the catalog's failure
predicate (any gate or uniqueness check FAIL), marked alike."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring as _text
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.run_index import query
from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.run_index.overrides import Overrides, coverage, needs_override
from registry_pipeline.core.run_index.query import Run, Window
from registry_pipeline.core.run_index.records import RecordProblem
from registry_pipeline.core.run_index.spec import IndexSpec
from registry_pipeline.core.run_index.uniqueness import OVERRIDE, failed_checks, is_check

BATCH = 500
"""Runs whose overrides are looked up at a time."""


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
    problems: list[RecordProblem]
    """Why the override does not cover them (`overrides.coverage`)."""

    def as_json(self, spec: IndexSpec) -> dict[str, object]:
        """The object `registry runs failed --json` lists."""
        return {
            spec.key: self.run.key,
            "failed_checks": self.failed_checks,
            "failed_gates": self.failed_gates,
            "override_id": self.override_id,
            "covered": self.covered,
            "problems": [problem.as_json() for problem in self.problems],
            "record": self.run.record,
        }

    def json_line(self, spec: IndexSpec) -> bytes:
        """`as_json` written as `json.dumps` writes it, the latest view as the log holds it
        (the same JSON value; a long answer never encodes its records again)."""
        problems = [problem.as_json() for problem in self.problems]
        return _line(
            spec,
            self.run,
            _texts(self.failed_checks),
            _texts(self.failed_gates),
            self.override_id,
            _LITERAL[self.covered],
            json.dumps(problems, ensure_ascii=False) if problems else "[]",
        )


def _line(
    spec: IndexSpec,
    run: Run,
    checks: str,
    gates: str,
    named: str | None,
    covered: str,
    problems: str,
) -> bytes:
    """One run of `runs failed --json` (its lists and literals given as JSON text)."""
    head = (
        f"{{{_text(spec.key)}: {_text(run.key)}, "
        f'"failed_checks": {checks}, "failed_gates": {gates}, '
        f'"override_id": {"null" if named is None else _text(named)}, '
        f'"covered": {covered}, "problems": {problems}, "record": '
    )
    return head.encode("utf-8") + run.raw + b"}"


def failed_runs(
    index: LogIndex, where: Window, *, gates: bool = False, limit: int | None = None
) -> Iterator[FailedRun]:
    """The failed runs in `where`, oldest first, marked (one at a time)."""
    for run, _checks, failed_gates, named, found in _marked(index, where, gates, limit):
        yield found or FailedRun(run, [], query.fields_of(failed_gates), named, None, [])


def failed_lines(
    index: LogIndex, where: Window, *, gates: bool = False, limit: int | None = None
) -> Iterator[bytes]:
    """`FailedRun.json_line` of each of `failed_runs`: a run none of whose uniqueness checks
    FAILed is written from what the sidecar holds of it, its record never parsed."""
    spec = index.spec
    for run, checks, failed_gates, named, found in _marked(index, where, gates, limit):
        if found is not None:
            yield found.json_line(spec)
        else:
            yield _line(spec, run, checks, failed_gates, named, "null", "[]")


Marked = tuple[Run, str, str, str | None, "FailedRun | None"]
"""A failed run, what the sidecar holds of its failure (`query.iter_marked`), and when a
uniqueness check FAILed, the run marked (`mark`)."""


def _marked(index: LogIndex, where: Window, gates: bool, limit: int | None) -> Iterator[Marked]:
    """Each failed run; one whose uniqueness checks all passed is marked from what the sidecar
    holds of it (`sidecar.marks`: what `mark` finds in its record), the others by `mark`, their
    overrides looked up BATCH runs at a time."""
    overrides = Overrides(index.root, index.catalog, index.spec)
    try:
        found = query.iter_marked(index, where, gates=gates, limit=limit)
        while batch := list(itertools.islice(found, BATCH)):
            yield from _batch(index.spec, batch, overrides)
    finally:
        overrides.close()


def _batch(
    spec: IndexSpec, batch: list[tuple[Run, str, str, str | None]], overrides: Overrides
) -> Iterator[Marked]:
    named = [name for _run, checks, _gates, name in batch if checks != "[]" and name is not None]
    unreadable: list[RecordProblem] = []
    try:
        logged = overrides.lookup(named)
    except RegistryError as exc:
        logged = {}
        unreadable = [RecordProblem(0, "", "DEPENDENCY_UNREADABLE", exc.message, path=exc.path)]
    for run, checks, failed_gates, name in batch:
        if checks == "[]":
            yield run, checks, failed_gates, name, None
        else:
            found = mark(spec, run, logged, unreadable, checks=query.fields_of(checks))
            yield run, checks, failed_gates, name, found


def mark(
    spec: IndexSpec,
    run: Run,
    logged: dict[str, dict[str, Any]],
    unreadable: list[RecordProblem] | None = None,
    *,
    checks: list[str] | None = None,
) -> FailedRun:
    """`run` marked: `logged` holds the overrides it may name (by id); `checks`: its failed
    uniqueness checks, when known already."""
    record = run.record
    if checks is None:
        checks = failed_checks(record)
    gates = [] if spec.failure is None else spec.failure.holding(record)
    named = _named(record)
    problems: list[RecordProblem] = []
    covered: bool | None = None
    if checks:
        if named is not None or needs_override(spec, record):
            problems = unreadable or coverage(
                spec, run.line, record, None if named is None else logged.get(named)
            )
        covered = named is not None and not problems
    return FailedRun(
        run,
        checks,
        [field for field in gates if not is_check(field)],
        named,
        covered,
        [problem.at(spec.source) for problem in problems],
    )


_LITERAL = {True: "true", False: "false", None: "null"}


def _texts(items: list[str]) -> str:
    return f"[{', '.join(map(_text, items))}]"


def _named(record: dict[str, Any]) -> str | None:
    value = record.get(OVERRIDE)
    return value if isinstance(value, str) else None
