"""The steps every governed write takes (`add-entry` and `deprecate`): the type and its rules,
every place checked before any write, the files read again under the write lock, the new
text spliced and checked, and the audit written before the file is replaced."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from registry_pipeline.core.append_only.governed import governed_files
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.lock import exclusive_lock
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.safe_write import require_safe_all
from registry_pipeline.core.write_path.cache import cache_dir, cached_parser, store
from registry_pipeline.core.write_path.content import (
    Entry,
    ParsedFile,
    TypeContent,
    parse_file,
    read_type,
)
from registry_pipeline.core.write_path.coordinate import evaluate, involving
from registry_pipeline.core.write_path.diff import type_changes, unified_diff
from registry_pipeline.core.write_path.entry_schema import file_violations
from registry_pipeline.core.write_path.findings import (
    EntryError,
    Finding,
    RegistryFileError,
    errors,
)
from registry_pipeline.core.write_path.logs import (
    NOTES_RELPATH,
    OVERRIDES_RELPATH,
    actor,
    stamp,
    write_audited,
)
from registry_pipeline.core.write_path.rules import (
    Coordination,
    load_coordination,
    rules_involving,
)
from registry_pipeline.core.write_path.splice import new_text
from registry_pipeline.core.write_path.types import EntryType, entry_type, entry_types

LOCK_RELPATH = ".codex/REGISTRY_WRITE.lock"
NO_CATALOG_HINT = (
    "; `registry init --with-write-path` makes one with the seed's registry types "
    "(docs/WRITE_PATH.md)"
)

Record = tuple[Path, dict[str, Any]]
"""(log, record) appended before a write."""


@dataclass(frozen=True)
class WriteResult:
    """What a governed write did, or would do (`dry_run`), or refused (`blocked`)."""

    type: str
    key: str
    file: str
    action: str
    """inserted, updated, unchanged (add-entry) or deprecated (deprecate)."""
    findings: tuple[Finding, ...] = ()
    written: bool = False
    blocked: bool = False
    dry_run: bool = False
    overridden: bool = False
    """Written despite errors (`--no-check`), with an override record."""
    diff: str = ""
    notes: int = 0
    """Record findings appended to the notes log."""
    field: str | None = None
    """deprecate: the lifecycle field it set (a JSON pointer into the entry)."""
    reason: str | None = None
    """deprecate: why, as recorded."""

    def as_json(self) -> dict[str, Any]:
        """The object `--json` prints (`field` and `reason` for a deprecation)."""
        document: dict[str, Any] = {
            "type": self.type,
            "key": self.key,
            "file": self.file,
            "action": self.action,
            "written": self.written,
            "blocked": self.blocked,
            "dry_run": self.dry_run,
            "overridden": self.overridden,
            "findings": [finding.as_json() for finding in self.findings],
            "diff": self.diff,
        }
        if self.field is not None:
            document.update(field=self.field, reason=self.reason)
        return document


@dataclass(frozen=True)
class Target:
    """A type about to be written, with what its write reads: the catalog and the rules."""

    workspace: Workspace
    catalog: RegistryCatalog
    types: dict[str, EntryType]
    entry_type: EntryType
    coordination: Coordination


@dataclass
class Plan:
    """One entry's new value and file, and what the checks found."""

    entry_type: EntryType
    key: str
    value: Any
    old: Entry | None
    before: bytes | None
    after: bytes
    parsed: ParsedFile | None = None
    """The written file's parse, derived from the splice (for the parse cache)."""
    findings: list[Finding] = field(default_factory=list)


def target(workspace: Workspace, type_name: str) -> Target:
    """The type `type_name` of the workspace's catalog and the rules that read it; NO_CATALOG
    (saying how to make one), UNKNOWN_TYPE, LOG_TYPE, COORDINATION_INVALID."""
    try:
        catalog = load_catalog(workspace)
    except UsageError as exc:
        if exc.code != "NO_CATALOG":
            raise
        raise UsageError(exc.message + NO_CATALOG_HINT, code=exc.code, path=exc.path) from None
    types = entry_types(catalog)
    found = entry_type(types, type_name)
    if found.layout == "log":
        raise UsageError(
            f"{found.name} is a record log ({found.source}): its records are appended with "
            f"`registry runs append --index {found.registry_id}`, never rewritten",
            code="LOG_TYPE",
            path=found.name,
        )
    rules = load_coordination(workspace.root, catalog.coordination, types)
    return Target(workspace, catalog, types, found, rules_involving(rules, found.name))


@contextmanager
def locked(
    goal: Target, files: list[str], timeout: float
) -> Iterator[tuple[dict[str, TypeContent], Path | None]]:
    """Hold the workspace's write lock, every place a write may touch checked first
    (UNSAFE_PATH); yields the contents the write reads, read again under the lock, and the
    parse cache."""
    root = goal.workspace.root
    lock, cache = root / LOCK_RELPATH, cache_dir(root)
    logs = [root / OVERRIDES_RELPATH, root / NOTES_RELPATH]
    require_safe_all(root, [lock, *(root / file for file in files), *logs])
    lock.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(lock, timeout=timeout):
        yield read_all(goal, cached_parser(cache)), cache


def read_all(goal: Target, parse: Callable[..., ParsedFile]) -> dict[str, TypeContent]:
    """The written type's entries and those of every type its rules read; REGISTRY_FILE_INVALID
    when one of them cannot be read."""
    root, types = goal.workspace.root, goal.types
    needed = {goal.entry_type.name} | {n for rule in goal.coordination.rules for n in rule.types}
    contents = {name: read_type(root, types[name], parse) for name in sorted(needed)}
    broken = [problem for content in contents.values() for problem in content.problems]
    if broken:
        raise RegistryFileError(broken)
    return contents


def plan(goal: Target, contents: dict[str, TypeContent], key: str, value: Any) -> Plan:
    """The entry `key` with `value` in its file, checked: field types, the file's schema, the
    coordination rules on the workspace as it would be, a governed source's promises."""
    target_type = goal.entry_type
    content = contents[target_type.name]
    old = content.entries.get(key)
    if old is not None:
        changed = type_changes(old.value, value, "")
        if changed:
            raise EntryError(
                [bad(target_type.name, key, where, message) for where, message in changed],
                code="FIELD_TYPE_CHANGED",
            )
    file = target_type.file_of(key)
    parsed = content.files.get(file)
    before = parsed.data if parsed is not None else None
    if old is not None and old.value == value:  # nothing to write; still checked and reported
        same = Plan(target_type, key, value, old, before, before or b"")
        found = involving(evaluate(goal.coordination, contents), target_type.name, key)
        same.findings = _unique(found)
        return same
    written = new_text(target_type, parsed, old, key, value)
    result = Plan(target_type, key, value, old, before, written.data, written)
    schemas = SchemaCatalog.for_workspace(goal.workspace.root)
    if target_type.schema is None:
        _governed_name(schemas, target_type, key, content)
        problems = _file_schema(schemas, target_type, key, written.data)
        if problems:
            raise EntryError(problems, code="SCHEMA_VIOLATION")
    updated = {**content.entries, key: Entry(key, value, file, old.index if old else None)}
    contents = {**contents, target_type.name: replace(content, entries=updated)}
    found = involving(evaluate(goal.coordination, contents), target_type.name, key)
    result.findings = _unique(found) + _append_only(goal, written.data, schemas)
    return result


def bad(type_name: str, key: str | None, where: str, message: str) -> Finding:
    """An ENTRY_INVALID finding: the entry itself is wrong at `where`."""
    return Finding("ENTRY_INVALID", "error", type_name, key, where, message)


def _governed_name(
    schemas: SchemaCatalog, target_type: EntryType, key: str, content: TypeContent
) -> None:
    """UNGOVERNED_NAME when the type's files are governed by a schema (by name) but the new
    entry's file name is not: it would be sealed unchecked."""
    name = Path(target_type.file_of(key)).name
    if target_type.layout != "files" or schemas.for_artifact(name) is not None:
        return
    governing = {
        schema.schema_id: schema.patterns
        for file in content.files
        if (schema := schemas.for_artifact(Path(file).name)) is not None
    }
    if governing:
        patterns = ", ".join(p for found in governing.values() for p in found)
        raise EntryError(
            [
                bad(
                    target_type.name,
                    key,
                    "",
                    f"no schema governs the file name {name!r}, so it would be sealed "
                    f"unchecked; name the entry to match {patterns}",
                )
            ],
            code="UNGOVERNED_NAME",
        )


def _file_schema(
    schemas: SchemaCatalog, target_type: EntryType, key: str, after: bytes
) -> list[Finding]:
    document = parse_file(target_type.file_of(key), after).document
    sealed = Path(target_type.file_of(key)).name
    pointer = entry_pointer(target_type, document, key)
    return file_violations(schemas, target_type, key, sealed, document, pointer)


def entry_pointer(target_type: EntryType, document: Any, key: str) -> str:
    """The JSON pointer of the entry `key` in its file's `document`."""
    if target_type.layout == "files":
        return ""
    if target_type.layout == "map":
        return f"{target_type.container}/{key.replace('~', '~0').replace('/', '~1')}"
    items = document
    for part in target_type.container.split("/")[1:] if target_type.container else []:
        items = items[part]
    index = next(i for i, item in enumerate(items) if item.get(target_type.key) == key)
    return f"{target_type.container}/{index}"


def _append_only(goal: Target, after: bytes, schemas: SchemaCatalog) -> list[Finding]:
    """A governed source's append-only violations, decided by the build's own function."""
    target_type = goal.entry_type
    spec = goal.catalog.get(target_type.registry_id)
    if spec.append_only is None:
        return []
    sealed = Path(target_type.source).name
    governed = governed_files(goal.workspace, spec, {sealed: after}, schemas)
    return [
        Finding(v.code, "error", target_type.name, v.id, v.path, v.message, target_type.source)
        for report in governed.reports.values()
        for v in report.violations
    ]


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for finding in findings:
        ident = (finding.code, finding.type, finding.key, finding.field, finding.related)
        if ident not in seen:
            seen.add(ident)
            kept.append(finding)
    return kept


def finish(
    root: Path,
    result: WriteResult,
    planned: Plan,
    cache: Path | None,
    *,
    no_check: bool,
    reason: str | None,
    audit: list[Record] | None = None,
) -> WriteResult:
    """Write the planned file unless blocked, a dry run or unchanged: the override record
    (`--no-check` despite errors) first, then the notes and `audit`, then the file."""
    blocking = errors(planned.findings)
    result = replace(
        result, findings=tuple(planned.findings), blocked=bool(blocking) and not no_check
    )
    if result.dry_run and result.action != "unchanged":
        result = replace(result, diff=unified_diff(result.file, planned.before, planned.after))
    if result.blocked or result.dry_run or result.action == "unchanged":
        return result
    notes = [f for f in planned.findings if f.severity == "record"]
    overridden = bool(blocking) and no_check
    records: list[Record] = [
        (root / NOTES_RELPATH, {"recorded_utc": stamp(), "who": actor(), **note.as_json()})
        for note in notes
    ]
    records.extend(audit or [])
    if overridden:  # first: a change it allows is never on disk without it
        records.insert(0, (root / OVERRIDES_RELPATH, _override(planned, result, reason)))
    write_audited(root / result.file, planned.after, records, revocable=root / OVERRIDES_RELPATH)
    if planned.parsed is not None and planned.parsed.spans is not None:
        store(cache, planned.parsed, planned.entry_type.container)
    return replace(result, written=True, overridden=overridden, notes=len(notes))


def _override(planned: Plan, result: WriteResult, reason: str | None) -> dict[str, Any]:
    """The override record of a `--no-check` write: who, what, why, the findings it skipped and
    the file's SHA-256 before and after (after: what the write will leave)."""
    return {
        "recorded_utc": stamp(),
        "who": actor(),
        "type": result.type,
        "key": result.key,
        "file": result.file,
        "action": result.action,
        "reason": (reason or "").strip(),
        "skipped": [finding.as_json() for finding in errors(planned.findings)],
        "sha256_before": hashlib.sha256(planned.before).hexdigest() if planned.before else None,
        "sha256_after": hashlib.sha256(planned.after).hexdigest(),
    }
