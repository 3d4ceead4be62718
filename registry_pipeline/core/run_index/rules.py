"""The rules beyond one record's schema, shared by `registry runs append` and the build's
blocking `rules` check: a key's records in order (`order`), the record's own fields (`fields`:
absolute file paths, required at Final Save), the overrides of passing records that failed a
uniqueness check (`overrides`), the workspace's coordination rules (the write path's, e.g. a
named override must exist in the overrides log), and the warnings the catalog declares
(recommended fields, files that should exist)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from registry_pipeline.core._json import JSONDecodeProblem, loads_strict
from registry_pipeline.core.run_index import query
from registry_pipeline.core.run_index.fields import (
    field_problems,
    is_native,
    path_problem,
    saved,
)
from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.run_index.order import Order, sort_key
from registry_pipeline.core.run_index.overrides import FIELD, Overrides, Read
from registry_pipeline.core.run_index.records import RecordProblem, shape_problems
from registry_pipeline.core.run_index.reliance import Reliance
from registry_pipeline.core.run_index.spec import IndexSpec, index_spec
from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.write_path import (
    Entry,
    TypeContent,
    entry_types,
    evaluate,
    load_coordination,
    read_type,
)
from registry_pipeline.core.write_path.coordinate import values_at
from registry_pipeline.core.write_path.rules import rules_involving
from registry_pipeline.core.write_path.types import EntryType

CHUNK = 5_000
"""Records given to the coordination rules at a time."""
MAX_WARNINGS = 1_000
"""Warnings kept by a whole-log check; beyond, one MORE_WARNINGS says how many more."""


class RecordRules:
    """The coordination rules and warnings for records of one run index."""

    def __init__(
        self, root: Path, catalog: RegistryCatalog, spec: IndexSpec, read: Read | None = None
    ) -> None:
        """`read`: how the other registries are read (None: the working tree, what `registry
        runs append` checks against; the build passes its sealed-snapshot reader)."""
        self.root = root
        self.spec = spec
        types = entry_types(catalog)
        self.own = types[spec.type_name]
        self.coordination = rules_involving(
            load_coordination(root, catalog.coordination, types), spec.type_name
        )
        names = {name for rule in self.coordination.rules for name in rule.types}
        names.discard(spec.type_name)
        read = None if read is None else _once(read)
        self.looked_up = {  # logs only referred to by plain exists: read by key from their index
            name: LogIndex(root, catalog, index_spec(catalog, types[name].registry_id))
            for name in names
            if read is None and types[name].layout == "log" and self._only_looked_up(name)
        }
        self.others = {
            name: (read or read_type)(root, types[name]) for name in names - set(self.looked_up)
        }
        self.overrides = Overrides(
            root, catalog, spec, report_absent=not self._existence_checked(), read=read
        )
        self.reliance = Reliance(root, catalog, spec, read)

    def _existence_checked(self) -> bool:
        """Whether a coordination rule refuses already a named override that does not exist."""
        return any(
            rule.kind == "exists"
            and rule.severity == "error"
            and rule.source_type == self.spec.type_name
            and rule.field == FIELD
            for rule in self.coordination.rules
        )

    def problems(
        self, records: list[tuple[int, dict[str, Any]]], *, relied: bool = True
    ) -> list[RecordProblem]:
        """The overrides' and the coordination rules' findings about `records` ((line, record),
        keys present), each with its record's line; with `relied` (each record is its key's
        latest: an append), also the runs an override record leaves uncovered (`reliance`)."""
        found = [*self.overrides.problems(records), *self.coordination_problems(records)]
        return [*found, *self.reliance.problems(records)] if relied else found

    def close(self) -> None:
        """Close the sidecars opened to read other logs."""
        self.overrides.close()
        self.reliance.close()

    def _only_looked_up(self, name: str) -> bool:
        """Whether every rule reading type `name` only looks up keys in it (exists, no
        patterns): then only the keys the records name are read, through its sidecar."""
        return all(
            rule.kind == "exists"
            and rule.target_type == name
            and not rule.patterns
            and rule.source_type == self.spec.type_name
            for rule in self.coordination.rules
            if name in rule.types
        )

    def _looked_up_contents(
        self, group: list[tuple[int, dict[str, Any]]]
    ) -> dict[str, TypeContent]:
        """For each log read by key: the entries the records of `group` name, and no more."""
        contents: dict[str, TypeContent] = {}
        for name, index in self.looked_up.items():
            wanted = {
                value
                for rule in self.coordination.rules
                if rule.target_type == name
                for _line, record in group
                for _where, value in values_at(record, rule.field or "")
                if isinstance(value, str)
            }
            found: dict[str, Entry] = {}
            if wanted:
                index.sync()
                for key, (record, line) in query.latest_records(index, sorted(wanted)).items():
                    found[key] = Entry(key, record, index.spec.source, line)
            contents[name] = TypeContent(entry_types_of(index), found)
        return contents

    def coordination_problems(
        self, records: list[tuple[int, dict[str, Any]]]
    ) -> list[RecordProblem]:
        """Findings of the coordination rules about `records` ((line, record), keys present),
        each with its record's line."""
        if not self.coordination.rules:
            return []
        unreadable = self._unreadable(records)
        if unreadable:
            return unreadable
        found: list[RecordProblem] = []
        for group in _unique_key_groups(records, self.spec.key):
            lines = {record[self.spec.key]: line for line, record in group}
            entries = {
                record[self.spec.key]: Entry(record[self.spec.key], record, self.own.source, line)
                for line, record in group
            }
            contents = {
                **self.others,
                **self._looked_up_contents(group),
                self.spec.type_name: TypeContent(self.own, entries),
            }
            found.extend(
                RecordProblem(
                    lines.get(f.key or "", 0), f.field, f.code, f.message, f.key, f.severity
                )
                for f in evaluate(self.coordination, contents)
                if f.type == self.spec.type_name
            )
        return found

    def _unreadable(self, records: list[tuple[int, dict[str, Any]]]) -> list[RecordProblem]:
        """The problems reading the other registries that matter to `records`: a log only
        looked up by key (exists) matters only when a record names a key in it."""
        return [
            RecordProblem(
                0,
                "",
                p.code if p.code == "DEPENDENCY_NOT_SEALED" else "DEPENDENCY_UNREADABLE",
                f"{p.type} cannot be read ({p.message}): coordination not checked",
            )
            for name, content in self.others.items()
            if content.problems and self._needed(name, records)
            for p in content.problems
        ]

    def _needed(self, name: str, records: list[tuple[int, dict[str, Any]]]) -> bool:
        if not self._only_looked_up(name):
            return True
        return any(
            values_at(record, rule.field or "")
            for rule in self.coordination.rules
            if rule.target_type == name
            for _line, record in records
        )

    def warnings(self, line: int, record: dict[str, Any]) -> list[RecordProblem]:
        """The catalog's warnings for a run's latest view: recommended fields absent at Final
        Save (seed 004: "Recommended required at Final Save"), files named in this machine's
        form that do not exist here (what `fields` makes an error is not also a warning)."""
        file_fields = self.spec.file_fields
        key = record.get(self.spec.key)
        final = saved(self.spec, record)  # at Final Save a file field's absence is an error
        found = [
            RecordProblem(
                line,
                f"/{field}",
                "RECOMMENDED_MISSING",
                "is recommended at Final Save",
                key,
                "warning",
            )
            for field in (self.spec.recommended if final else ())
            if record.get(field) in (None, "", []) and field not in file_fields
        ]
        for field in file_fields:
            value = record.get(field)
            if (
                isinstance(value, str)
                and path_problem(value) is None
                and is_native(value)
                and not Path(value).exists()
            ):
                found.append(
                    RecordProblem(
                        line,
                        f"/{field}",
                        "FILE_ABSENT",
                        f"{value!r} does not exist on this machine",
                        key,
                        "warning",
                    )
                )
        return found


def entry_types_of(index: LogIndex) -> EntryType:
    """The write path's type of a run index (its records as coordination rules see them)."""
    return entry_types(index.catalog)[index.spec.type_name]


def log_problems(
    root: Path, catalog: RegistryCatalog, spec: IndexSpec, data: bytes, read: Read | None = None
) -> list[RecordProblem]:
    """Every problem of a whole log (the build's `rules` check on the sealed bytes): a torn
    last line, lines that do not parse, records whose key and time are unusable, the
    problems of a record's own fields, a key's record not later than the one before, the
    override and coordination findings of every record and the warnings of each run's latest
    view, each in the log `spec.source`. Schema violations are the `schema_valid` check's.
    `read`: how the other registries are read (the build: their sealed snapshots)."""
    problems: list[RecordProblem] = []
    if data and not data.endswith(b"\n"):
        line = data.count(b"\n") + 1
        problems.append(RecordProblem(line, "", "LOG_TORN", "the last line is incomplete"))
        data = data[: data.rfind(b"\n") + 1]
    rules = RecordRules(root, catalog, spec, read)
    order = Order()
    try:
        chunk: list[tuple[int, dict[str, Any]]] = []
        for line, record in _records(data, problems, spec):
            chunk.append((line, record))
            if len(chunk) >= CHUNK:
                _check_chunk(rules, order, chunk, problems, spec)
        _check_chunk(rules, order, chunk, problems, spec)
        problems.extend(
            RecordProblem(line, f"/{spec.time}", "AUGMENT_NOT_LATER", _not_later(spec), key)
            for line, key in order.not_later()
        )
        if spec.recommended or spec.file_fields or rules.reliance.active:
            latest = order.latest_lines()
            warned = 0
            views: list[tuple[int, dict[str, Any]]] = []
            for line, record in _records(data, [], spec):
                if line in latest:
                    found = rules.warnings(line, record)
                    problems.extend(found[: max(0, MAX_WARNINGS - warned)])
                    warned += len(found)
                    if rules.reliance.active:
                        views.append((line, record))
            problems.extend(rules.reliance.problems(views))
            if warned > MAX_WARNINGS:
                problems.append(
                    RecordProblem(
                        0,
                        "",
                        "MORE_WARNINGS",
                        f"{warned - MAX_WARNINGS} more warning(s)",
                        severity="warning",
                    )
                )
    finally:
        order.close()
        rules.close()
    return sorted((p.at(spec.source) for p in problems), key=lambda p: p.line)


def _once(read: Read) -> Read:
    """`read`, each type read once (the overrides and the coordination rules share it)."""
    done: dict[str, TypeContent] = {}

    def once(root: Path, entry_type: EntryType) -> TypeContent:
        if entry_type.name not in done:
            done[entry_type.name] = read(root, entry_type)
        return done[entry_type.name]

    return once


def _not_later(spec: IndexSpec) -> str:
    return (
        f"an earlier line has the same {spec.key} at the same place or later ({spec.time}, "
        f"then {spec.updated}): a record augmenting a run must come after its previous one"
    )


def _check_chunk(
    rules: RecordRules,
    order: Order,
    chunk: list[tuple[int, dict[str, Any]]],
    problems: list[RecordProblem],
    spec: IndexSpec,
) -> None:
    problems.extend(rules.problems(chunk, relied=False))
    order.add((line, record[spec.key], sort_key(spec, record)) for line, record in chunk)
    chunk.clear()


def _records(
    data: bytes, problems: list[RecordProblem], spec: IndexSpec
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) of each line whose record has a usable key and time; the others are
    problems."""
    for number, raw in enumerate(_lines(data), start=1):
        if not raw.strip():
            continue
        try:
            record = loads_strict(raw)
        except JSONDecodeProblem as exc:
            problems.append(RecordProblem(number, "", "RECORD_UNPARSABLE", exc.message))
            continue
        found = shape_problems(spec, number, record)
        if found:
            problems.extend(found)
        else:
            problems.extend(field_problems(spec, number, record))
            yield number, record


def _lines(data: bytes) -> Iterator[bytes]:
    """The complete lines of `data`, one at a time (never a list of a million lines)."""
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        yield data[start:end]
        start = end + 1


def _unique_key_groups(
    records: list[tuple[int, dict[str, Any]]], key: str
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Consecutive groups in which no key repeats (each record is checked as an entry)."""
    group: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    for line, record in records:
        if record[key] in seen:
            yield group
            group, seen = [], set()
        group.append((line, record))
        seen.add(record[key])
    if group:
        yield group
