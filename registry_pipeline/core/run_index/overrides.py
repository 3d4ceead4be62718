"""Seed 004: "If any uniqueness check is `FAIL`, `qa_gate2` should not be `PASS` unless an
override was logged (see `OVERRIDES-LOG`)".

A record that meets the index's success predicate (qa_gate2 PASS) with a failed uniqueness check
must name an override (`override_id`) that is in the overrides log (the catalog's run index
keyed by `override_id`), names this run (its `run_id`: the index's key) and covers every check
that FAILed (its `checks`). One problem per fact: OVERRIDE_MISSING, OVERRIDE_NOT_LOGGED,
OVERRIDE_OTHER_RUN, and OVERRIDE_NOT_COVERING once per uncovered check. `coverage` is the one
function that judges an override, for `registry runs append`, the build's `log_problems` and the
marks of `registry runs failed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.run_index import query
from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.run_index.records import RecordProblem
from registry_pipeline.core.run_index.spec import IndexSpec, index_specs
from registry_pipeline.core.run_index.uniqueness import OVERRIDE, failed_checks
from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.write_path.content import EntryType, Keep, TypeContent, entry_types


class Read(Protocol):
    """How another registry's entries are read instead of the working tree (`read_type`): in
    the build, from a sealed snapshot (`core.gate.dependencies.SnapshotReader.read`). `keep`:
    of a log, only the entries whose latest view it keeps are needed (a reader may leave the
    others out); the problems are those of every line all the same (None: every entry)."""

    def __call__(
        self, root: Path, entry_type: EntryType, /, keep: Keep | None = None
    ) -> TypeContent: ...


COVERS = "checks"
"""The field of an override listing the checks it covers."""
FIELD = f"/{OVERRIDE}"


def needs_override(spec: IndexSpec, record: dict[str, Any]) -> bool:
    """Whether `record` succeeded (the index's success predicate) with a failed check."""
    return spec.success is not None and spec.success(record) and bool(failed_checks(record))


def coverage(
    spec: IndexSpec,
    line: int,
    record: dict[str, Any],
    found: dict[str, Any] | None,
    *,
    report_absent: bool = True,
) -> list[RecordProblem]:
    """Why the override `record` names does not cover its failed checks ([] when it does);
    `found`: that override's latest record (None: not in the overrides log, said unless
    `report_absent` is False because a coordination rule says it already)."""
    key = record.get(spec.key)
    failed = failed_checks(record)
    named = record.get(OVERRIDE)
    if not isinstance(named, str):
        return [
            RecordProblem(
                line,
                FIELD,
                "OVERRIDE_MISSING",
                f"{' and '.join(failed)} FAILed and the run passed ({spec.success}): name the "
                "override that allows it",
                key,
            )
        ]
    if found is None:
        if not report_absent:
            return []
        return [
            RecordProblem(
                line, FIELD, "OVERRIDE_NOT_LOGGED", f"{named} is not in the overrides log", key
            )
        ]
    problems = []
    if found.get(spec.key) != key:
        problems.append(
            RecordProblem(
                line,
                FIELD,
                "OVERRIDE_OTHER_RUN",
                f"{named} is logged for {found.get(spec.key)!r}, not for this run",
                key,
            )
        )
    covers = found.get(COVERS)
    covered = [c for c in covers if isinstance(c, str)] if isinstance(covers, list) else []
    problems.extend(
        RecordProblem(
            line,
            f"/{check}",
            "OVERRIDE_NOT_COVERING",
            f"FAILed, but {named} covers only {', '.join(covered) or 'nothing'}",
            key,
        )
        for check in failed
        if check not in covered
    )
    return problems


class Overrides:
    """The overrides log of a run index, read by key: from the working tree through its own
    sidecar (only the ids the records name), or through `read` (the build: a sealed
    snapshot)."""

    def __init__(
        self,
        root: Path,
        catalog: RegistryCatalog,
        spec: IndexSpec,
        *,
        report_absent: bool = True,
        read: Read | None = None,
    ) -> None:
        self.spec = spec
        self.report_absent = report_absent
        log = overrides_log(catalog, spec)
        self.log = None if log is None or read is not None else LogIndex(root, catalog, log)
        self.content = (
            None if log is None or read is None else read(root, entry_types(catalog)[log.type_name])
        )

    def lookup(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The latest record of each of `ids` the overrides log has."""
        wanted = sorted(set(ids))
        if self.content is not None:
            if self.content.problems:
                raise RegistryError("; ".join(p.message for p in self.content.problems))
            entries = self.content.entries
            return {key: entries[key].value for key in wanted if key in entries}
        if self.log is None or not wanted:
            return {}
        self.log.sync()
        return {
            key: found for key, (found, _line) in query.latest_records(self.log, wanted).items()
        }

    def problems(self, records: Iterable[tuple[int, dict[str, Any]]]) -> list[RecordProblem]:
        """The rule on `records` ((line, record)): each that needs an override, judged by
        `coverage`."""
        judged = [(line, record) for line, record in records if needs_override(self.spec, record)]
        if not judged:
            return []
        try:
            found = self.lookup(_named(judged))
        except RegistryError as exc:
            return [
                RecordProblem(
                    0,
                    "",
                    "DEPENDENCY_UNREADABLE",
                    f"the overrides log cannot be read ({exc.message}): overrides not checked",
                )
            ]
        return [
            problem
            for line, record in judged
            for problem in coverage(
                self.spec,
                line,
                record,
                found.get(str(record.get(OVERRIDE))),
                report_absent=self.report_absent,
            )
        ]

    def close(self) -> None:
        """Close the overrides log's sidecar."""
        if self.log is not None:
            self.log.close()


def overrides_log(catalog: RegistryCatalog, spec: IndexSpec) -> IndexSpec | None:
    """The overrides log of the run index `spec`: the other run index keyed by `override_id`."""
    return next(
        (
            other
            for other in index_specs(catalog).values()
            if other.key == OVERRIDE and other.registry_id != spec.registry_id
        ),
        None,
    )


def _named(records: Iterable[tuple[int, dict[str, Any]]]) -> list[str]:
    return [r[OVERRIDE] for _line, r in records if isinstance(r.get(OVERRIDE), str)]
