"""`registry add-entry` and `deprecate`: one entry written, checked under the lock; none removed."""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from registry_pipeline.core.append_only.baseline import governed_files
from registry_pipeline.core.errors import Problem, RegistryError, UsageError, render
from registry_pipeline.core.fs import require_safe_all
from registry_pipeline.core.json_strict import resolve_pointer
from registry_pipeline.core.lock import DEFAULT_TIMEOUT, exclusive_lock
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.seal.run_id import now_utc, utc_timestamp
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path.cache import cache_dir, cached_parser, store
from registry_pipeline.core.write_path.content import (
    Entry,
    EntryType,
    ParsedFile,
    TypeContent,
    entry_error,
    entry_type,
    entry_types,
    errors,
    finding,
    finding_json,
    parse_file,
    read_type,
    registry_file_error,
)
from registry_pipeline.core.write_path.logs import (
    NOTES_RELPATH,
    OVERRIDES_RELPATH,
    actor,
    write_audited,
)
from registry_pipeline.core.write_path.rules import (
    Condition,
    Coordination,
    deprecated_by,
    entry_violations,
    evaluate,
    file_violations,
    has,
    involving,
    load_coordination,
    marked,
    markers,
    rules_involving,
)
from registry_pipeline.core.write_path.splice import new_text

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
    findings: tuple[Problem, ...] = ()
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
        names = ("type", "key", "file", "action", "written", "blocked", "dry_run", "overridden")
        document = {name: getattr(self, name) for name in names}
        document.update(findings=[finding_json(found) for found in self.findings], diff=self.diff)
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
    findings: list[Problem] = field(default_factory=list)


def target(workspace: Workspace, type_name: str) -> Target:
    """The type `type_name` and the rules that read it; NO_CATALOG, UNKNOWN_TYPE, LOG_TYPE."""
    try:
        catalog = load_catalog(workspace)
    except UsageError as exc:
        if exc.code != "NO_CATALOG":
            raise
        raise UsageError(exc.message + NO_CATALOG_HINT, code=exc.code, path=exc.path) from None
    types = entry_types(catalog)
    found = entry_type(types, type_name)
    if found.layout == "log":
        raise UsageError.of("LOG_TYPE", path=found.name, source=found.source,
                            registry_id=found.registry_id)  # fmt: skip
    rules = load_coordination(workspace.root, catalog.coordination, types)
    return Target(workspace, catalog, types, found, rules_involving(rules, found.name))


@contextmanager
def locked(
    goal: Target, files: list[str], timeout: float
) -> Iterator[tuple[dict[str, TypeContent], Path | None]]:
    """Under the write lock (paths checked first), the type's and its rules' contents read again."""
    root, types = goal.workspace.root, goal.types
    lock, cache = root / LOCK_RELPATH, cache_dir(root)
    logs = [root / OVERRIDES_RELPATH, root / NOTES_RELPATH]
    require_safe_all(root, [lock, *(root / file for file in files), *logs])
    lock.parent.mkdir(parents=True, exist_ok=True)
    needed = {goal.entry_type.name} | {n for rule in goal.coordination.rules for n in rule.types}
    with exclusive_lock(lock, timeout=timeout):
        parse = cached_parser(cache)
        contents = {name: read_type(root, types[name], parse) for name in sorted(needed)}
        broken = [problem for content in contents.values() for problem in content.problems]
        if broken:
            raise registry_file_error(broken)
        yield contents, cache


def plan(goal: Target, contents: dict[str, TypeContent], key: str, value: Any) -> Plan:
    """The entry `key` with `value` in its file, checked (types, schema, rules, append-only)."""
    target_type = goal.entry_type
    content = contents[target_type.name]
    old = content.entries.get(key)
    changed = type_changes(old.value, value, "") if old is not None else []
    file = target_type.file_of(key)
    if changed:
        found = [finding("FIELD_TYPE_CHANGED", "error", target_type.name, key, where, message, file)
                 for where, message in changed]  # fmt: skip
        raise entry_error(found, code="FIELD_TYPE_CHANGED")
    parsed = content.files.get(file)
    before = parsed.data if parsed is not None else None
    if old is not None and old.value == value:  # nothing to write; still checked and reported
        found = involving(evaluate(goal.coordination, contents), target_type.name, key)
        schemas = SchemaCatalog.for_workspace(goal.workspace.root)
        if target_type.schema is None and parsed is not None:  # as on disk: the entry's part
            found += file_violations(schemas, target_type, key, parsed.document, parsed.document)
        found += _append_only(goal, before, schemas) if before is not None else []
        return Plan(target_type, key, value, old, before, before or b"", findings=_unique(found))
    unspliced = parsed is not None and target_type.schema is None  # the splice edits its parse
    prior = copy.deepcopy(parsed.document) if unspliced and parsed is not None else None
    written = new_text(target_type, parsed, old, key, value)
    result = Plan(target_type, key, value, old, before, written.data, written)
    schemas = SchemaCatalog.for_workspace(goal.workspace.root)
    if target_type.schema is None:
        _governed_name(schemas, target_type, key, content)
        document = parse_file(file, written.data).document
        problems = file_violations(schemas, target_type, key, document, prior)
        if problems:
            raise entry_error(problems, code="SCHEMA_VIOLATION")
    updated = {**content.entries, key: Entry(key, value, file, old.index if old else None)}
    contents = {**contents, target_type.name: replace(content, entries=updated)}
    found = involving(evaluate(goal.coordination, contents), target_type.name, key)
    result.findings = _unique(found + _append_only(goal, written.data, schemas))
    return result


def bad(type_name: str, key: str | None, where: str, message: str) -> Problem:
    """An ENTRY_INVALID finding: the entry itself is wrong at `where`."""
    return finding("ENTRY_INVALID", "error", type_name, key, where, message)


def _governed_name(
    schemas: SchemaCatalog, target_type: EntryType, key: str, content: TypeContent
) -> None:
    """UNGOVERNED_NAME when a schema governs the type's files by name but not the new one's."""
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
        why = render("UNGOVERNED_NAME", name=name, patterns=patterns)
        where = target_type.file_of(key)
        found = finding("UNGOVERNED_NAME", "error", target_type.name, key, "", why, where)
        raise entry_error([found], code="UNGOVERNED_NAME")


def _append_only(goal: Target, after: bytes, schemas: SchemaCatalog) -> list[Problem]:
    """A governed source's append-only violations, decided by the build's own function."""
    target_type = goal.entry_type
    spec = goal.catalog.get(target_type.registry_id)
    if spec.append_only is None:
        return []
    sealed = Path(target_type.source).name
    governed = governed_files(goal.workspace, spec, {sealed: after}, schemas)
    return [  # the violation's id is the entry's key; its ids are not entries
        replace(v, subject=(target_type.name, *v.subject), path=target_type.source, related=())
        for report in governed.reports.values()
        for v in report.violations
    ]


def _unique(findings: list[Problem]) -> list[Problem]:
    """Each finding once, in order (two rules can find one thing; different ones are kept)."""
    kept: dict[tuple[Any, ...], Problem] = {}
    for f in findings:
        kept.setdefault((f.code, f.subject, f.field, f.related, f.message), f)
    return list(kept.values())


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
    """Write the planned file unless blocked, a dry run or unchanged: override record first."""
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
    records = [_note(root, note) for note in notes] + (audit or [])
    if overridden:  # first: a change it allows is never on disk without it
        records.insert(0, (root / OVERRIDES_RELPATH, _override(planned, result, reason)))
    write_audited(root / result.file, planned.after, records, revocable=root / OVERRIDES_RELPATH)
    if planned.parsed is not None and planned.parsed.spans is not None:
        store(cache, result.file, planned.parsed, planned.entry_type.container)
    return replace(result, written=True, overridden=overridden, notes=len(notes))


def _override(planned: Plan, result: WriteResult, reason: str | None) -> dict[str, Any]:
    """The override record of a `--no-check` write."""
    return {
        "recorded_utc": utc_timestamp(now_utc()),
        "who": actor(),
        "type": result.type,
        "key": result.key,
        "file": result.file,
        "action": result.action,
        "reason": (reason or "").strip(),
        "skipped": [finding_json(found) for found in errors(planned.findings)],
        "sha256_before": sha256_bytes(planned.before) if planned.before else None,
        "sha256_after": sha256_bytes(planned.after),
    }


MAX_NAME = 255
"""Longest file name, in bytes (the usual file system limit)."""


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
        raise UsageError.of("REASON_REQUIRED", what="--no-check")
    goal = target(workspace, type_name)
    key, value = split_entry(goal.entry_type, entry)
    problems = entry_violations(workspace.root, goal.entry_type, key, value)
    if problems:
        raise entry_error(problems, code="SCHEMA_VIOLATION")
    file = goal.entry_type.file_of(key)
    with locked(goal, [file], timeout) as (contents, cache):
        planned = plan(goal, contents, key, value)
        action = "inserted" if planned.old is None else "updated"
        action = "unchanged" if planned.old is not None and planned.old.value == value else action
        result = WriteResult(goal.entry_type.name, key, file, action, dry_run=dry_run)
        return finish(workspace.root, result, planned, cache, no_check=no_check, reason=reason)


def split_entry(entry_type: EntryType, entry: Any) -> tuple[str, Any]:
    """(key, value) of an entry as given (`{key: value}` without a key field); ENTRY_INVALID."""
    name, nameless = entry_type.name, "the key must be a non-empty string"
    if not isinstance(entry, dict):
        raise entry_error([bad(name, None, "", "an entry must be an object")])
    if entry_type.key is None:
        if len(entry) != 1:
            why = f"a {name} entry is {{KEY: VALUE}}: one member, not {len(entry)}"
            raise entry_error([bad(name, None, "", why)])
        key, value = next(iter(entry.items()))
        if not key:
            raise entry_error([bad(name, None, "", nameless)])
    else:
        key, value = entry.get(entry_type.key), entry
        if not isinstance(key, str) or not key:
            raise entry_error([bad(name, None, f"/{entry_type.key}", nameless)])
    if entry_type.layout == "files":
        problem = relpath_problem(entry_type.file_of(key))
        too_long = len((key + entry_type.suffix).encode("utf-8", "surrogatepass")) > MAX_NAME
        if problem or too_long or "/" in key or key.startswith("."):
            why = f"longer than {MAX_NAME} bytes with {entry_type.suffix}" if too_long else ""
            where = f"/{entry_type.key or ''}"
            raise entry_error([bad(name, key[:80], where, f"cannot name a file {why}".strip())])
    return key, value


def deprecate(
    workspace: Workspace,
    type_name: str,
    key: str,
    *,
    reason: str | None,
    no_check: bool = False,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> WriteResult:
    """Mark the entry `key` of `type_name` deprecated (see the module docstring)."""
    why = (reason or "").strip()
    if not why:
        raise UsageError.of("REASON_REQUIRED", what="deprecate")
    goal = target(workspace, type_name)
    with locked(goal, [], timeout) as (contents, cache):
        content = contents[goal.entry_type.name]
        old = _existing(content, key)
        require_safe_all(workspace.root, [workspace.root / old.file])  # UNSAFE_PATH first
        marker = _marker(goal, content, old)
        value = marked(old.value, marker)
        problems = entry_violations(workspace.root, goal.entry_type, key, value)
        if problems:
            raise entry_error(problems, code="SCHEMA_VIOLATION")
        planned = plan(goal, contents, key, value)
        result = WriteResult(goal.entry_type.name, key, old.file, "deprecated", dry_run=dry_run,
                             field=marker.field, reason=why)  # fmt: skip
        said = render("DEPRECATED", field=marker.field, equals=marker.equals, reason=why)
        note = finding("DEPRECATED", "record", result.type, key, marker.field, said, old.file)
        audit = [_note(workspace.root, note, reason=why)]
        return finish(workspace.root, result, planned, cache, no_check=no_check, reason=why,
                      audit=audit)  # fmt: skip


def _existing(content: TypeContent, key: str) -> Entry:
    """The entry `key`; UNKNOWN_KEY (exit 2) with a "did you mean" when there is none."""
    found = content.entries.get(key)
    if found is not None:
        return found
    name = content.type.name
    close = difflib.get_close_matches(key, sorted(content.entries), n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError.of("UNKNOWN_KEY", path=content.type.source, type=name, key=key, guess=guess)


def _marker(goal: Target, content: TypeContent, old: Entry) -> Condition:
    """The lifecycle marker to set; ALREADY_DEPRECATED, NOT_DEPRECATABLE."""
    name = goal.entry_type.name
    declared = goal.coordination.lifecycle.get(name)
    already = deprecated_by(old.value, declared)
    if already is not None:
        raise RegistryError.of("ALREADY_DEPRECATED", path=old.file, field=already.field,
                               type=name, key=old.key, equals=already.equals)  # fmt: skip
    candidates = sorted(markers(declared), key=lambda m: not has(old.value, m.field))
    for candidate in candidates:
        value = marked(old.value, candidate)
        if value is not None and (declared is not None or _accepts(goal, content, old, value)):
            return candidate
    fields = " or ".join(f"{m.field} {m.equals!r}" for m in candidates)
    shape = "" if isinstance(old.value, dict) else " (its entries are not objects)"
    raise UsageError.of("NOT_DEPRECATABLE", path=name, shape=shape, fields=fields)


def _accepts(goal: Target, content: TypeContent, old: Entry, value: Any) -> bool:
    """Whether the type's entry schema, else its file's, accepts the entry as `value`."""
    entry_type, root = goal.entry_type, goal.workspace.root
    if entry_type.schema is not None:
        return not entry_violations(root, entry_type, old.key, value)
    parsed = content.files.get(old.file)
    if parsed is None:
        return True
    document = copy.deepcopy(parsed.document)
    if entry_type.layout == "files":
        document = value
    else:
        holder = resolve_pointer(document, entry_type.container)
        holder[old.index if entry_type.layout == "list" else old.key] = value
    schemas = SchemaCatalog.for_workspace(root)
    return not file_violations(schemas, entry_type, old.key, document, parsed.document)


def _note(root: Path, note: Problem, **extra: Any) -> Record:
    """The notes-log record of a finding: when, who, the finding, and `extra`."""
    record = {"recorded_utc": utc_timestamp(now_utc()), "who": actor(), **finding_json(note)}
    return root / NOTES_RELPATH, {**record, **extra}


HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)")
"""A hunk header's start lines (the counts after them stay as they are)."""


def unified_diff(file: str, before: bytes | None, after: bytes, context: int = 3) -> str:
    """The change as a unified diff of the changed region only (linear, not quadratic)."""
    old = before.decode("utf-8", "replace").splitlines(keepends=True) if before else []
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    start = max(0, prefix - context)
    lines = difflib.unified_diff(
        old[start : len(old) - max(0, suffix - context)],
        new[start : len(new) - max(0, suffix - context)],
        f"a/{file}" if before else "/dev/null",
        f"b/{file}",
        n=context,
    )

    def shifted(hunk: re.Match[str]) -> str:  # its start lines moved down by `start`
        return f"@@ -{int(hunk[1]) + start}{hunk[2] or ''} +{int(hunk[3]) + start}"

    shifted_lines = (HUNK.sub(shifted, line, count=1) for line in lines)
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in shifted_lines
    )  # a last line without a newline is marked as `diff` and `patch` expect


def type_changes(old: Any, new: Any, where: str) -> list[tuple[str, str]]:
    """(field, message) for each field whose JSON type an update changes (null aside)."""
    if old is None or new is None:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        pairs = [(name, old[name], new[name]) for name in old.keys() & new.keys()]
    elif isinstance(old, list) and isinstance(new, list):
        pairs = [(str(i), a, b) for i, (a, b) in enumerate(zip(old, new, strict=False))]
    elif (before := _json_type(old)) != (after := _json_type(new)):
        return [(where, f"was {before} ({old!r}), would become {after} ({new!r})")]
    else:
        return []
    return [change for name, a, b in pairs for change in type_changes(a, b, f"{where}/{name}")]


_JSON_TYPES = ((bool, "a boolean"), (int | float, "a number"), (str, "a string"), (list, "a list"))


def _json_type(value: Any) -> str:
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "an object")
