"""Run indexes of a catalog: how runs are keyed, timed, laned and judged (`run_index`)."""

from __future__ import annotations

import difflib
import functools
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.run_id import read_day
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec

EARLIEST = -(2**62)
"""The sort time of a record whose time does not parse (its schema check reports it)."""
UPDATED = "last_updated_utc"
"""Seed 004's field for when a record augmenting a run was written, if not at its time."""
_ABSENT = object()
_EPOCH_DAY = date(1970, 1, 1).toordinal()
CHECK_PREFIX = "uniqueness_"
"""The prefix of a uniqueness check's field."""
FAIL = "FAIL"
"""The value of a failed check."""
OVERRIDE = "override_id"
"""The field of a RUN record naming its override, and the key of the overrides log."""


def is_check(field: str) -> bool:
    """Whether `field` is a uniqueness check."""
    return field.startswith(CHECK_PREFIX)


def failed_checks(record: dict[str, Any]) -> list[str]:
    """The uniqueness checks of `record` whose value is FAIL, in the record's order."""
    if FAIL not in record.values():  # most records: one pass in C
        return []
    return [f for f, value in record.items() if value == FAIL and f.startswith(CHECK_PREFIX)]


def named_override(record: dict[str, Any]) -> str | None:
    """The override `record` names (None: none, or not a string)."""
    value = record.get(OVERRIDE)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Condition:
    """The record's `field` has one of `values`."""

    field: str
    values: tuple[Any, ...]

    def holds(self, record: dict[str, Any]) -> bool:
        """Whether `record`'s value is one of `values`, of the same type (`True` is not `1`)."""
        value = record.get(self.field, _ABSENT)
        for wanted in self.values:  # noqa: SIM110 (a loop: any() costs 3x per record)
            if type(value) is type(wanted) and value == wanted:
                return True
        return False


@dataclass(frozen=True)
class Predicate:
    """`all` or `any` of its conditions, on a run's latest view."""

    mode: str
    conditions: tuple[Condition, ...]

    def __call__(self, record: dict[str, Any]) -> bool:
        held = map(Condition.holds, self.conditions, itertools.repeat(record))
        return all(held) if self.mode == "all" else any(held)

    def judged(self, record: dict[str, Any]) -> tuple[bool, list[str]]:
        """(whether the predicate holds, the fields of the conditions that hold) of `record`."""
        held = [condition.holds(record) for condition in self.conditions]
        holds = all(held) if self.mode == "all" else any(held)
        return holds, [c.field for c, h in zip(self.conditions, held, strict=True) if h]

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

    def fingerprint(self) -> str:
        """Hash of what the sidecar index derives from records: a change rebuilds it."""
        predicates = [
            None if p is None else [p.mode, [[c.field, list(c.values)] for c in p.conditions]]
            for p in (self.success, self.failure)
        ]  # values as JSON: `true` is not "True", ["A|B"] not ["A", "B"]
        derived = [self.key, self.time, self.updated, self.lanes, *predicates]
        return sha256_bytes(json.dumps(derived).encode())

    def lane_filter(self, lanes: dict[str, str]) -> None:
        """UNKNOWN_LANE (exit 2) for a field that is not one of the index's lanes."""
        for field in lanes:
            if field not in self.lanes:
                known = ", ".join(self.lanes) or "none"
                raise UsageError.of(
                    "UNKNOWN_LANE",
                    path=field,
                    registry_id=self.registry_id,
                    guess=_did_you_mean(field, self.lanes),
                    known=known,
                )


def index_specs(catalog: RegistryCatalog) -> dict[str, IndexSpec]:
    """Every run index of the catalog by registry id, in catalog order."""
    return {
        spec.registry_id: _index_spec(spec)
        for spec in catalog.registries
        if spec.run_index is not None
    }


def index_spec(catalog: RegistryCatalog, index_id: str | None) -> IndexSpec:
    """The run index `index_id`, or the catalog's first; NO_RUN_INDEX or UNKNOWN_INDEX."""
    specs = index_specs(catalog)
    if not specs:
        raise UsageError.of("NO_RUN_INDEX", path=catalog.path)
    if index_id is None:
        return next(iter(specs.values()))
    if index_id in specs:
        return specs[index_id]
    raise UsageError.of(
        "UNKNOWN_INDEX",
        field="--index",
        index=index_id,
        guess=_did_you_mean(index_id, specs),
        known=", ".join(specs),
    )


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    """`did you mean 'x'? ` naming the closest of `known` to `word` ("" when none is close)."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def parse_time(value: Any) -> int | None:
    """An ISO 8601 UTC time as microseconds since the epoch; None when it is not one."""
    if type(value) is str and len(value) == 17 and value[16] == "Z" and value[10] == "T":
        day, clock = _day(value[:10]), _CLOCK.get(value[11:16])
        if day is not None and clock is not None:
            return day * 86_400_000_000 + clock
    if not isinstance(value, str) or not value[:4].isdigit():
        return None
    return _parsed(value)


_CLOCK = {
    f"{hour:02d}:{minute:02d}": (hour * 3600 + minute * 60) * 1_000_000
    for hour in range(24)
    for minute in range(60)
}
"""Each `HH:MM` of a day, as microseconds since its midnight."""


@functools.lru_cache(maxsize=4096)
def _day(text: str) -> int | None:
    """Days since the epoch of a `YYYY-MM-DD` day `read_day` reads, or None (`_parsed` decides)."""
    day = read_day(text)
    return None if day is None else day.toordinal() - _EPOCH_DAY


@functools.lru_cache(maxsize=4096)  # a record's times are asked for by several checks
def _parsed(value: str) -> int | None:
    """A time `datetime.fromisoformat` reads (without a zone: UTC), or None."""
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
    )


def _predicate(raw: dict[str, Any] | None) -> Predicate | None:
    if raw is None:
        return None
    mode, conditions = next(iter(raw.items()))
    return Predicate(mode, tuple(Condition(c["field"], tuple(c["in"])) for c in conditions))
