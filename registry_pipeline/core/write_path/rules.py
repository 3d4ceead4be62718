"""Coordination rules as data: read from the workspace's coordination file (YAML or JSON),
checked against their schema and against the catalog's types before any is applied."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core._json import JSONDecodeProblem
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import CatalogError
from registry_pipeline.core.write_path.content import parse_file

RULES_SCHEMA_ID = "urn:registry-pipeline:schema:coordination_rules_v0_1"


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
    """exists: `from.field`; no_overlap, shared, one_of: `of.field`; not_deprecated: `field`."""
    target_type: str | None = None
    target_where: Condition | None = None
    patterns: bool = False
    owner: str | None = None
    when: Condition | None = None
    values: tuple[Any, ...] = ()
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
    return Coordination(kept, coordination.path)


def load_coordination(root: Path, relpath: str | None, types: Iterable[str]) -> Coordination:
    """The rules of the coordination file at `relpath` (none when None), every problem at once."""
    if relpath is None:
        return Coordination(())
    path = root / relpath
    try:
        document = parse_file(relpath, path.read_bytes()).document
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
    rules = tuple(_rule(raw) for raw in document["rules"])
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.id in seen:
            problems.append(f"/rules/{index}/id: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        problems.extend(
            f"/rules/{index}: unknown type {name!r} (known: {', '.join(sorted(known))})"
            for name in rule.types
            if name not in known
        )
    if problems:
        raise CoordinationError(path, problems)
    return Coordination(rules, relpath)


def _rule(raw: dict[str, Any]) -> Rule:
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
        values=tuple(raw.get("values", ())),
        value=raw.get("value"),
    )


def _condition(raw: dict[str, Any] | None) -> Condition | None:
    return Condition(raw["field"], raw["equals"]) if raw else None
