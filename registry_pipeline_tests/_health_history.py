"""Two weeks of deterministic health report inputs that draw every series of every chart."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

REGISTRIES = (
    "run_registry", "expected_versions", "migration_ledger", "threshold_packs_file",
    "allowed_operations", "op_status_table", "drift_signals", "system_health_report",
    "rolepack", "run_index", "run_overrides", "registry_delta_log",
)  # fmt: skip
"""The demo catalog's registries in its (dependency) order."""
BUILT_DAILY = ("run_registry", "op_status_table", "drift_signals", "registry_delta_log")
FIRST_DAY = date(2026, 11, 9)
DAYS = 14
SIGNALS = 12


def _stamp(day: date, second: int) -> tuple[str, str]:
    """(run id stamp, created_utc) of a build on `day`, `second` seconds after 06:00."""
    hh, mm, ss = 6, second // 60, second % 60
    return (
        f"{day:%Y-%m-%d}__{hh:02d}{mm:02d}{ss:02d}",
        f"{day:%Y-%m-%d}T{hh:02d}:{mm:02d}:{ss:02d}Z",
    )


def _seal(index: int, registry_id: str) -> str:
    """A verdict for the day's folder of `registry_id`: mostly PASS, a few of each other kind."""
    if registry_id == "drift_signals" and index in (3, 4):
        return "seal:FAIL:SCHEMA_VIOLATION:DRIFT_SIGNALS_v0_1.json"
    if registry_id == "op_status_table" and index == 8:
        return "seal:TAMPERED"
    if registry_id == "registry_delta_log" and index % 5 == 2:
        return "seal:UNSEALED"
    return "seal:PASS"


def run_lines() -> list[dict[str, Any]]:
    """Run registry lines (with their `seal:` warnings) of fourteen days of builds."""
    lines = []
    for index in range(DAYS):
        day = FIRST_DAY + timedelta(days=index)
        daily = BUILT_DAILY + (("expected_versions", "rolepack") if index % 4 == 0 else ())
        for second, registry_id in enumerate(daily):
            stamp, created = _stamp(day, second)
            run_id = f"{stamp}__{registry_id}_build"
            lines.append(
                {
                    "run_id": run_id,
                    "run_key": f".codex/RUNS::{run_id}",
                    "created_utc": created,
                    "manifest_root_sha256": f"{index:02d}{second:02d}".ljust(64, "0"),
                    "warnings": [_seal(index, registry_id)],
                }
            )
    return lines


def drift_detail(index: int) -> dict[str, Any]:
    """The drift detail document of day `index`: unknowns resolve and drift comes and goes."""
    day = FIRST_DAY + timedelta(days=index)
    signals = []
    for number in range(SIGNALS):
        value: bool | None = False
        if number < max(0, 6 - index // 2):
            value = None  # history fills in: fewer unknowns each day
        elif number == 11 and 5 <= index <= 9:
            value = True
        signals.append(
            {
                "signal_id": f"signal_{number:02d}",
                "kind": "schema_version",
                "severity": "warning" if value else "info",
                "value": value,
                "summary": f"signal {number} on {day:%Y-%m-%d}",
            }
        )
    return {
        "detail_version": "0.2",
        "generated_utc": f"{day:%Y-%m-%d}T06:00:02Z",
        "signals": signals,
    }


def health_inputs() -> dict[str, Any]:
    """Keyword arguments of `build_system_health` for the fourteen days."""
    last = DAYS - 1
    latest = {"drift_signals": "FAIL", "system_health_report": "none"}
    return {
        "catalog_summary": [
            {
                "registry_id": registry_id,
                "kind": "built" if registry_id in BUILT_DAILY else "source",
                "has_builder": True,
                "latest_run_id": None,
                "latest_status": latest.get(registry_id, "PASS"),
            }
            for registry_id in REGISTRIES
        ],
        "op_status_rows": [
            {
                "operation_id": "OP-QA07",
                "operation_name": "run registry",
                "coverage_level": "C4",
                "last_run_id": None,
                "run_evidence_state": "OBSERVED",
                "staleness_days": 0,
                "op_drift": False,
            },
        ],
        "op_status_detail": {"operations": [{"operation_id": "OP-QA07", "status": "ok"}]},
        "drift_v01": {
            "system_drift": {"canon_dirty": False, "schema_drift": None, "threshold_drift": False}
        },
        "drift_detail": drift_detail(last),
        "drift_history": [drift_detail(index) for index in range(last)],
        "run_registry_lines": run_lines(),
        "as_of": f"{FIRST_DAY + timedelta(days=last):%Y-%m-%d}T06:00:05Z",
    }
