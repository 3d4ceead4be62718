"""Seed 004: "Find runs that failed uniqueness checks". `registry runs failed` lists the runs whose
latest view has a uniqueness check FAIL and marks each: the checks and gates that FAILed, the
override it names, and whether that override covers every failed check (`overrides.coverage`,
the rule `registry runs append` applies). With `gates`: the runs meeting the catalog's failure
predicate (any gate or uniqueness check FAIL), marked alike."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.run_index import query
from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.run_index.overrides import OVERRIDE, Overrides, coverage, needs_override
from registry_pipeline.core.run_index.query import Run, Window
from registry_pipeline.core.run_index.records import RecordProblem
from registry_pipeline.core.run_index.spec import IndexSpec
from registry_pipeline.core.run_index.uniqueness import failed_checks, is_check

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


def failed_runs(
    index: LogIndex, where: Window, *, gates: bool = False, limit: int | None = None
) -> Iterator[FailedRun]:
    """The failed runs in `where`, oldest first, marked (one at a time)."""
    overrides = Overrides(index.root, index.catalog, index.spec)
    try:
        found = query.iter_runs(index, where, failed=True, gates=gates, limit=limit)
        while batch := list(itertools.islice(found, BATCH)):
            yield from _marked(index.spec, batch, overrides)
    finally:
        overrides.close()


def _marked(spec: IndexSpec, batch: list[Run], overrides: Overrides) -> Iterator[FailedRun]:
    named = [_named(run.record) for run in batch if failed_checks(run.record)]
    unreadable: list[RecordProblem] = []
    try:
        logged = overrides.lookup(name for name in named if name is not None)
    except RegistryError as exc:
        logged = {}
        unreadable = [RecordProblem(0, "", "DEPENDENCY_UNREADABLE", exc.message, path=exc.path)]
    for run in batch:
        yield mark(spec, run, logged, unreadable)


def mark(
    spec: IndexSpec,
    run: Run,
    logged: dict[str, dict[str, Any]],
    unreadable: list[RecordProblem] | None = None,
) -> FailedRun:
    """`run` marked: `logged` holds the overrides it may name (by id)."""
    record = run.record
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


def _named(record: dict[str, Any]) -> str | None:
    value = record.get(OVERRIDE)
    return value if isinstance(value, str) else None
