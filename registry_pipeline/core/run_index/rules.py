"""The rules on records beyond their own fields, shared by `registry runs append` and the build's
blocking `rules` check (`log_check`): the overrides of passing records that failed a uniqueness
check (`overrides`), the workspace's coordination rules (the write path's, e.g. a named override
must exist in the overrides log), and the warnings the catalog declares (recommended fields,
files that should exist)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import ReasonCode
from registry_pipeline.core.run_index import query
from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.run_index.overrides import FIELD, Overrides, Read, overrides_log
from registry_pipeline.core.run_index.records import RecordProblem
from registry_pipeline.core.run_index.reliance import Reliance, relying, served_index
from registry_pipeline.core.run_index.spec import IndexSpec, index_spec
from registry_pipeline.core.run_index.view_warnings import ViewWarnings
from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.workspace.sources import SourceError, source_paths
from registry_pipeline.core.write_path import (
    Entry,
    TypeContent,
    entry_types,
    evaluate,
    load_coordination,
    read_type,
)
from registry_pipeline.core.write_path.content import EntryType, Keep, log_content
from registry_pipeline.core.write_path.rules import Coordination, rules_involving, values_at

CHUNK = 5_000
"""Records given to the coordination rules at a time."""


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
        keeps = self._keeps(catalog, names)
        read = None if read is None else _once(read, keeps)
        self.looked_up = {  # logs only referred to by plain exists: read by key from their index
            name: LogIndex(root, catalog, index_spec(catalog, types[name].registry_id))
            for name in names
            if read is None and types[name].layout == "log" and self._only_looked_up(name)
        }
        self.others = {
            name: read(root, types[name]) if read else _working(root, types[name], keeps.get(name))
            for name in names - set(self.looked_up)
        }
        self.overrides = Overrides(
            root, catalog, spec, report_absent=not self._existence_checked(), read=read
        )
        self.reliance = Reliance(root, catalog, spec, read)
        self.view = ViewWarnings(spec)
        self.heads = None if self.reliance.active else _heads(self.coordination, spec.type_name)
        """The top-level fields a record must hold for `problems` to say anything about it
        unless it needs an override (None: any record may get a finding)."""

    def relevant(self, record: dict[str, Any], *, overridden: bool) -> bool:
        """Whether `problems` can find anything about `record` (`overridden`: it needs an
        override, `overrides.needs_override`); the others need not be given to it."""
        return relevant(self.heads, record, overridden=overridden)

    def _keeps(self, catalog: RegistryCatalog, names: set[str]) -> dict[str, Keep]:
        """What of each other log in `names` must be read: all of one a rule judging this
        type's records reads (their findings are the only ones kept) and of the overrides log;
        of the run index an overrides log serves, the runs relying on an override (`reliance`);
        of the others, only their problems (a rule of theirs says nothing about this type)."""
        judged = {
            name
            for rule in self.coordination.rules
            if rule.source_type == self.spec.type_name
            for name in rule.types
        }
        log = overrides_log(catalog, self.spec)
        judged.update(() if log is None else (log.type_name,))
        keeps: dict[str, Keep] = {name: _no_view for name in names - judged}
        runs = served_index(catalog, self.spec)
        if runs is not None and runs.type_name not in judged:
            keeps[runs.type_name] = relying(runs)
        return keeps

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
        """The catalog's warnings for a run's latest view (`view_warnings`)."""
        return self.view.warnings(line, record)


def entry_types_of(index: LogIndex) -> EntryType:
    """The write path's type of a run index (its records as coordination rules see them)."""
    return entry_types(index.catalog)[index.spec.type_name]


def _once(read: Read, keeps: Mapping[str, Keep]) -> Read:
    """`read`, each type read once (the overrides, the reliance and the coordination rules
    share it), keeping of a log what `keeps` says they all need (a caller's own `keep` is part
    of it); all of a type it does not name."""
    done: dict[str, TypeContent] = {}

    def once(root: Path, entry_type: EntryType, /, keep: Keep | None = None) -> TypeContent:
        name = entry_type.name
        if name not in done:
            wanted = keeps.get(name)
            done[name] = (
                read(root, entry_type) if wanted is None else read(root, entry_type, wanted)
            )
        return done[name]

    return once


def _working(root: Path, entry_type: EntryType, keep: Keep | None) -> TypeContent:
    """`read_type` of the working tree; of a log only part of which is needed, its records
    parsed a line at a time, only those `keep` keeps held (never a million records)."""
    if keep is None or entry_type.layout != "log":
        return read_type(root, entry_type)
    try:
        files = source_paths(root, [entry_type.source]).files  # read a line at a time
    except SourceError as exc:  # as read_type: no file yet, no entry yet
        if any(p.code != ReasonCode.MISSING_FILE for p in exc.details):
            raise
        files = {}
    return log_content(entry_type, files.values(), keep)


def _no_view(_view: Any) -> bool:
    """Keeps no entry: a log read for its problems only."""
    return False


def relevant(heads: frozenset[str] | None, record: dict[str, Any], *, overridden: bool) -> bool:
    """`RecordRules.relevant`, given its `heads`."""
    return overridden or heads is None or not heads.isdisjoint(record)


def _heads(coordination: Coordination, own: str) -> frozenset[str] | None:
    """The top-level fields the coordination rules read of a record of type `own`, when each
    judges a record by its own values alone (exists towards another type, one_of): a record
    holding none of them gets no finding. None when some rule compares records with each other
    or refers to type `own`: every record is relevant then."""
    heads: set[str] = set()
    for rule in coordination.rules:
        if rule.kind == "not_deprecated":
            continue  # it judges the references the exists rules resolved
        if rule.target_type == own or rule.source_type != own:
            return None
        if rule.kind not in ("exists", "one_of") or not rule.field:
            return None
        head = rule.field[1:].split("/")[0]
        if head == "*":
            return None
        heads.add(head)
    return frozenset(heads)


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
