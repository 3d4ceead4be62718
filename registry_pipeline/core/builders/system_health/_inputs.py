"""What the report reads from its inputs: operation statuses, unauthorized ids, seals, limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.drift_signals import seal_status

SEAL_STATUSES = ("PASS", "FAIL", "TAMPERED", "UNSEALED", "unknown")


def _stale_threshold_days(detail: Mapping[str, Any]) -> int | None:
    """The strictest staleness limit of any operation, in whole days (the seed's single figure)."""
    raw = detail.get("operations", ())
    entries = raw.values() if isinstance(raw, Mapping) else raw
    hours: list[float] = []
    for entry in entries:
        value = entry.get("stale_after_hours") if isinstance(entry, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            hours.append(float(value))
    return int(min(hours) // 24) if hours else None


def operation_statuses(detail: Mapping[str, Any]) -> dict[str, str]:
    """Operation id to status from the status detail (a list or a mapping of operations)."""
    raw = detail.get("operations", ())
    entries = (
        [{"operation_id": key, **value} for key, value in raw.items()]
        if isinstance(raw, Mapping)
        else [entry for entry in raw if isinstance(entry, Mapping)]
    )
    return {str(entry.get("operation_id")): _status(entry.get("status")) for entry in entries}


def _status(value: Any) -> str:
    """An operation's status; `unknown` when the detail records none (never the text `None`)."""
    return value if isinstance(value, str) and value else "unknown"


def unauthorized_operations(detail: Mapping[str, Any]) -> list[str]:
    """Sorted ids of operations seen in runs but absent from the operations catalog."""
    ids = {
        str(item.get("operation_id")) if isinstance(item, Mapping) else str(item)
        for item in detail.get("unauthorized", ())
    }
    return sorted(ids)


def _seal_counts(lines: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """Run folders per seal status (`unknown` when a line records none)."""
    return Counter(seal_status(line.get("warnings", ()))[0] or "unknown" for line in lines)
