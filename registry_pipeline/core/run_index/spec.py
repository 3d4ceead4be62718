"""Run indexes of a catalog: which logs `registry runs` appends to and queries, and how a run is
keyed, timed, grouped into lanes and judged, as the catalog entry's `run_index` block says."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec

EARLIEST = -(2**62)
"""The sort time of a record whose time does not parse (its schema check reports it)."""
UPDATED = "last_updated_utc"
"""Seed 004's field for when a record augmenting a run was written, if not at its time."""


@dataclass(frozen=True)
class Condition:
    """The record's `field` has one of `values`."""

    field: str
    values: tuple[Any, ...]

    def holds(self, record: dict[str, Any]) -> bool:
        """Whether the condition holds for `record` (an absent field never does)."""
        if self.field not in record:
            return False
        value = record[self.field]
        return any(type(value) is type(v) and value == v for v in self.values)


@dataclass(frozen=True)
class Predicate:
    """`all` or `any` of its conditions, on a run's latest view."""

    mode: str
    conditions: tuple[Condition, ...]

    def __call__(self, record: dict[str, Any]) -> bool:
        held = (condition.holds(record) for condition in self.conditions)
        return all(held) if self.mode == "all" else any(held)

    def holding(self, record: dict[str, Any]) -> list[str]:
        """The fields of the conditions that hold for `record`, in the predicate's order."""
        return [c.field for c in self.conditions if c.holds(record)]

    def __str__(self) -> str:
        joined = f" {'and' if self.mode == 'all' else 'or'} "
        return joined.join(f"{c.field} in {'|'.join(map(str, c.values))}" for c in self.conditions)


@dataclass(frozen=True)
class IndexSpec:
    """One run index: a log of the catalog with a `run_index` block."""

    registry_id: str
    type_name: str
    """The type coordination rules name its records by (default: the registry id)."""
    source: str
    """The workspace-relative JSONL file (the sealed source of truth)."""
    artifact: str
    """Its name inside a run folder (the schema governing this name validates each record)."""
    key: str
    time: str
    updated: str = UPDATED
    """When the record was written, if later than `time` (records are ordered by it first)."""
    lanes: tuple[str, ...] = ()
    success: Predicate | None = None
    failure: Predicate | None = None
    recommended: tuple[str, ...] = ()
    file_fields: tuple[str, ...] = ()
    purpose: str = ""

    def fingerprint(self) -> str:
        """Hash of what the sidecar index derives from records: a change rebuilds it."""
        derived = [
            self.key,
            self.time,
            self.updated,
            self.lanes,
            str(self.success),
            str(self.failure),
        ]
        return hashlib.sha256(json.dumps(derived).encode()).hexdigest()

    def lane_filter(self, lanes: dict[str, str]) -> None:
        """UNKNOWN_LANE (exit 2) for a field that is not one of the index's lanes."""
        for field in lanes:
            if field not in self.lanes:
                close = difflib.get_close_matches(field, self.lanes, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                known = ", ".join(self.lanes) or "none"
                raise UsageError(
                    f"{field!r} is not a lane of {self.registry_id}; {hint}lanes: {known}",
                    code="UNKNOWN_LANE",
                    path=field,
                )


def index_specs(catalog: RegistryCatalog) -> dict[str, IndexSpec]:
    """Every run index of the catalog by registry id, in catalog order."""
    return {
        spec.registry_id: _index_spec(spec)
        for spec in catalog.registries
        if spec.run_index is not None
    }


def index_spec(catalog: RegistryCatalog, index_id: str | None) -> IndexSpec:
    """The run index `index_id`, or without one the catalog's first; NO_RUN_INDEX or
    UNKNOWN_INDEX (exit 2) naming the known ones."""
    specs = index_specs(catalog)
    if not specs:
        raise UsageError(
            "the catalog has no run index (a log with a `run_index` block; docs/RUN_INDEX.md)",
            code="NO_RUN_INDEX",
            path=str(catalog.path),
        )
    if index_id is None:
        return next(iter(specs.values()))
    if index_id in specs:
        return specs[index_id]
    close = difflib.get_close_matches(index_id, list(specs), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(
        f"no run index {index_id!r}; {hint}run indexes: {', '.join(specs)}",
        code="UNKNOWN_INDEX",
        field="--index",
    )


def parse_time(value: Any) -> int | None:
    """An ISO 8601 UTC time as microseconds since the epoch (None when it is not one): times
    written with and without seconds order correctly."""
    if not isinstance(value, str) or not value[:4].isdigit():
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _index_spec(spec: RegistrySpec) -> IndexSpec:
    block = spec.run_index
    return IndexSpec(
        registry_id=spec.registry_id,
        type_name=block.get("type", spec.registry_id),
        source=spec.sources[0],
        artifact=spec.primary_artifact,
        key=block["key"],
        time=block["time"],
        lanes=tuple(block.get("lanes", ())),
        success=_predicate(block.get("success")),
        failure=_predicate(block.get("failure")),
        recommended=tuple(block.get("recommended", ())),
        file_fields=tuple(block.get("file_fields", ())),
        purpose=block.get("purpose") or spec.description,
    )


def _predicate(raw: dict[str, Any] | None) -> Predicate | None:
    if raw is None:
        return None
    mode, conditions = next(iter(raw.items()))
    return Predicate(mode, tuple(Condition(c["field"], tuple(c["in"])) for c in conditions))
