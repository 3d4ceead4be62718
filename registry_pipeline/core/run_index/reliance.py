"""The other side of the override rule: an override a run relies on cannot be narrowed or
re-pointed. For the overrides log, a record (the override's new latest view) is judged against
every run of the run index it serves whose latest view needs an override and names it, by the
same `coverage` that judges the run: one problem per run and uncovered check, naming the run.
Only overrides some run names are judged; the runs are read once, from the working tree's
sidecar (only those that passed with a failed check) or through `read` (the build)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.run_index.overrides import Read, coverage, needs_override
from registry_pipeline.core.run_index.records import RecordProblem
from registry_pipeline.core.run_index.spec import IndexSpec, index_specs
from registry_pipeline.core.run_index.uniqueness import OVERRIDE
from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.write_path.content import Keep, entry_types


def served_index(catalog: RegistryCatalog, spec: IndexSpec) -> IndexSpec | None:
    """The run index whose overrides log `spec` is (None: `spec` is no overrides log)."""
    from registry_pipeline.core.run_index.overrides import overrides_log

    for other in index_specs(catalog).values():
        log = overrides_log(catalog, other)
        if log is not None and log.registry_id == spec.registry_id:
            return other
    return None


def relying(runs: IndexSpec) -> Keep:
    """Whether a latest view of the run index `runs` relies on an override: it passed with a
    failed check and names one."""

    def relies(view: Any) -> bool:
        return (
            isinstance(view, dict)
            and isinstance(view.get(OVERRIDE), str)
            and needs_override(runs, view)
        )

    return relies


class Reliance:
    """The runs relying on the overrides of the overrides log `spec`, by override id."""

    def __init__(
        self, root: Path, catalog: RegistryCatalog, spec: IndexSpec, read: Read | None = None
    ) -> None:
        self.root = root
        self.catalog = catalog
        self.spec = spec
        self.runs = served_index(catalog, spec)
        self.read = read
        self.index: LogIndex | None = None
        self._by: dict[str, list[dict[str, Any]]] | None = None

    @property
    def active(self) -> bool:
        """Whether `spec` is an overrides log (else there is nothing to judge)."""
        return self.runs is not None

    def problems(self, records: Iterable[tuple[int, dict[str, Any]]]) -> list[RecordProblem]:
        """Each run left uncovered by a record of `records` ((line, record)), per check."""
        records = list(records)
        if self.runs is None or not records:
            return []
        try:
            by = self._relying()
        except RegistryError as exc:
            return [
                RecordProblem(
                    0,
                    "",
                    "DEPENDENCY_UNREADABLE",
                    f"the run index cannot be read ({exc.message}): the runs relying on these "
                    "overrides not checked",
                )
            ]
        return [
            problem
            for line, record in records
            for run in by.get(str(record.get(self.spec.key)), [])
            for problem in self._judged(line, record, run)
        ]

    def _judged(
        self, line: int, record: dict[str, Any], run: dict[str, Any]
    ) -> Iterator[RecordProblem]:
        assert self.runs is not None
        named, key = record.get(self.spec.key), run.get(self.runs.key)
        for found in coverage(self.runs, line, run, record):
            if found.code == "OVERRIDE_OTHER_RUN":
                field = f"/{self.runs.key}"
                message = (
                    f"{key} relies on {named}, which this record logs for "
                    f"{record.get(self.runs.key)!r} instead"
                )
            else:
                field = "/checks"
                message = (
                    f"{key} relies on {named} for {found.field.lstrip('/')} (FAILed, "
                    f"{self.runs.success}): this record's checks no longer cover it"
                )
            yield RecordProblem(line, field, found.code, message, named)

    def _relying(self) -> dict[str, list[dict[str, Any]]]:
        if self._by is None:
            self._by = {}
            for run in self._needing():
                self._by.setdefault(run[OVERRIDE], []).append(run)
        return self._by

    def _needing(self) -> Iterator[dict[str, Any]]:
        """The latest views that passed with a failed check and name an override."""
        assert self.runs is not None
        relies = relying(self.runs)
        if self.read is not None:
            runs = entry_types(self.catalog)[self.runs.type_name]
            content = self.read(self.root, runs, relies)  # only those: never a million records
            if content.problems:
                raise RegistryError("; ".join(p.message for p in content.problems))
            views: Iterable[Any] = (entry.value for entry in content.entries.values())
        else:
            from registry_pipeline.core.run_index import query

            self.index = LogIndex(self.root, self.catalog, self.runs)
            self.index.sync()
            views = query.passed_despite_failure(self.index)
        yield from filter(relies, views)

    def close(self) -> None:
        """Close the run index's sidecar, if it was opened."""
        if self.index is not None:
            self.index.close()
