"""`registry add-entry`: insert or update one entry by key, checked, spliced, written atomically.

Under the workspace's write lock the files are read again, the entry is validated, the
coordination rules (and a governed source's append-only rules) run on the workspace as it would
be, and only then is the one changed file replaced (temporary file, fsync, rename). Errors block
the write unless `--no-check` with a reason, which appends an override record first, then
writes (`logs.write_audited`). Every place written is checked first (UNSAFE_PATH).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from registry_pipeline.core.append_only.governed import governed_files
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.pointers._lock import DEFAULT_TIMEOUT, exclusive_lock
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.safe_write import require_safe_all
from registry_pipeline.core.write_path.cache import cache_dir, cached_parser, store
from registry_pipeline.core.write_path.content import (
    Entry,
    Parse,
    ParsedFile,
    TypeContent,
    parse_file,
    read_type,
)
from registry_pipeline.core.write_path.coordinate import evaluate, involving
from registry_pipeline.core.write_path.diff import type_changes, unified_diff
from registry_pipeline.core.write_path.entry_schema import entry_violations, file_violations
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
MAX_NAME = 255
"""Longest file name, in bytes (the usual file system limit)."""


@dataclass(frozen=True)
class WriteResult:
    """What `add_entry` did, or would do (`dry_run`), or refused (`blocked`)."""

    type: str
    key: str
    file: str
    action: str
    """inserted, updated or unchanged."""
    findings: tuple[Finding, ...] = ()
    written: bool = False
    blocked: bool = False
    dry_run: bool = False
    overridden: bool = False
    """Written despite errors (`--no-check`), with an override record."""
    diff: str = ""
    notes: int = 0
    """Record findings appended to the notes log."""

    def as_json(self) -> dict[str, Any]:
        """The object `--json` prints."""
        return {
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


@dataclass
class _Plan:
    entry_type: EntryType
    key: str
    value: Any
    old: Entry | None
    before: bytes | None
    after: bytes
    parsed: ParsedFile | None = None
    """The written file's parse, derived from the splice (for the parse cache)."""
    findings: list[Finding] = field(default_factory=list)


def add_entry(
    workspace: Workspace,
    type_name: str,
    entry: Any,
    *,
    no_check: bool = False,
    reason: str | None = None,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> WriteResult:
    """Insert or update `entry` in the registry of `type_name` (see the module docstring)."""
    if no_check and not (reason or "").strip():
        raise UsageError("--no-check needs --reason TEXT (it is recorded)", code="REASON_REQUIRED")
    root = workspace.root
    catalog = load_catalog(workspace)
    types = entry_types(catalog)
    target = entry_type(types, type_name)
    if target.layout == "log":
        raise UsageError(
            f"{target.name} is a record log ({target.source}): its records are appended with "
            f"`registry runs append --index {target.registry_id}`, never rewritten",
            code="LOG_TYPE",
            path=target.name,
        )
    key, value = split_entry(target, entry)
    problems = entry_violations(root, target, key, value)
    if problems:
        raise EntryError(problems, code="SCHEMA_VIOLATION")
    coordination = rules_involving(
        load_coordination(root, catalog.coordination, types), target.name
    )
    lock, cache = root / LOCK_RELPATH, cache_dir(root)  # UNSAFE_PATH before any write
    logs = [root / OVERRIDES_RELPATH, root / NOTES_RELPATH]
    require_safe_all(root, [lock, root / target.file_of(key), *logs])
    lock.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(lock, timeout=timeout):
        contents = _read_all(root, types, target, coordination, cached_parser(cache))
        plan = _plan(workspace, catalog, target, contents, key, value, coordination)
        return _finish(root, plan, cache, no_check=no_check, reason=reason, dry_run=dry_run)


def split_entry(entry_type: EntryType, entry: Any) -> tuple[str, Any]:
    """(key, value) of an entry as given; ENTRY_INVALID naming the field when it has no usable
    key. A map type's (or key-less files type's) entry is `{key: value}`."""
    name = entry_type.name
    if not isinstance(entry, dict):
        raise EntryError([_bad(name, None, "", "an entry must be an object")])
    if entry_type.key is None:
        if len(entry) != 1:
            raise EntryError(
                [
                    _bad(
                        name,
                        None,
                        "",
                        f"a {name} entry is {{KEY: VALUE}}: one member, not {len(entry)}",
                    )
                ]
            )
        key, value = next(iter(entry.items()))
        if not key:
            raise EntryError([_bad(name, None, "", "the key must be a non-empty string")])
    else:
        key, value = entry.get(entry_type.key), entry
        if not isinstance(key, str) or not key:
            raise EntryError(
                [_bad(name, None, f"/{entry_type.key}", "the key must be a non-empty string")]
            )
    if entry_type.layout == "files":
        problem = relpath_problem(entry_type.file_of(key))
        too_long = len((key + entry_type.suffix).encode("utf-8", "surrogatepass")) > MAX_NAME
        if problem or too_long or "/" in key or key.startswith("."):
            why = f"longer than {MAX_NAME} bytes with {entry_type.suffix}" if too_long else ""
            raise EntryError(
                [
                    _bad(
                        name,
                        key[:80],
                        f"/{entry_type.key or ''}",
                        f"cannot name a file {why}".strip(),
                    )
                ]
            )
    return key, value


def _bad(type_name: str, key: str | None, where: str, message: str) -> Finding:
    return Finding("ENTRY_INVALID", "error", type_name, key, where, message)


def _read_all(
    root: Path,
    types: dict[str, EntryType],
    target: EntryType,
    coordination: Coordination,
    parse: Parse,
) -> dict[str, TypeContent]:
    needed = {target.name} | {name for rule in coordination.rules for name in rule.types}
    contents = {name: read_type(root, types[name], parse) for name in sorted(needed)}
    broken = [problem for content in contents.values() for problem in content.problems]
    if broken:
        raise RegistryFileError(broken)
    return contents


def _plan(
    workspace: Workspace,
    catalog: RegistryCatalog,
    target: EntryType,
    contents: dict[str, TypeContent],
    key: str,
    value: Any,
    coordination: Coordination,
) -> _Plan:
    content = contents[target.name]
    old = content.entries.get(key)
    if old is not None:
        changed = type_changes(old.value, value, "")
        if changed:
            raise EntryError(
                [_bad(target.name, key, where, message) for where, message in changed],
                code="FIELD_TYPE_CHANGED",
            )
    file = target.file_of(key)
    parsed = content.files.get(file)
    before = parsed.data if parsed is not None else None
    schemas = SchemaCatalog.for_workspace(workspace.root)
    if old is not None and old.value == value:  # nothing to write; still checked and reported
        plan = _Plan(target, key, value, old, before, before or b"")
        found = involving(evaluate(coordination, contents), target.name, key)
        plan.findings = _unique(found)
        return plan
    written = new_text(target, parsed, old, key, value)
    after = written.data
    plan = _Plan(target, key, value, old, before, after, written)
    if target.schema is None:
        _governed_name(schemas, target, key, content)
        problems = _file_schema(schemas, target, key, after)
        if problems:
            raise EntryError(problems, code="SCHEMA_VIOLATION")
    index = old.index if old is not None else None
    updated = dict(content.entries)
    updated[key] = Entry(key, value, file, index)
    contents = {**contents, target.name: replace(content, entries=updated)}
    found = involving(evaluate(coordination, contents), target.name, key)
    plan.findings = _unique(found) + _append_only(workspace, catalog, target, after, schemas)
    return plan


def _governed_name(
    schemas: SchemaCatalog, target: EntryType, key: str, content: TypeContent
) -> None:
    """UNGOVERNED_NAME when the type's files are governed by a schema (by name) but the new
    entry's file name is not: it would be sealed unchecked."""
    name = Path(target.file_of(key)).name
    if target.layout != "files" or schemas.for_artifact(name) is not None:
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
                _bad(
                    target.name,
                    key,
                    "",
                    f"no schema governs the file name {name!r}, so it would be sealed "
                    f"unchecked; name the entry to match {patterns}",
                )
            ],
            code="UNGOVERNED_NAME",
        )


def _file_schema(
    schemas: SchemaCatalog, target: EntryType, key: str, after: bytes
) -> list[Finding]:
    document = parse_file(target.file_of(key), after).document
    if target.layout == "files":
        pointer = ""
    elif target.layout == "map":
        pointer = f"{target.container}/{key.replace('~', '~0').replace('/', '~1')}"
    else:
        items = document
        for part in target.container.split("/")[1:] if target.container else []:
            items = items[part]
        index = next(i for i, item in enumerate(items) if item.get(target.key) == key)
        pointer = f"{target.container}/{index}"
    sealed = Path(target.file_of(key)).name
    return file_violations(schemas, target, key, sealed, document, pointer)


def _append_only(
    workspace: Workspace,
    catalog: RegistryCatalog,
    target: EntryType,
    after: bytes,
    schemas: SchemaCatalog,
) -> list[Finding]:
    """A governed source's append-only violations, decided by the build's own function."""
    spec = catalog.get(target.registry_id)
    if spec.append_only is None:
        return []
    sealed = Path(target.source).name
    governed = governed_files(workspace, spec, {sealed: after}, schemas)
    return [
        Finding(v.code, "error", target.name, v.id, v.path, v.message, target.source)
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


def _finish(
    root: Path,
    plan: _Plan,
    cache: Path | None,
    *,
    no_check: bool,
    reason: str | None,
    dry_run: bool,
) -> WriteResult:
    target = plan.entry_type
    file = target.file_of(plan.key)
    action = (
        "unchanged"
        if plan.old is not None and plan.old.value == plan.value
        else "updated"
        if plan.old is not None
        else "inserted"
    )
    blocking = errors(plan.findings)
    blocked = bool(blocking) and not no_check
    result = WriteResult(
        target.name,
        plan.key,
        file,
        action,
        tuple(plan.findings),
        blocked=blocked,
        dry_run=dry_run,
        diff=unified_diff(file, plan.before, plan.after)
        if dry_run and action != "unchanged"
        else "",
    )
    if blocked or dry_run or action == "unchanged":
        return result
    notes = [f for f in plan.findings if f.severity == "record"]
    overridden = bool(blocking) and no_check
    records = [(root / NOTES_RELPATH, {"recorded_utc": stamp(), "who": actor(), **n.as_json()})
               for n in notes]  # fmt: skip
    if overridden:  # first: a change it allows is never on disk without it
        records.insert(0, (root / OVERRIDES_RELPATH, _override(plan, file, action, reason)))
    write_audited(root / file, plan.after, records, revocable=root / OVERRIDES_RELPATH)
    if plan.parsed is not None and plan.parsed.spans is not None:
        store(cache, plan.parsed, target.container)
    return replace(result, written=True, overridden=overridden, notes=len(notes))


def _override(plan: _Plan, file: str, action: str, reason: str | None) -> dict[str, Any]:
    """The override record of a `--no-check` write: who, what, why, the findings it skipped and
    the file's SHA-256 before and after (after: what the write will leave)."""
    return {
        "recorded_utc": stamp(),
        "who": actor(),
        "type": plan.entry_type.name,
        "key": plan.key,
        "file": file,
        "action": action,
        "reason": (reason or "").strip(),
        "skipped": [finding.as_json() for finding in errors(plan.findings)],
        "sha256_before": hashlib.sha256(plan.before).hexdigest() if plan.before else None,
        "sha256_after": hashlib.sha256(plan.after).hexdigest(),
    }
