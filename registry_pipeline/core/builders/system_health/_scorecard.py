"""The governance scorecard: three ratios computed from the catalog summary and the status rows."""

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

    def __str__(self) -> str:
        return f"{self.count}/{self.total}"

    def as_json(self) -> dict[str, int]:
        """`{"count": x, "total": y}`."""
        return {"count": self.count, "total": self.total}


@dataclass(frozen=True)
class Scorecard:
    """The governance figures, computed from data."""

    sealed_registries: Ratio
    """Registries whose latest snapshot validates, of all registries in the catalog."""
    operations_with_builders: Ratio
    """Operations built by a catalog registry that has a builder, of all operations."""
    check_coverage: Ratio
    """Operations at coverage level C3 or above, of all operations."""


def compute_scorecard(
    catalog_summary: Sequence[Mapping[str, Any]], op_status_rows: Sequence[Mapping[str, Any]]
) -> Scorecard:
    """The three governance ratios (see module doc)."""
    built_ops = {
        entry.get("operation_id")
        for entry in catalog_summary
        if entry.get("has_builder") is True and entry.get("operation_id")
    }
    return Scorecard(
        sealed_registries=Ratio(
            sum(1 for entry in catalog_summary if entry.get("latest_status") == "PASS"),
            len(catalog_summary),
        ),
        operations_with_builders=Ratio(
            sum(1 for row in op_status_rows if row.get("operation_id") in built_ops),
            len(op_status_rows),
        ),
        check_coverage=Ratio(
            sum(1 for row in op_status_rows if row.get("coverage_level") in CHECKED_LEVELS),
            len(op_status_rows),
        ),
    )
