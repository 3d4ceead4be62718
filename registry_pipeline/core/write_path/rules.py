"""What the write path checks: an entry against its schema, and the coordination rules."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import Problem, UsageError, render
from registry_pipeline.core.fs import file_stamp
from registry_pipeline.core.json_strict import (
    JSONDecodeProblem,
    pointer_token,
    pointer_tokens,
    resolve_pointer,
)
from registry_pipeline.core.seal.schemas import ArtifactSchema, SchemaCatalog, violation_text
from registry_pipeline.core.workspace.catalog import CatalogCode, RegistryCatalog, catalog_error
from registry_pipeline.core.workspace.input_files import MAX_CATALOG_FILE_BYTES, read_regular_file
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path.content import (
    Entry,
    EntryType,
    TypeContent,
    content_of,
    entry_types,
    finding,
    parse_file,
    read_type,
)

DEPRECATED = "deprecated"
CANDIDATES = ("/lifecycle", "/status")
"""The fields an undeclared marker may be in, in the order `registry deprecate` tries them."""
_MISSING = object()


@dataclass(frozen=True)
class Condition:
    """`field` (a JSON pointer into an entry) equals `equals`: a rule's condition or deprecation."""

    field: str
    equals: Any = DEPRECATED


def markers(declared: Condition | None) -> tuple[Condition, ...]:
    """The markers an entry of a type may carry: the declared one, else the default ones."""
    return (declared,) if declared is not None else tuple(map(Condition, CANDIDATES))


def deprecated_by(value: Any, declared: Condition | None) -> Condition | None:
    """The marker that makes the entry `value` deprecated, or None when it is not."""
    for marker in markers(declared):
        if get(value, marker.field) == marker.equals:
            return marker
    return None


def has(value: Any, pointer: str) -> bool:
    """Whether the entry `value` has a field at `pointer`."""
    return get(value, pointer) is not _MISSING


def get(value: Any, pointer: str) -> Any:
    """The value at `pointer` in an entry, through objects only (a private sentinel when absent)."""
    current = value
    for part in pointer_tokens(pointer):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def marked(value: Any, marker: Condition) -> Any | None:
    """A copy of the entry `value` with the marker set, or None when the entry cannot hold it."""
    parts = pointer_tokens(marker.field)
    if not parts or not isinstance(value, dict):
        return None
    result = copy.deepcopy(value)
    holder = result
    for part in parts[:-1]:
        holder = holder.setdefault(part, {})
        if not isinstance(holder, dict):
            return None
    holder[parts[-1]] = marker.equals
    return result


RULES_SCHEMA_ID = "urn:registry-pipeline:schema:coordination_rules_v0_1"
DEFAULT_DECLARED: Mapping[str, tuple[Any, ...]] = {
    "hook_event_types": (
        "PromptSubmit",
        "PreAbilityCreate",
        "PreAbilityCall",
        "PostAbilityCall",
        "SessionStop",
    ),
    "routing_stages": ("pre_route", "post_route"),
}
"""The lists a `values_from` may name undeclared (seed 003, 3.1); a `declared` list replaces one."""


@dataclass(frozen=True)
class Rule:
    """One coordination rule as written (see `schemas/coordination_rules.schema.json`)."""

    id: str
    severity: str
    kind: str
    why: str
    source_type: str | None = None
    """exists: `from.type`; no_overlap, shared, one_of: `of.type`."""
    field: str | None = None
    """The field a rule compares (`from.`/`of.` field, or `field`); None: each lifecycle field."""
    target_type: str | None = None
    target_where: Condition | None = None
    patterns: bool = False
    owner: str | None = None
    when: Condition | None = None
    values: tuple[Any, ...] = ()
    """one_of: the allowed values, as written or from the declared list `values_from`."""
    values_from: str | None = None
    """one_of: the declared list `values` came from, if any."""
    value: Any = None

    @property
    def types(self) -> tuple[str, ...]:
        """The types the rule reads."""
        return tuple(t for t in (self.source_type, self.target_type) if t is not None)


@dataclass(frozen=True)
class Coordination:
    """A workspace's rules, and the file they came from (None: no coordination file)."""

    rules: tuple[Rule, ...]
    path: str | None = None
    lifecycle: Mapping[str, Condition] = dataclasses.field(default_factory=dict)
    """Type name -> the field and value that mark its entries deprecated, where declared."""


def rules_involving(coordination: Coordination, type_name: str) -> Coordination:
    """The rules that can report on an entry of `type_name` (and every `not_deprecated`)."""
    kept = [r for r in coordination.rules if type_name in r.types or r.kind == "not_deprecated"]
    return replace(coordination, rules=tuple(kept))


def _invalid(path: str, details: Sequence[str]) -> UsageError:
    """COORDINATION_INVALID: the coordination file cannot be used; `details` lists every problem."""
    return catalog_error(
        path, details, code=CatalogCode.COORDINATION_INVALID.value, subject="the coordination rules"
    )


def load_coordination(root: Path, relpath: str | None, types: Iterable[str]) -> Coordination:
    """The rules of the coordination file at `relpath` (none when None), every problem at once."""
    if relpath is None:
        return Coordination(())
    path = root / relpath
    try:  # a FIFO or a device there: NOT_A_REGULAR_FILE, never a hang
        what = f"coordination file {relpath}"  # named: a check's verdict says no path
        data = read_regular_file(path, limit=MAX_CATALOG_FILE_BYTES, what=what)
        document = parse_file(relpath, data).document
    except (OSError, JSONDecodeProblem) as exc:
        raise _invalid(str(path), [f"cannot read: {exc}"]) from None
    return parse_coordination(document, str(path), types, relpath)


def parse_coordination(
    document: Any, path: str, types: Iterable[str], relpath: str | None = None
) -> Coordination:
    """Rules from a parsed coordination document; COORDINATION_INVALID listing every problem."""
    schemas = SchemaCatalog.for_workspace(None)
    problems = [violation_text(v) for v in schemas.validate(RULES_SCHEMA_ID, document, limit=50)]
    if problems:
        raise _invalid(path, problems)
    known = set(types)
    listed = ", ".join(sorted(known))
    declared = {
        **DEFAULT_DECLARED,
        **{k: tuple(v) for k, v in document.get("declared", {}).items()},
    }
    rules = tuple(_rule(raw, declared) for raw in document["rules"])
    seen: set[str] = set()
    for index, (raw, rule) in enumerate(zip(document["rules"], rules, strict=True)):
        if rule.id in seen:
            problems.append(f"/rules/{index}/id: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        unknown = [n for n in rule.types if n not in known]
        problems.extend(f"/rules/{index}: unknown type {n!r} (known: {listed})" for n in unknown)
        name = raw.get("values_from")
        if name is not None and name not in declared:
            problems.append(
                f"/rules/{index}/values_from: no declared list {name!r} (declared: "
                f"{', '.join(sorted(declared))})"
            )
    problems.extend(_unused(document.get("declared", {}), document["rules"]))
    lifecycle = {
        name: Condition(marker["field"], marker["deprecated"])
        for name, marker in document.get("lifecycle", {}).items()
    }
    unknown = [n for n in lifecycle if n not in known]
    problems.extend(f"/lifecycle/{n}: unknown type {n!r} (known: {listed})" for n in unknown)
    if problems:
        raise _invalid(path, problems)
    return Coordination(rules, relpath, lifecycle)


def _unused(declared: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> list[str]:
    """A declared list no rule names (a misspelt name would leave the built-in list in force)."""
    named = {str(raw["values_from"]) for raw in rules if "values_from" in raw}
    found = []
    for name in declared:
        if name not in named:
            close = difflib.get_close_matches(name, [*named, *DEFAULT_DECLARED], 1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            found.append(
                f"/declared/{name}: unknown declared list {name!r}: no rule names it with "
                f"values_from{hint}"
            )
    return found


def _rule(raw: dict[str, Any], declared: Mapping[str, tuple[Any, ...]]) -> Rule:
    source = raw.get("from") or raw.get("of") or {}
    target = raw.get("to") or {}
    return Rule(
        id=raw["id"],
        severity=raw["severity"],
        kind=raw["kind"],
        why=raw["why"],
        source_type=source.get("type"),
        field=source.get("field", raw.get("field")),
        target_type=target.get("type"),
        target_where=_condition(target.get("where")),
        patterns=bool(target.get("patterns", False)),
        owner=source.get("owner"),
        when=_condition(raw.get("when")),
        values=tuple(raw.get("values", declared.get(raw.get("values_from", ""), ()))),
        values_from=raw.get("values_from"),
        value=raw.get("value"),
    )


def _condition(raw: dict[str, Any] | None) -> Condition | None:
    return Condition(raw["field"], raw["equals"]) if raw else None


Reference = tuple[Rule, Entry, str, Entry]
"""(exists rule, referring entry, field, referred entry) of a resolved reference."""


def evaluate(coordination: Coordination, contents: Mapping[str, TypeContent]) -> list[Problem]:
    """Every finding of every rule over the entries of `contents` (type name -> content)."""
    findings: list[Problem] = []
    resolved: list[Reference] = []
    for rule in coordination.rules:
        if rule.kind == "exists":
            findings.extend(_exists(rule, contents, resolved))
        elif rule.kind != "not_deprecated":
            check = {"no_overlap": _no_overlap, "shared": _shared, "one_of": _one_of}[rule.kind]
            findings.extend(check(rule, contents))
    for rule in coordination.rules:
        if rule.kind == "not_deprecated":
            findings.extend(_not_deprecated(rule, resolved, coordination.lifecycle))
    return findings


def involving(findings: list[Problem], type_name: str, key: str) -> list[Problem]:
    """The findings about the entry `type_name`/`key`, as the referring or the referred one."""
    return [found for found in findings if (type_name, key) in (found.subject, found.related)]


def values_at(value: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    """(concrete pointer, value) at `pointer` in `value`; `*` is every list item or member."""
    items: list[tuple[str, Any]] = [("", value)]
    for part in pointer[1:].split("/") if pointer else []:
        step: list[tuple[str, Any]] = []
        for where, current in items:
            if part == "*" and isinstance(current, list):
                step.extend((f"{where}/{i}", item) for i, item in enumerate(current))
            elif part == "*" and isinstance(current, dict):
                step.extend((f"{where}/{k}", item) for k, item in current.items())
            elif isinstance(current, dict) and part in current:
                step.append((f"{where}/{part}", current[part]))
            elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
                step.append((f"{where}/{part}", current[int(part)]))
        items = step
    yield from items


def _first(value: Any, pointer: str) -> Any:
    """The first value at `pointer`, which may hold `*` (a private sentinel when absent)."""
    return next((found for _where, found in values_at(value, pointer)), _MISSING)


def _holds(entry: Entry, condition: Condition | None) -> bool:
    return condition is None or _first(entry.value, condition.field) == condition.equals


def _finding(
    rule: Rule, entry: Entry, where: str, message: str, related: tuple[str, str] | None = None
) -> Problem:
    """A finding of `rule` about `entry` (of the rule's source type) at `where`."""
    source = rule.source_type or ""
    return finding(rule.id, rule.severity, source, entry.key, where, message, entry.file, related)


def _exists(
    rule: Rule, contents: Mapping[str, TypeContent], resolved: list[Reference]
) -> Iterator[Problem]:
    source, target = contents[rule.source_type or ""], contents[rule.target_type or ""]
    to = target.type.name
    for entry in source.entries.values():
        for where, value in values_at(entry.value, rule.field or ""):
            if value is None:
                continue  # null: no reference
            if not isinstance(value, str):
                yield _finding(rule, entry, where, f"{value!r} is not a {to} key")
                continue
            if rule.patterns and value.endswith(".*"):
                prefix = value[:-1]
                if not any(
                    key.startswith(prefix) and _holds(found, rule.target_where)
                    for key, found in target.entries.items()
                ):
                    yield _finding(rule, entry, where, f"{value!r} matches no {to}")
                continue
            found = target.entries.get(value)
            if found is None:
                yield _finding(rule, entry, where, f"no {to} {value!r}", (to, value))
            elif not _holds(found, rule.target_where):
                condition = rule.target_where
                assert condition is not None
                actual = _first(found.value, condition.field)
                shown = "absent" if actual is _MISSING else repr(actual)
                why = f"{to} {value!r} has {condition.field} {shown}, not {condition.equals!r}"
                yield _finding(rule, entry, where, why, (to, value))
            else:
                resolved.append((rule, entry, where, found))


def _not_deprecated(
    rule: Rule, resolved: list[Reference], lifecycle: Mapping[str, Condition]
) -> Iterator[Problem]:
    """References to an entry whose `rule.field` is `rule.value` (else its lifecycle marker)."""
    own = Condition(rule.field, rule.value) if rule.field is not None else None
    for exists, entry, where, found in resolved:
        to = exists.target_type or ""
        marker = deprecated_by(found.value, own or lifecycle.get(to))
        if marker is not None:
            why = f"refers to {to} {found.key!r}, whose {marker.field} is {marker.equals!r}"
            problem = _finding(rule, entry, where, why, (to, found.key))
            yield replace(problem, subject=(exists.source_type or "", *problem.subject[1:]))


def _no_overlap(rule: Rule, contents: Mapping[str, TypeContent]) -> Iterator[Problem]:
    content = contents[rule.source_type or ""]
    name = content.type.name
    items = sorted(
        (value, entry.key, where, entry)
        for entry in content.entries.values()
        for where, value in values_at(entry.value, rule.field or "")
        if isinstance(value, str)
    )
    for i, (value, key, _where, _entry) in enumerate(items):
        for other, other_key, other_where, other_entry in items[i + 1 :]:
            if not other.startswith(value):
                break
            if other_key != key:
                why = f"{other!r} overlaps {value!r} of {name} {key!r}"
                yield _finding(rule, other_entry, other_where, why, (name, key))


def _shared(rule: Rule, contents: Mapping[str, TypeContent]) -> Iterator[Problem]:
    content = contents[rule.source_type or ""]
    name = content.type.name
    users: dict[Any, list[tuple[Entry, str, Any]]] = defaultdict(list)
    for entry in content.entries.values():
        owner = _first(entry.value, rule.owner or "")
        for where, value in values_at(entry.value, rule.field or ""):
            if isinstance(value, str | int | float | bool):
                users[value].append((entry, where, owner))
    for value, members in users.items():
        for entry, where, owner in members:
            others = [other for other, _w, o in members if o != owner]
            if others:
                listed = ", ".join(repr(other.key) for other in others)
                why = f"{value!r} is also used by {name} {listed}, of another owner"
                yield _finding(rule, entry, where, why, (name, others[0].key))


def _one_of(rule: Rule, contents: Mapping[str, TypeContent]) -> Iterator[Problem]:
    content = contents[rule.source_type or ""]
    allowed = ", ".join(map(str, rule.values))
    for entry in content.entries.values():
        if not _holds(entry, rule.when):
            continue
        for where, value in values_at(entry.value, rule.field or ""):
            if value not in rule.values:
                condition = rule.when
                when = f" when {condition.field} is {condition.equals!r}" if condition else ""
                yield _finding(
                    rule, entry, where, f"{value!r} is not allowed{when}; allowed: {allowed}"
                )


def entry_violations(
    root: Path, entry_type: EntryType, key: str | None, value: Any
) -> list[Problem]:
    """Every violation of `value` against the type's entry schema (none without one)."""
    if entry_type.schema is None:
        return []
    path = str(root / entry_type.schema)
    schemas = _entry_schema(path, file_stamp(path))
    file, name = entry_type.file_of(key) if key else None, entry_type.name
    return [
        finding("SCHEMA_VIOLATION", "error", name, key, v.field or "", v.message, file)
        for v in schemas.validate(ENTRY_SCHEMA_ID, value, limit=sys.maxsize)
    ]


def file_violations(
    schemas: SchemaCatalog, entry_type: EntryType, key: str, document: Any, before: Any = None
) -> list[Problem]:
    """Violations of the file's schema under entry `key`, and above it unless there `before`."""
    schema = schemas.for_artifact(Path(entry_type.file_of(key)).name)
    if schema is None:
        return []
    pointer = entry_type.container
    if entry_type.layout == "files":
        pointer = ""
    elif entry_type.layout == "map":
        pointer += "/" + pointer_token(key)
    else:
        items = resolve_pointer(document, entry_type.container)
        pointer += f"/{next(i for i, v in enumerate(items) if v.get(entry_type.key) == key)}"
    file, name = entry_type.file_of(key), entry_type.name

    def above(field: str) -> bool:  # the container or a parent of it: every entry's concern
        return entry_type.layout != "files" and (pointer + "/").startswith(field + "/")

    # by place, not message: a message quotes the array, cut short, so it changes with any item
    had = set() if before is None else {
        v.field or "" for v in schemas.validate(schema.schema_id, before, limit=sys.maxsize)
        if above(v.field or "")
    }  # fmt: skip
    return [
        finding("SCHEMA_VIOLATION", "error", name, key, field[len(pointer) :], v.message, file)
        for v in schemas.validate(schema.schema_id, document, limit=sys.maxsize)
        if (field := v.field or "") == pointer
        or field.startswith(pointer + "/")
        or (above(field) and field not in had)
    ]


ENTRY_SCHEMA_ID = "urn:registry-pipeline:entry-schema"
"""The id of the one schema of an entry schema's catalog (a file path is no URI)."""


@functools.lru_cache(maxsize=64)
def _entry_schema(path: str, stamp: object) -> SchemaCatalog:
    """The entry schema at `path` as a one-schema catalog; SCHEMA_INVALID / SCHEMA_UNREADABLE."""
    import jsonschema_rs

    def refused(message: str, code: str = "SCHEMA_INVALID") -> UsageError:
        return UsageError(message, code=code, path=path)

    try:
        document = parse_file(path, Path(path).read_bytes()).document
    except (OSError, JSONDecodeProblem) as exc:
        raise refused(f"cannot read the entry schema: {exc}", "SCHEMA_UNREADABLE") from None
    if not isinstance(document, dict):
        raise refused("an entry schema must be an object")
    try:  # compiled here first, for the entry schema's own words; registered as the catalog
        # registers it, so a `$ref` outside it fails the registry (which never fetches) before
        # the validator's own retriever, which would fetch it, is asked
        registry = jsonschema_rs.Registry(
            [(ENTRY_SCHEMA_ID, document)], draft=jsonschema_rs.Draft202012
        )
        jsonschema_rs.Draft202012Validator(document, validate_formats=False, registry=registry)
    except jsonschema_rs.ValidationError as exc:
        raise refused(f"not a valid draft 2020-12 schema: {exc.message}") from None
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise refused(
            f"the entry schema cannot be applied: {exc} (a $ref resolves only inside the "
            "schema; nothing is fetched)"
        ) from None
    schema = ArtifactSchema(ENTRY_SCHEMA_ID, Path(path), document, (), "yaml")
    return SchemaCatalog({ENTRY_SCHEMA_ID: schema})


Reader = Callable[[Path, EntryType], TypeContent]


def workspace_findings(
    workspace: Workspace,
    catalog: RegistryCatalog,
    registry_id: str,
    files: Mapping[str, bytes],
    *,
    read: Reader = read_type,
) -> list[Problem]:
    """Every finding about `registry_id`'s entries in `files` (other types: as `read` gives)."""
    types = entry_types(catalog)
    by_registry = {t.registry_id: t for t in types.values()}
    target = by_registry.get(registry_id)
    if target is None:
        return []
    coordination = rules_involving(
        load_coordination(workspace.root, catalog.coordination, types), target.name
    )
    contents: dict[str, TypeContent] = {target.name: content_of(target, files)}
    for name in {name for rule in coordination.rules for name in rule.types} - {target.name}:
        contents[name] = read(workspace.root, types[name])
    own = contents[target.name]
    findings = list(own.problems)
    for entry in own.entries.values():
        findings.extend(entry_violations(workspace.root, target, entry.key, entry.value))
    name = target.name
    unreadable = [p for other, c in contents.items() if other != name for p in c.problems]
    if not unreadable:
        findings.extend(f for f in evaluate(coordination, contents) if f.subject[0] == name)
    for problem in unreadable:
        why = render("DEPENDENCY_UNREADABLE", type=problem.subject[0], reason=problem.message)
        findings.append(
            finding("DEPENDENCY_UNREADABLE", "error", name, None, "", why, problem.path)
        )
    return findings
