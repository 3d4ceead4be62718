"""Coordination rules as data: read from the workspace's coordination file (YAML or JSON),
checked against their schema and against the catalog's types before any is applied.

Besides its rules the file may declare named lists of values (`declared`, which a `one_of` rule
names with `values_from`; the hook event types and routing stages are built in) and, per type,
the field that marks an entry deprecated (`lifecycle`; see `core.write_path.lifecycle`)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import CatalogError
from registry_pipeline.core.workspace.input_files import MAX_CATALOG_FILE_BYTES, read_regular_file
from registry_pipeline.core.write_path.content import parse_file
from registry_pipeline.core.write_path.lifecycle import Lifecycle

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
"""The lists a `values_from` may name without declaring them: the seed's five hook event types
(seed 003, 3.1) and the two routing stages a hook may run at (before a prompt or a changed path
is routed to the content route owning it, and after; named like the ability slots `pre_call`
and `post_call`: the seed names the stages but not their values). A file's `declared` list of
the same name replaces the default."""


@dataclass(frozen=True)
class Condition:
    """`field` (a JSON pointer into an entry) equals `equals`."""

    field: str
    equals: Any


@dataclass(frozen=True)
class Rule:
    """One coordination rule as written (see `schemas/coordination_rules.schema.json`)."""

    id: str
    severity: str
    kind: str
    why: str
    source_type: str | None = None
    """exists: the referring type (`from.type`); no_overlap, shared, one_of: `of.type`."""
    field: str | None = None
    """exists: `from.field`; no_overlap, shared, one_of: `of.field`; not_deprecated: `field`
    (None: each referred type's lifecycle field, as `registry deprecate` writes it)."""
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
    lifecycle: Mapping[str, Lifecycle] = dataclasses.field(default_factory=dict)
    """Type name -> the field and value that mark its entries deprecated, where declared."""


class CoordinationError(CatalogError):
    """The coordination file cannot be used; `details` lists every problem."""

    code = "COORDINATION_INVALID"

    def __init__(self, path: str, details: Sequence[str]) -> None:
        super().__init__(path, details)
        self.message = f"{len(self.details)} problem(s) in the coordination rules"


def rules_involving(coordination: Coordination, type_name: str) -> Coordination:
    """The rules that read `type_name` (and `not_deprecated`, which applies to their
    references): what can report on an entry of that type."""
    kept = tuple(
        rule
        for rule in coordination.rules
        if type_name in rule.types or rule.kind == "not_deprecated"
    )
    return replace(coordination, rules=kept)


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
        raise CoordinationError(str(path), [f"cannot read: {exc}"]) from None
    return parse_coordination(document, str(path), types, relpath)


def parse_coordination(
    document: Any, path: str, types: Iterable[str], relpath: str | None = None
) -> Coordination:
    """Rules from a parsed coordination document; COORDINATION_INVALID listing every problem."""
    schemas = SchemaCatalog.for_workspace(None)
    problems = [str(v) for v in schemas.validate(RULES_SCHEMA_ID, document, limit=50)]
    if problems:
        raise CoordinationError(path, problems)
    known = set(types)
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
        problems.extend(
            f"/rules/{index}: unknown type {name!r} (known: {', '.join(sorted(known))})"
            for name in rule.types
            if name not in known
        )
        name = raw.get("values_from")
        if name is not None and name not in declared:
            problems.append(
                f"/rules/{index}/values_from: no declared list {name!r} (declared: "
                f"{', '.join(sorted(declared))})"
            )
    problems.extend(_unused(document.get("declared", {}), document["rules"]))
    lifecycle = {
        name: Lifecycle(marker["field"], marker["deprecated"])
        for name, marker in document.get("lifecycle", {}).items()
    }
    problems.extend(
        f"/lifecycle/{name}: unknown type {name!r} (known: {', '.join(sorted(known))})"
        for name in lifecycle
        if name not in known
    )
    if problems:
        raise CoordinationError(path, problems)
    return Coordination(rules, relpath, lifecycle)


def _unused(declared: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> list[str]:
    """A declared list no rule names with `values_from`: a misspelt name (`hook_event_type`)
    would otherwise leave the built-in list in force, silently."""
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
