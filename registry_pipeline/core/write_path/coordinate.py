"""Coordination rules applied to a workspace's entries: every finding in one pass."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from registry_pipeline.core.write_path.content import Entry, TypeContent
from registry_pipeline.core.write_path.findings import Finding
from registry_pipeline.core.write_path.lifecycle import Lifecycle, deprecated_by
from registry_pipeline.core.write_path.rules import Condition, Coordination, Rule

_MISSING = object()

Reference = tuple[Rule, Entry, str, Entry]
"""(exists rule, referring entry, field, referred entry) of a resolved reference."""


def evaluate(coordination: Coordination, contents: Mapping[str, TypeContent]) -> list[Finding]:
    """Every finding of every rule over the entries of `contents` (type name -> content)."""
    findings: list[Finding] = []
    resolved: list[Reference] = []
    for rule in coordination.rules:
        if rule.kind == "exists":
            findings.extend(_exists(rule, contents, resolved))
        elif rule.kind == "no_overlap":
            findings.extend(_no_overlap(rule, contents))
        elif rule.kind == "shared":
            findings.extend(_shared(rule, contents))
        elif rule.kind == "one_of":
            findings.extend(_one_of(rule, contents))
    for rule in coordination.rules:
        if rule.kind == "not_deprecated":
            findings.extend(_not_deprecated(rule, resolved, coordination.lifecycle))
    return findings


def involving(findings: list[Finding], type_name: str, key: str) -> list[Finding]:
    """The findings about the entry `type_name`/`key`, as the referring or the referred one."""
    return [finding for finding in findings if finding.involves(type_name, key)]


def values_at(value: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    """(concrete pointer, value) at `pointer` in `value`; `*` stands for every list item (or
    object member); absent paths give nothing."""
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
    return next((found for _where, found in values_at(value, pointer)), _MISSING)


def _holds(entry: Entry, condition: Condition | None) -> bool:
    return condition is None or _first(entry.value, condition.field) == condition.equals


def _finding(
    rule: Rule, entry: Entry, type_name: str, where: str, message: str, **kw: Any
) -> Finding:
    return Finding(rule.id, rule.severity, type_name, entry.key, where, message, entry.file, **kw)


def _exists(
    rule: Rule, contents: Mapping[str, TypeContent], resolved: list[Reference]
) -> Iterator[Finding]:
    source, target = contents[rule.source_type or ""], contents[rule.target_type or ""]
    to = target.type.name
    for entry in source.entries.values():
        for where, value in values_at(entry.value, rule.field or ""):
            if value is None:
                continue  # null: no reference
            if not isinstance(value, str):
                yield _finding(rule, entry, source.type.name, where, f"{value!r} is not a {to} key")
                continue
            if rule.patterns and value.endswith(".*"):
                prefix = value[:-1]
                if not any(
                    key.startswith(prefix) and _holds(found, rule.target_where)
                    for key, found in target.entries.items()
                ):
                    yield _finding(
                        rule, entry, source.type.name, where, f"{value!r} matches no {to}"
                    )
                continue
            found = target.entries.get(value)
            if found is None:
                yield _finding(
                    rule, entry, source.type.name, where, f"no {to} {value!r}", related=(to, value)
                )
            elif not _holds(found, rule.target_where):
                condition = rule.target_where
                assert condition is not None
                actual = _first(found.value, condition.field)
                shown = "absent" if actual is _MISSING else repr(actual)
                yield _finding(
                    rule,
                    entry,
                    source.type.name,
                    where,
                    f"{to} {value!r} has {condition.field} {shown}, not {condition.equals!r}",
                    related=(to, value),
                )
            else:
                resolved.append((rule, entry, where, found))


def _not_deprecated(
    rule: Rule, resolved: list[Reference], lifecycle: Mapping[str, Lifecycle]
) -> Iterator[Finding]:
    """References to a deprecated entry: one whose `rule.field` is `rule.value`, or without a
    field in the rule, one carrying its type's lifecycle marker (what `registry deprecate`
    writes)."""
    own = Lifecycle(rule.field, rule.value) if rule.field is not None else None
    for exists, entry, where, found in resolved:
        to = exists.target_type or ""
        marker = deprecated_by(found.value, own or lifecycle.get(to))
        if marker is not None:
            yield Finding(
                rule.id,
                rule.severity,
                exists.source_type or "",
                entry.key,
                where,
                f"refers to {to} {found.key!r}, whose {marker.field} is {marker.deprecated!r}",
                entry.file,
                (to, found.key),
            )


def _no_overlap(rule: Rule, contents: Mapping[str, TypeContent]) -> Iterator[Finding]:
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
                yield _finding(
                    rule,
                    other_entry,
                    name,
                    other_where,
                    f"{other!r} overlaps {value!r} of {name} {key!r}",
                    related=(name, key),
                )


def _shared(rule: Rule, contents: Mapping[str, TypeContent]) -> Iterator[Finding]:
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
                yield _finding(
                    rule,
                    entry,
                    name,
                    where,
                    f"{value!r} is also used by {name} {listed}, of another owner",
                    related=(name, others[0].key),
                )


def _one_of(rule: Rule, contents: Mapping[str, TypeContent]) -> Iterator[Finding]:
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
                    rule,
                    entry,
                    content.type.name,
                    where,
                    f"{value!r} is not allowed{when}; allowed: {allowed}",
                )
