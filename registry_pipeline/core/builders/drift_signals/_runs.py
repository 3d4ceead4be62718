"""Signals read from the run evidence: stale operations; invalid, tampered or unsealed folders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from registry_pipeline.core.builders.drift_signals._model import UTC_STAMP, Evidence, Signal
from registry_pipeline.core.builders.run_registry import seal_status, tampered
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.seal.verdicts import FAIL, UNSEALED


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
        bound = f"stale after {limit} hours" if limit is not None else "no staleness limit"
        summary = f"{op_id}: status {entry.get('status') or 'unknown'}, {bound}"
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


_FOLDER_KINDS = (
    ("run_folder_invalid", "invalid", FAIL, "failed seal validation"),
    ("run_folder_tampered", "tampered", "TAMPERED", "changed after being indexed as sealed"),
    ("run_folder_unsealed", "unsealed", UNSEALED, "were never sealed"),
)


def _run_folder_signals(lines: Sequence[Mapping[str, Any]]) -> list[Signal]:
    """Invalid (FAIL: not an intact older format, not converted line endings), tampered and
    unsealed run folders, from the verdict of every indexed folder."""
    statuses = []
    for line in lines:
        warnings = tuple(line.get("warnings", ()))
        verdict, reasons = seal_status(warnings)
        statuses.append((line, verdict, "TAMPERED" if tampered(warnings) else None, reasons))
    unknown = sum(1 for _, verdict, _, _ in statuses if verdict is None)
    signals = []
    for kind, suffix, wanted, meaning in _FOLDER_KINDS:
        hits = [
            Evidence(
                str(line.get("run_id")),
                registry_of(str(line.get("run_id"))),
                line.get("manifest_root_sha256"),
                "; ".join(reasons) or None,
            )
            for line, verdict, flag, reasons in statuses
            if wanted in (verdict, flag)
        ]
        hits.sort(key=lambda item: (item.run_id, item.manifest_sha256 or ""))
        value: bool | None = True if hits else (None if unknown else False)
        summary = (
            f"{len(hits)} of {len(lines)} run folders {meaning}"
            f" ({unknown} without a recorded seal status)"
        )
        signals.append(Signal(f"run_folders:{suffix}", kind, value, summary, tuple(hits)))
    return signals
