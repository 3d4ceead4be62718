"""The seed-shaped `DRIFT_SIGNALS_v0_1.json` object, built from the signals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.drift_signals._model import DETAIL_ARTIFACT, Signal

POLICY_RULES = (
    "a signal is true only when sealed evidence shows the drift, false only when evidence shows"
    " none, and null when the evidence needed to decide is missing",
    "operation_stale follows the operation status table: true for status stale, false for ok;"
    " a failing operation is judged by the age of its last success; null for never_run or when"
    " no threshold pack sets stale_after_hours",
    "run folder signals read the seal status the run registry records for every folder",
    "active_snapshot_behind stays null until pointer history exists for the registry",
    "details and evidence refs: DRIFT_SIGNALS_DETAIL_v0_2.json in the same run folder",
    "canon_state is the working tree's state less the registry layer's own files (the pointer"
    " file, its journal, receipts, sealed folders, the tool's .codex state): clean, dirty, or"
    " unknown when git could not say (git_commit null); canon_dirty is true unless it is clean",
)

CANON_UNKNOWN = (
    "git state unknown (git_commit null): git is not on PATH, the workspace is not inside a git"
    " work tree, or git did not answer; the working tree is not known to be clean"
)
"""What an unknown canon state means, said wherever it shows (the build's output, the report)."""


def canon_state(working_tree_state: str | None) -> str:
    """`clean` or `dirty` as git said, else `unknown` (never taken for clean)."""
    return working_tree_state if working_tree_state in ("clean", "dirty") else "unknown"


def canon_notes(v01: Mapping[str, Any]) -> list[str]:
    """The note a person needs about the canon state of a v0.1 drift object: its meaning when it
    is unknown; none otherwise (nor for one sealed before `canon_state` existed)."""
    flags = v01.get("system_drift")
    unknown = isinstance(flags, Mapping) and flags.get("canon_state") == "unknown"
    return [CANON_UNKNOWN] if unknown else []


def _aggregate(values: Iterable[bool | None]) -> bool | None:
    """True if any is true; false if there are some and all are false; else unknown."""
    seen = list(values)
    if True in seen:
        return True
    if seen and None not in seen:
        return False
    return None


def _v01_object(
    *,
    signals: Sequence[Signal],
    expected: Mapping[str, Any],
    observed_schema_versions: Mapping[str, str | None],
    observed_threshold_pack_version: str | None,
    source: str,
    canon_tree_hash: str,
    git: tuple[str | None, str | None],
    as_of: str,
) -> dict[str, Any]:
    """The seed-shaped v0.1 object; every fact beyond its shape goes into `warnings`."""
    schema_drift = _aggregate(s.value for s in signals if s.kind == "schema_version")
    threshold = next(s for s in signals if s.kind == "threshold_pack_version")
    canon = canon_state(git[1])
    return {
        "drift_version": "0.1",
        "expected_versions_source": source,
        "generated_utc": as_of,
        "git_commit": git[0],
        "working_tree_state": git[1],
        "canon_tree_hash": canon_tree_hash,
        "expected": {
            "schema_version": {
                "expected": expected.get("schema_version"),
                "computed": schema_drift is not None,
                "observed": dict(sorted(observed_schema_versions.items())),
                "drift": schema_drift,
                "source_path": source,
            },
            "threshold_pack": {
                "expected": expected.get("threshold_pack_version"),
                "computed": threshold.value is not None,
                "observed": observed_threshold_pack_version,
                "drift": threshold.value,
                "source_path": source,
            },
        },
        "system_drift": {
            "canon_dirty": canon != "clean",
            "canon_state": canon,
            "schema_drift": schema_drift,
            "threshold_drift": threshold.value,
            "threshold_drift_computed": threshold.value is not None,
        },
        "op_drift_policy": {"op_drift_requires_evidence": True, "rules": list(POLICY_RULES)},
        "warnings": _v01_warnings(expected, signals, canon),
    }


def _v01_warnings(expected: Mapping[str, Any], signals: Sequence[Signal], canon: str) -> list[str]:
    """Null expectations, an unknown canon state, then every signal that is not false, as
    `<signal_id>:true|unknown`."""
    warnings = [
        f"expected_{key}_null"
        for key in ("schema_version", "threshold_pack_version")
        if expected.get(key) is None
    ]
    if canon == "unknown":
        warnings.append("canon_state:unknown")
    warnings.extend(
        f"{signal.signal_id}:{'true' if signal.value else 'unknown'}"
        for signal in signals
        if signal.value is not False
    )
    warnings.append(f"detail:{DETAIL_ARTIFACT}")
    return warnings
