"""Rules on records beyond their own fields: overrides and coordination; see docs/RUN_INDEX.md."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from registry_pipeline.core.errors import Problem, RegistryError, UsageError, render
from registry_pipeline.core.run_index.index import (
    LogIndex,
    latest_records,
    relied_on,
)
from registry_pipeline.core.run_index.records import record_problem, shape_problems
from registry_pipeline.core.run_index.spec import (
    OVERRIDE,
    IndexSpec,
    failed_checks,
    index_spec,
    index_specs,
)
from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.workspace.sources import only_missing, source_paths
from registry_pipeline.core.write_path import (
    Entry,
    TypeContent,
    entry_types,
    evaluate,
    load_coordination,
    read_type,
)
from registry_pipeline.core.write_path.content import EntryType, Keep, entry_of, log_content
from registry_pipeline.core.write_path.rules import Coordination, rules_involving, values_at


class Read(Protocol):
    """How another registry's entries are read instead of the working tree (the build: sealed)."""

    def __call__(
        self, root: Path, entry_type: EntryType, /, keep: Keep | None = None
    ) -> TypeContent: ...


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
) -> list[Problem]:
    """Why the override `record` names does not cover its failed checks; `found`: None, unlogged."""
    key = record.get(spec.key)
    failed = failed_checks(record)
    named = record.get(OVERRIDE)

    def problem(code: str, field: str = FIELD, **fields: Any) -> Problem:
        return record_problem(line, field, code, render(code, override=named, **fields), key)

    if not isinstance(named, str):
        return [problem("OVERRIDE_MISSING", failed=" and ".join(failed), success=spec.success)]
    if found is None:
        return [problem("OVERRIDE_NOT_LOGGED")] if report_absent else []
    problems = []
    if found.get(spec.key) != key:
        problems.append(problem("OVERRIDE_OTHER_RUN", other=found.get(spec.key)))
    covers = found.get("checks")  # the checks the override covers
    covered = [c for c in covers if isinstance(c, str)] if isinstance(covers, list) else []
    only = ", ".join(covered) or "nothing"
    problems.extend(problem("OVERRIDE_NOT_COVERING", f"/{check}", covered=only)
                    for check in failed if check not in covered)  # fmt: skip
    return problems


class OtherLog:
    """Another registry's log read by key: through its own sidecar, or from `read`."""

    def __init__(
        self,
        root: Path,
        catalog: RegistryCatalog,
        spec: IndexSpec,
        read: Read | None = None,
        keep: Keep | None = None,
    ) -> None:
        self.spec = spec
        self.type = entry_types(catalog)[spec.type_name]
        self.index = LogIndex(root, catalog, spec)  # never opened when `read` reads
        self.content = None if read is None else read(root, self.type, keep)

    def entries(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The latest entry of each of `keys` the log has (RegistryError: it cannot be read)."""
        wanted = sorted(set(keys))
        if self.content is not None:
            entries = _entries(self.content)
            return {key: entries[key] for key in wanted if key in entries}
        if not wanted:
            return {}
        index = self.index  # asked as a query is: a damaged sidecar is rebuilt, not INTERNAL
        found = index.answer(lambda: latest_records(index, wanted)).items()
        return {key: Entry(key, record, self.spec.source, line) for key, (record, line) in found}

    def values(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The latest record of each of `keys` the log has."""
        return {key: entry.value for key, entry in self.entries(keys).items()}

    def close(self) -> None:
        """Close the log's sidecar, if it was opened."""
        self.index.close()


def overrides(
    root: Path, catalog: RegistryCatalog, spec: IndexSpec, read: Read | None = None
) -> OtherLog | None:
    """The overrides log of the run index `spec`, read by key (None: it has none)."""
    log = overrides_log(catalog, spec)
    return None if log is None else OtherLog(root, catalog, log, read)


def _entries(content: TypeContent) -> dict[str, Entry]:
    """The entries of `content`; a RegistryError naming its problems when it has any."""
    if content.problems:
        raise RegistryError("; ".join(p.message for p in content.problems))
    return content.entries


def _unreadable(what: str, why: str, unchecked: str, code: str = "") -> Problem:
    """DEPENDENCY_UNREADABLE (or DEPENDENCY_NOT_SEALED): `unchecked` is not checked."""
    kept = code if code == "DEPENDENCY_NOT_SEALED" else "DEPENDENCY_UNREADABLE"
    message = f"{what} cannot be read ({why}): {unchecked} not checked"
    return record_problem(0, "", kept, message)


def overrides_log(catalog: RegistryCatalog, spec: IndexSpec) -> IndexSpec | None:
    """The overrides log of the run index `spec`: the other run index keyed by `override_id`."""
    for other in index_specs(catalog).values():
        if other.key == OVERRIDE and other.registry_id != spec.registry_id:
            return other
    return None


def served_index(catalog: RegistryCatalog, spec: IndexSpec) -> IndexSpec | None:
    """The run index whose overrides log `spec` is (None: `spec` is no overrides log)."""
    for other in index_specs(catalog).values():
        log = overrides_log(catalog, other)
        if log is not None and log.registry_id == spec.registry_id:
            return other
    return None


def _relies(runs: IndexSpec, view: Any) -> bool:
    """Whether a latest view of `runs` passed with a failed check and names an override."""
    return (
        isinstance(view, dict)
        and isinstance(view.get(OVERRIDE), str)
        and needs_override(runs, view)
    )


class Relied:
    """Every record of the run index `runs` relying on an override, by override, collected as
    a snapshot of it is read (a log reader's `keep`, called on each record in log order)."""

    def __init__(self, runs: IndexSpec, *, keep_all: bool = False) -> None:
        self.runs = runs
        self.keep_all = keep_all
        """Whether the reader must keep every run (another rule reads them all)."""
        self.by: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, view: Any) -> bool:
        relies = _relies(self.runs, view)
        if relies and not shape_problems(self.runs, 0, view):  # as the sidecar indexes lines
            self.by.setdefault(view[OVERRIDE], []).append(view)
        return relies or self.keep_all


class Reliance:
    """The run records relying on the overrides of the overrides log `spec`, by override id:
    every record, a superseded one too, as the run index's own check judges each one."""

    def __init__(
        self,
        root: Path,
        catalog: RegistryCatalog,
        spec: IndexSpec,
        read: Read | None = None,
        relied: Relied | None = None,
    ) -> None:
        self.spec = spec
        self.runs = served_index(catalog, spec)
        self.open = functools.partial(OtherLog, root, catalog, read=read)
        self.log: OtherLog | None = None
        self.relied = relied
        """With `read`: what reading the run index's snapshot collected."""

    @property
    def active(self) -> bool:
        """Whether `spec` is an overrides log (else there is nothing to judge)."""
        return self.runs is not None

    def problems(self, records: Iterable[tuple[int, dict[str, Any]]]) -> list[Problem]:
        """Each run left uncovered by a record of `records` ((line, record)), per check."""
        records = list(records)
        if self.runs is None or not records:
            return []
        named = {i for _line, record in records if isinstance(i := record.get(self.spec.key), str)}
        try:
            relying = self._relying(named)
        except RegistryError as exc:
            return [
                _unreadable("the run index", exc.message, "the runs relying on these overrides")
            ]
        return [
            problem
            for line, record in records
            for run in relying.get(str(record.get(self.spec.key)), [])
            for problem in self._judged(line, record, run)
        ]

    def _relying(self, named: set[str]) -> dict[str, list[dict[str, Any]]]:
        """Every run record relying on each override of `named` (RegistryError: unreadable)."""
        log = self.run_log()
        if log.content is not None:  # a snapshot: what reading it collected, if read whole
            _entries(log.content)
            by = {} if self.relied is None else self.relied.by
            return {override: by[override] for override in named if override in by}
        index = log.index  # asked as a query is: a damaged sidecar is rebuilt, not INTERNAL
        return index.answer(lambda: relied_on(index, sorted(named)))

    def _judged(self, line: int, record: dict[str, Any], run: dict[str, Any]) -> Iterator[Problem]:
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
                    f"{key} relies on {named} for {(found.field or '').lstrip('/')} (FAILed, "
                    f"{self.runs.success}): this record's checks no longer cover it"
                )
            yield record_problem(line, field, found.code, message, named)

    def run_log(self) -> OtherLog:
        """The run index, opened once (of a snapshot, only the records relying are held)."""
        assert self.runs is not None
        if self.log is None:
            keep = self.relied or functools.partial(_relies, self.runs)
            self.log = self.open(self.runs, keep=keep)
        return self.log

    def appended(
        self, runs: Iterable[Any], named: Callable[[set[str]], list[tuple[int, dict[str, Any]]]]
    ) -> list[Problem]:
        """Each run record of `runs` (appended meanwhile) left uncovered by a record `named`
        gives, the records naming the overrides those runs rely on."""
        assert self.runs is not None
        relying: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            if _relies(self.runs, run):  # few: only those relying are held
                relying.setdefault(run[OVERRIDE], []).append(run)
        return [
            problem
            for line, record in named(set(relying))
            for run in relying[record[self.spec.key]]
            for problem in self._judged(line, record, run)
        ]

    def close(self) -> None:
        """Close the run index's sidecar, if it was opened."""
        if self.log is not None:
            self.log.close()


CHUNK = 5_000
"""Records given to the coordination rules at a time."""


class RecordRules:
    """The coordination rules and warnings for records of one run index."""

    def __init__(
        self, root: Path, catalog: RegistryCatalog, spec: IndexSpec, read: Read | None = None
    ) -> None:
        """`read`: how the other registries are read (None: the working tree)."""
        self.root = root
        self.spec = spec
        types = entry_types(catalog)
        self.own = types[spec.type_name]
        self.coordination = rules_involving(
            load_coordination(root, catalog.coordination, types), spec.type_name
        )
        names = {name for rule in self.coordination.rules for name in rule.types}
        names.discard(spec.type_name)
        runs = served_index(catalog, spec)
        relied = None if runs is None or read is None else Relied(runs)
        keeps = self._keeps(catalog, names, relied)
        read = None if read is None else _once(read, keeps)
        self.looked_up = {  # logs only referred to by plain exists: read by key from their index
            name: OtherLog(root, catalog, index_spec(catalog, types[name].registry_id))
            for name in names
            if read is None and types[name].layout == "log" and self._only_looked_up(name)
        }
        self.others = {
            name: read(root, types[name]) if read else _working(root, types[name], keeps.get(name))
            for name in names - set(self.looked_up)
        }
        refused = any(  # a coordination rule refuses already a named override that does not exist
            rule.kind == "exists"
            and rule.severity == "error"
            and rule.source_type == spec.type_name
            and rule.field == FIELD
            for rule in self.coordination.rules
        )
        self.overrides = overrides(root, catalog, spec, read)
        self.judge = functools.partial(coverage, spec, report_absent=not refused)
        self.reliance = Reliance(root, catalog, spec, read, relied)
        self.heads = None if self.reliance.active else _heads(self.coordination, spec.type_name)
        """The fields a record must hold for `problems` to find anything (`_heads`)."""

    def _keeps(
        self, catalog: RegistryCatalog, names: set[str], relied: Relied | None
    ) -> dict[str, Keep]:
        """What of each other log in `names` must be read: all, relying runs, or its problems;
        `relied` collects the relying records of a snapshot of the run index read."""
        judged = {
            name
            for rule in self.coordination.rules
            if rule.source_type == self.spec.type_name
            for name in rule.types
        }
        log = overrides_log(catalog, self.spec)
        judged.update(() if log is None else (log.type_name,))
        keeps: dict[str, Keep] = {name: lambda _view: False for name in names - judged}
        runs = served_index(catalog, self.spec)
        if relied is not None:
            relied.keep_all = relied.runs.type_name in judged
            keeps[relied.runs.type_name] = relied
        elif runs is not None and runs.type_name not in judged:
            keeps[runs.type_name] = functools.partial(_relies, runs)
        return keeps

    def problems(
        self, records: list[tuple[int, dict[str, Any]]], *, relied: bool = True
    ) -> list[Problem]:
        """The overrides' and coordination rules' findings; `relied`: also runs left uncovered."""
        found = [*self.override_problems(records), *self.coordination_problems(records)]
        return [*found, *self.reliance.problems(records)] if relied else found

    def partner(self) -> LogIndex | None:
        """The other log of this index's override pair, as these rules read it (None: none)."""
        if self.overrides is not None:
            return self.overrides.index
        return self.reliance.run_log().index if self.reliance.active else None

    def pair_key(self, record: dict[str, Any]) -> str | None:
        """The override by which the verdict on `record` depends on its `partner` (None: none)."""
        if self.overrides is not None:
            named = record.get(OVERRIDE)
            return named if isinstance(named, str) and needs_override(self.spec, record) else None
        key = record.get(self.spec.key) if self.reliance.active else None
        return key if isinstance(key, str) else None

    def recheck(
        self,
        appended: Iterable[dict[str, Any]],
        named: Callable[[set[str]], list[tuple[int, dict[str, Any]]]],
    ) -> list[Problem]:
        """The override rule's errors again on the records `named` gives (by override), for the
        records the `partner` log `appended` since they were checked."""
        if self.overrides is not None:
            key = self.overrides.spec.key
            ids = {i for record in appended if isinstance(i := record.get(key), str)}
            found = self.override_problems(named(ids))
        else:
            found = self.reliance.appended(appended, named)
        return [problem for problem in found if problem.severity == "error"]

    def unreadable_partner(self, why: str) -> Problem:
        """DEPENDENCY_UNREADABLE: the `partner` log cannot be read again under the locks."""
        what = "the overrides log" if self.overrides is not None else "the run index"
        return _unreadable(what, why, "the override rule")

    def override_problems(self, records: Iterable[tuple[int, dict[str, Any]]]) -> list[Problem]:
        """`coverage` of each of `records` ((line, record)) that needs an override."""
        judged = [(line, record) for line, record in records if needs_override(self.spec, record)]
        if not judged:
            return []
        named = (r[OVERRIDE] for _l, r in judged if isinstance(r.get(OVERRIDE), str))
        try:
            found = {} if self.overrides is None else self.overrides.values(named)
        except RegistryError as exc:
            return [_unreadable("the overrides log", exc.message, "overrides")]
        return [
            p for line, r in judged for p in self.judge(line, r, found.get(str(r.get(OVERRIDE))))
        ]

    def close(self) -> None:
        """Close the sidecars opened to read other logs."""
        self.reliance.close()
        for log in (self.overrides, *self.looked_up.values()):
            if log is not None:
                log.close()

    def _only_looked_up(self, name: str) -> bool:
        """Whether every rule reading type `name` only looks up keys in it (exists, no patterns)."""
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
        return {
            name: TypeContent(
                log.type,
                log.entries(
                    value
                    for rule in self.coordination.rules
                    if rule.target_type == name
                    for _line, record in group
                    for _where, value in values_at(record, rule.field or "")
                    if isinstance(value, str)
                ),
            )
            for name, log in self.looked_up.items()
        }

    def coordination_problems(self, records: list[tuple[int, dict[str, Any]]]) -> list[Problem]:
        """Findings of the coordination rules about `records` ((line, record))."""
        if not self.coordination.rules:
            return []
        unreadable = self._unreadable(records)
        if unreadable:
            return unreadable
        found: list[Problem] = []
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
                record_problem(
                    lines.get(key or "", 0), f.field or "", f.code, f.message, key, f.severity
                )
                for f in evaluate(self.coordination, contents)
                for type_name, key in [entry_of(f)]
                if type_name == self.spec.type_name
            )
        return found

    def _unreadable(self, records: list[tuple[int, dict[str, Any]]]) -> list[Problem]:
        """The problems reading the other registries that matter to `records`."""
        return [
            _unreadable(entry_of(p)[0], p.message, "coordination", p.code)
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


def _once(read: Read, keeps: Mapping[str, Keep]) -> Read:
    """`read`, each type read once, keeping of a log what `keeps` says all its users need."""
    done: dict[str, TypeContent] = {}

    def once(root: Path, entry_type: EntryType, /, keep: Keep | None = None) -> TypeContent:
        if entry_type.name not in done:
            done[entry_type.name] = read(root, entry_type, keeps.get(entry_type.name))
        return done[entry_type.name]

    return once


def _working(root: Path, entry_type: EntryType, keep: Keep | None) -> TypeContent:
    """`read_type` of the working tree; of a log, only the views `keep` keeps are held."""
    if keep is None or entry_type.layout != "log":
        return read_type(root, entry_type)
    try:
        files = source_paths(root, [entry_type.source]).files  # read a line at a time
    except UsageError as exc:  # as read_type: no file yet, no entry yet
        if not only_missing(exc):
            raise
        files = {}
    return log_content(entry_type, files.values(), keep)


def relevant(heads: frozenset[str] | None, record: dict[str, Any], *, overridden: bool) -> bool:
    """Whether `RecordRules.problems` can find anything about `record`."""
    return overridden or heads is None or not record.keys().isdisjoint(heads)


def _heads(coordination: Coordination, own: str) -> frozenset[str] | None:
    """The fields the coordination rules read of an `own` record; None when a rule compares."""
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
