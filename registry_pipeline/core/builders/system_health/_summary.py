"""The JSON summary: seed-compatible operation counts and lists, our counts, and the scorecard."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.system_health._inputs import SEAL_STATUSES, _seal_counts
from registry_pipeline.core.builders.system_health._scorecard import CHECKED_LEVELS, Scorecard

OP_STATUSES = ("ok", "failing", "stale", "never_run", "unknown")
MAX_LIST = 20
"""Rows per category list in the summary, as in the seed system's summaries."""


def _summary(
    scorecard: Scorecard,
    catalog_summary: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    statuses: Mapping[str, str],
    unauthorized: Sequence[str],
    lines: Sequence[Mapping[str, Any]],
    signals: Sequence[Mapping[str, Any]],
    drift_v01: Mapping[str, Any],
    as_of: str,
) -> dict[str, Any]:
    """The JSON summary: seed-compatible operation counts, our counts, and the scorecard."""
    evidence = Counter(str(row.get("run_evidence_state")) for row in rows)
    by_status = Counter(statuses.get(str(row.get("operation_id")), "unknown") for row in rows)
    seals = _seal_counts(lines)
    values = [signal.get("value") for signal in signals]
    return {
        "summary_version": "0.1",
        "generated_utc": as_of,
        "counts": {
            "total_ops": len(rows),
            "observed": evidence["OBSERVED"],
            "stale": by_status["stale"],
            "drifting": sum(1 for row in rows if row.get("op_drift") is True),
            "legacy_only": evidence["LEGACY_ONLY"],
            "unobserved": evidence["UNOBSERVED"],
            "coverage_below_c3": sum(
                1 for row in rows if row.get("coverage_level") not in CHECKED_LEVELS
            ),
            "operations_by_status": {status: by_status[status] for status in OP_STATUSES},
            "unauthorized_ops": len(unauthorized),
            "registries": len(catalog_summary),
            "run_folders": len(lines),
            "run_folders_by_seal": {s: seals[s] for s in (*SEAL_STATUSES, "TAMPERED")},
            "drift_signals": {
                "true": values.count(True),
                "false": values.count(False),
                "unknown": values.count(None),
            },
        },
        "scorecard": scorecard.as_json(),
        "unauthorized_operations": list(unauthorized),
        "system_drift": dict(drift_v01.get("system_drift", {})),
        **_seed_lists(rows, statuses),
    }


def _seed_lists(rows: Sequence[Mapping[str, Any]], statuses: Mapping[str, str]) -> dict[str, Any]:
    """The seed system's per-category lists of operation rows (at most MAX_LIST each)."""

    def status_of(row: Mapping[str, Any]) -> str:
        return statuses.get(str(row.get("operation_id")), "unknown")

    categories = {
        "observed": [r for r in rows if r.get("run_evidence_state") == "OBSERVED"],
        "stale": [r for r in rows if status_of(r) == "stale"],
        "legacy_only": [r for r in rows if r.get("run_evidence_state") == "LEGACY_ONLY"],
        "unobserved": [r for r in rows if r.get("run_evidence_state") == "UNOBSERVED"],
        "coverage_below_c3": [r for r in rows if r.get("coverage_level") not in CHECKED_LEVELS],
        "drifting": [r for r in rows if r.get("op_drift") is True],
    }
    lists: dict[str, Any] = {"max_list": MAX_LIST}
    for name, members in categories.items():
        lists[name] = [dict(row) for row in members[:MAX_LIST]]
    lists["drifting_ops"] = lists["drifting"]
    lists["truncated"] = {name: len(m) > MAX_LIST for name, m in categories.items()}
    return lists
