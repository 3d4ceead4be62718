"""The governance scorecard: its figures computed from the catalog summary and the status inputs.

- `enforcement_c3_plus`: canonical operations (the v0.1 status rows) at coverage level C3, C4 or
  C5, of all of them: the seed's "Enforcement Coverage (C3+)". `check_coverage` is the same
  ratio under its earlier name.
- `sealed_registries`: registries whose newest snapshot here passes its seal and schema, of the
  repository's registries: the catalog's, less those adoption added to feed a builder
  (`in_scorecard: false`), plus those the catalog excludes (an external database has no
  snapshot): the seed's "Registries with Seals", 9 of 13 in its own scorecard. The snapshot is
  the newest that existed when the report was built, so the report itself and a registry built
  later in the same run count from their previous snapshot.
- `operations_with_builders`: operations built by a catalog registry that has a builder.
- `executables`: the files the operations catalog binds to operations (its Bound Executables),
  counted when the catalog names any: distinct paths, and canonical operations with at least one.

Each ratio is `{count, total, percent}` (percent to one decimal, null when total is 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHECKED_LEVELS = frozenset({"C3", "C4", "C5"})


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
class Scorecard:
    """The governance figures, computed from data."""

    sealed_registries: Ratio
    """Registries sealed here, of the repository's registries (excluded ones included)."""
    operations_with_builders: Ratio
    """Operations built by a catalog registry that has a builder, of all operations."""
    enforcement_c3_plus: Ratio
    """Canonical operations at coverage level C3 or above, of all canonical operations."""
    registries: tuple[dict[str, Any], ...]
    """Per registry counted: `{registry_id, sealed, run_id, reason}` (why not, in words)."""
    executables: dict[str, Any] | None
    """`{count, operations_bound}` from the catalog's Bound Executables; None without any."""

    def as_json(self) -> dict[str, Any]:
        """The summary's `scorecard` object."""
        return {
            "enforcement_c3_plus": self.enforcement_c3_plus.as_json(),
            "sealed_registries": {
                **self.sealed_registries.as_json(),
                "registries": list(self.registries),
            },
            "executables": self.executables,
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
    registries = _registries(catalog_summary, excluded)
    return Scorecard(
        sealed_registries=Ratio(sum(1 for r in registries if r["sealed"]), len(registries)),
        operations_with_builders=Ratio(
            sum(1 for row in op_status_rows if row.get("operation_id") in built_ops),
            len(op_status_rows),
        ),
        enforcement_c3_plus=Ratio(
            sum(1 for row in op_status_rows if row.get("coverage_level") in CHECKED_LEVELS),
            len(op_status_rows),
        ),
        registries=tuple(registries),
        executables=_executables(op_status_detail or {}),
    )


def _registries(
    catalog_summary: Sequence[Mapping[str, Any]], excluded: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    counted: list[dict[str, Any]] = []
    for entry in catalog_summary:
        if entry.get("in_scorecard") is False:
            continue
        status = entry.get("latest_status")
        sealed = status == "PASS"
        reason = None
        if not sealed:
            reason = (
                "no snapshot yet"
                if status in (None, "none")
                else f"its newest snapshot {entry.get('latest_run_id')} fails its seal or schema"
            )
        counted.append(
            {
                "registry_id": entry.get("registry_id"),
                "sealed": sealed,
                "run_id": entry.get("latest_run_id") if sealed else None,
                "reason": reason,
            }
        )
    counted.extend(
        {"registry_id": registry_id, "sealed": False, "run_id": None, "reason": f"excluded: {why}"}
        for registry_id, why in excluded
    )
    return counted


def _executables(detail: Mapping[str, Any]) -> dict[str, Any] | None:
    """Distinct bound executables, and canonical operations with one, from the status detail."""
    operations = [op for op in detail.get("operations", ()) if isinstance(op, Mapping)]
    bound = [op for op in operations if op.get("executables")]
    if not bound:
        return None
    paths = {path for op in bound for path in op["executables"] if isinstance(path, str)}
    canonical = [op for op in operations if op.get("canonical", True)]
    with_one = sum(1 for op in canonical if op.get("executables"))
    return {
        "count": len(paths),
        "operations_bound": Ratio(with_one, len(canonical)).as_json(),
    }
