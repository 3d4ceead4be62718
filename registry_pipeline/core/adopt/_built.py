"""The registries our builders build, as adoption declares them in an adopted catalog."""

from __future__ import annotations

from dataclasses import dataclass

OPERATIONS_ID = "allowed_operations"
THRESHOLD_PACKS = "threshold_packs_file"


@dataclass(frozen=True)
class Built:
    """What one of our builders makes: its kind, artifacts, inputs, operation and pointer."""

    kind: str
    artifacts: tuple[str, ...]
    depends_on: tuple[str, ...]
    operation_id: str
    active_pointer: bool
    delta_reason: str | None = None


BUILT: dict[str, Built] = {
    "run_registry": Built(
        "built", ("RUN_REGISTRY_v0_1.jsonl", "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl"), (),
        "OP-QA07", True,
    ),
    "op_status_table": Built(
        "built", ("OPERATION_STATUS_TABLE_v0_1.json", "OPERATION_STATUS_DETAIL_v0_2.json"),
        ("run_registry", OPERATIONS_ID, THRESHOLD_PACKS), "OP-QA08", True,
    ),
    "drift_signals": Built(
        "built", ("DRIFT_SIGNALS_v0_1.json", "DRIFT_SIGNALS_DETAIL_v0_2.json"),
        ("op_status_table", "run_registry", "expected_versions", THRESHOLD_PACKS), "OP-QA09",
        True,
    ),
    "system_health_report": Built(
        "presentation",
        ("SYSTEM_HEALTH_REPORT_v0_1.md", "SYSTEM_HEALTH_SUMMARY_v0_1.json",
         "SYSTEM_HEALTH_REPORT_v0_1.html"),
        ("op_status_table", "drift_signals", "run_registry"), "OP-QA10", False,
        "presentation-only: no active pointer, no meaningful delta semantics",
    ),
    "registry_delta_log": Built(
        "log", ("REGISTRY_DELTA_LOG_v0_1.jsonl", "REGISTRY_DELTA_LOG_STATE_v0_2.json"), (),
        "OP-QA11", False, "the log itself: it records the other registries' transitions",
    ),
}  # fmt: skip
"""What each of our builders produces and reads (the demo catalog's built entries say the same;
a test holds them together)."""
