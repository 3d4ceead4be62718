"""What the report reads from its inputs: operation statuses, unauthorized ids, seals, limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.run_registry import seal_status, tampered
from registry_pipeline.core.seal.verdicts import VERDICTS, tally

SEAL_STATUSES = (*VERDICTS, "unknown")
"""The report's run folders by verdict (`registry validate`'s words; `unknown`: a line that
records none): each folder counted once."""


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


def _seal_counts(lines: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Run folders per verdict, counted as `registry validate` counts them (`tally`), `unknown`
    when a line records none, and `TAMPERED`: how many of them changed after they were indexed
    as sealed (within their verdict, not beside it)."""
    verdicts = [seal_status(line.get("warnings", ()))[0] for line in lines]
    counts = tally(verdict for verdict in verdicts if verdict is not None)
    return {
        **counts,
        "unknown": verdicts.count(None),
        "TAMPERED": sum(1 for line in lines if tampered(line.get("warnings", ()))),
    }
