"""The governance scorecard: its figures computed from the catalog summary and the status inputs.

- `enforcement_c3_plus`: canonical operations (the v0.1 status rows) at coverage level C3, C4 or
  C5, of all of them: the seed's "Enforcement Coverage (C3+)"; `below_c3` names the others with
  their level. `check_coverage` is the same ratio under its earlier name.
- `sealed_registries`: registries sealed here, of the repository's registries: the catalog's,
  less those adoption added to feed a builder (`in_scorecard: false`), plus those the catalog
  excludes (an external database has no snapshot): the seed's "Registries with Seals", 9 of 13
  in its own scorecard. What "sealed" means, for the report itself and for registries sealed
  later in the same run (the delta log) too, is `_sealed`'s rule; `registries` lists each one
  counted, with why it is not sealed.
- `operations_with_builders`: operations built by a catalog registry that has a builder.
- `executables`: the files the operations catalog binds to operations (its Bound Executables):
  `count` distinct paths over every operation, and `operations_bound`, canonical operations
  binding at least one of all canonical operations (the others in `unbound_operations`). Null
  when no operation names any (a JSON catalog), `executables_reason` then saying so.

Each ratio is `{count, total, percent}` (percent to one decimal, null when total is 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.builders.system_health._sealed import registry_entries

CHECKED_LEVELS = frozenset({"C3", "C4", "C5"})
NO_EXECUTABLES = "the operations catalog names no executables"


@dataclass(frozen=True)
class Ratio:
    """A scorecard figure: `count` of `total`."""

    count: int
    """Items that meet the bar."""
    total: int
    """Items considered."""

    @property
    def percent(self) -> float | None:
        """`count / total` in percent, one decimal; None when there is nothing to count."""
        return round(100 * self.count / self.total, 1) if self.total else None

    def __str__(self) -> str:
        return f"{self.count}/{self.total}"

    def as_json(self) -> dict[str, Any]:
        """`{"count": x, "total": y, "percent": p}`."""
        return {"count": self.count, "total": self.total, "percent": self.percent}


@dataclass(frozen=True)
class Executables:
    """The operations catalog's Bound Executables, counted."""

    count: int
    """Distinct paths bound to any operation."""
    operations_bound: Ratio
    """Canonical operations binding at least one, of all canonical operations."""
    unbound_operations: tuple[str, ...]
    """The canonical operations binding none."""

    def as_json(self) -> dict[str, Any]:
        """The summary's `scorecard.executables` object."""
        return {
            "count": self.count,
            "operations_bound": self.operations_bound.as_json(),
            "unbound_operations": list(self.unbound_operations),
        }


@dataclass(frozen=True)
class Scorecard:
    """The governance figures, computed from data."""

    sealed_registries: Ratio
    """Registries sealed here, of the repository's registries (excluded ones included)."""
    operations_with_builders: Ratio
    """Operations built by a catalog registry that has a builder, of all operations."""
    enforcement_c3_plus: Ratio
    """Canonical operations at coverage level C3 or above, of all canonical operations."""
    below_c3: tuple[tuple[str, str], ...]
    """(operation id, coverage level) of the canonical operations below C3, by id."""
    registries: tuple[dict[str, Any], ...]
    """Per registry counted: `{registry_id, sealed, basis, run_id, reason}` (`_sealed`)."""
    executables: Executables | None
    """The catalog's Bound Executables; None when it names none."""

    def as_json(self) -> dict[str, Any]:
        """The summary's `scorecard` object."""
        return {
            "enforcement_c3_plus": {
                **self.enforcement_c3_plus.as_json(),
                "below_c3": [
                    {"operation_id": op, "coverage_level": level} for op, level in self.below_c3
                ],
            },
            "sealed_registries": {
                **self.sealed_registries.as_json(),
                "registries": [dict(entry) for entry in self.registries],
            },
            "executables": self.executables.as_json() if self.executables else None,
            "executables_reason": None if self.executables else NO_EXECUTABLES,
            "operations_with_builders": self.operations_with_builders.as_json(),
            "check_coverage": self.enforcement_c3_plus.as_json(),
        }


def compute_scorecard(
    catalog_summary: Sequence[Mapping[str, Any]],
    op_status_rows: Sequence[Mapping[str, Any]],
    op_status_detail: Mapping[str, Any] | None = None,
    excluded: Sequence[tuple[str, str]] = (),
) -> Scorecard:
    """The governance figures (see the module doc); `excluded`: the catalog's (id, reason)."""
    built_ops = {
        entry.get("operation_id")
        for entry in catalog_summary
        if entry.get("has_builder") is True and entry.get("operation_id")
    }
    registries = registry_entries(catalog_summary, excluded)
    below = sorted(
        (str(row.get("operation_id")), str(row.get("coverage_level")))
        for row in op_status_rows
        if row.get("coverage_level") not in CHECKED_LEVELS
    )
    return Scorecard(
        sealed_registries=Ratio(sum(1 for r in registries if r["sealed"]), len(registries)),
        operations_with_builders=Ratio(
            sum(1 for row in op_status_rows if row.get("operation_id") in built_ops),
            len(op_status_rows),
        ),
        enforcement_c3_plus=Ratio(len(op_status_rows) - len(below), len(op_status_rows)),
        below_c3=tuple(below),
        registries=tuple(registries),
        executables=_executables(op_status_rows, op_status_detail or {}),
    )


def _executables(
    rows: Sequence[Mapping[str, Any]], detail: Mapping[str, Any]
) -> Executables | None:
    """Distinct bound paths over every operation of the detail, and the canonical operations
    (the rows) binding one; None when no operation names any."""
    raw = detail.get("operations", ())
    entries = (
        [{"operation_id": key, **value} for key, value in raw.items() if isinstance(value, Mapping)]
        if isinstance(raw, Mapping)
        else [entry for entry in raw if isinstance(entry, Mapping)]
    )
    bound = {
        str(entry.get("operation_id")): {p for p in entry["executables"] if isinstance(p, str)}
        for entry in entries
        if isinstance(entry.get("executables"), list)
    }
    paths = set().union(*bound.values()) if bound else set()
    if not paths:
        return None
    canonical = sorted({str(row.get("operation_id")) for row in rows})
    unbound = tuple(op for op in canonical if not bound.get(op))
    return Executables(len(paths), Ratio(len(canonical) - len(unbound), len(canonical)), unbound)
