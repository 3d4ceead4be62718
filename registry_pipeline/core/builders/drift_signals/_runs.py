"""Signals read from the run evidence: stale operations; invalid, tampered or unsealed folders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from registry_pipeline.core.builders.drift_signals._model import UTC_STAMP, Evidence, Signal
from registry_pipeline.core.seal.run_id import registry_of


def _operations(detail: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Per-operation entries of the status detail (a list, or a mapping keyed by operation id)."""
    raw = detail.get("operations", ())
    if isinstance(raw, Mapping):
        return [{"operation_id": key, **value} for key, value in raw.items()]
    return [entry for entry in raw if isinstance(entry, Mapping)]


def _stale_signals(
    detail: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], as_of: str
) -> list[Signal]:
    """One signal per catalogued operation: stale beyond its threshold pack, or not."""
    roots: dict[str, Any] = {}
    for line in lines:
        roots[str(line.get("run_key"))] = line.get("manifest_root_sha256")
        roots.setdefault(str(line.get("run_id")), line.get("manifest_root_sha256"))
    signals = []
    for entry in sorted(_operations(detail), key=lambda e: str(e.get("operation_id"))):
        op_id = str(entry.get("operation_id"))
        limit = entry.get("stale_after_hours")
        value = _staleness(entry, as_of)
        summary = f"{op_id}: status {entry.get('status')}, stale after {limit} hours"
        last = entry.get("last_run_id")
        root = roots.get(str(entry.get("last_run_key")), roots.get(str(last)))
        evidence = (Evidence(str(last), registry_of(str(last)), root),) if last else ()
        signals.append(
            Signal(f"operation_stale:{op_id}", "operation_stale", value, summary, evidence)
        )
    return signals


def _staleness(entry: Mapping[str, Any], as_of: str) -> bool | None:
    """Stale or not, from the operation's status; a failing one is judged by its last success."""
    status, limit = entry.get("status"), entry.get("stale_after_hours")
    if status == "stale":
        return True
    if limit is None or status not in ("ok", "failing"):
        return None
    if status == "ok":
        return False
    success = entry.get("last_success_utc")
    if success is None:
        return True
    if not isinstance(success, str) or not UTC_STAMP.fullmatch(success):
        return None
    return _hours_between(success, as_of) > float(limit)


def _hours_between(earlier: str, later: str) -> float:
    """Hours from one UTC stamp to another."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    delta = datetime.strptime(later, fmt) - datetime.strptime(earlier, fmt)
    return delta.total_seconds() / 3600


def seal_status(warnings: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
    """(PASS | FAIL | UNSEALED | TAMPERED | None, FAIL reasons) from a run registry line's warnings.

    TAMPERED wins over FAIL, FAIL over UNSEALED, UNSEALED over PASS; None when no `seal:` warning.
    """
    found: set[str] = set()
    reasons: list[str] = []
    for warning in warnings:
        if not warning.startswith("seal:"):
            continue
        status, _, rest = warning[len("seal:") :].partition(":")
        found.add(status)
        if status == "FAIL" and rest:
            reasons.append(rest)
    for status in ("TAMPERED", "FAIL", "UNSEALED", "PASS"):
        if status in found:
            return status, tuple(reasons)
    return None, ()


_FOLDER_KINDS = (
    ("run_folder_invalid", "invalid", "FAIL", "failed seal validation"),
    ("run_folder_tampered", "tampered", "TAMPERED", "changed after being indexed as sealed"),
    ("run_folder_unsealed", "unsealed", "UNSEALED", "were never sealed"),
)


def _run_folder_signals(lines: Sequence[Mapping[str, Any]]) -> list[Signal]:
    """Invalid, tampered and unsealed run folders, from the seal status of every indexed folder."""
    statuses = [(line, *seal_status(line.get("warnings", ()))) for line in lines]
    unknown = sum(1 for _, status, _ in statuses if status is None)
    signals = []
    for kind, suffix, wanted, meaning in _FOLDER_KINDS:
        hits = [
            Evidence(
                str(line.get("run_id")),
                registry_of(str(line.get("run_id"))),
                line.get("manifest_root_sha256"),
                "; ".join(reasons) or None,
            )
            for line, status, reasons in statuses
            if status == wanted
        ]
        hits.sort(key=lambda item: (item.run_id, item.manifest_sha256 or ""))
        value: bool | None = True if hits else (None if unknown else False)
        summary = (
            f"{len(hits)} of {len(lines)} run folders {meaning}"
            f" ({unknown} without a recorded seal status)"
        )
        signals.append(Signal(f"run_folders:{suffix}", kind, value, summary, tuple(hits)))
    return signals
