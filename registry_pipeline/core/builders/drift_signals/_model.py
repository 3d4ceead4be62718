"""Drift signal values (snapshots, evidence, signals) and the two documents of one build."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.json_strict import dumps_pretty

V01_ARTIFACT = "DRIFT_SIGNALS_v0_1.json"
DETAIL_ARTIFACT = "DRIFT_SIGNALS_DETAIL_v0_2.json"
UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

KIND_SEVERITY: Mapping[str, str] = {
    "schema_version": "warning",
    "builder_version": "warning",
    "threshold_pack_version": "warning",
    "operation_stale": "warning",
    "run_folder_invalid": "critical",
    "run_folder_tampered": "critical",
    "run_folder_unsealed": "info",
    "active_snapshot_behind": "warning",
    "schema_changed": "warning",
}
"""Signal kinds in output order, with the severity each carries when its value is true."""


@dataclass(frozen=True)
class SnapshotRef:
    """A sealed snapshot of one registry, as a pointer or the run registry names it."""

    registry_id: str
    """The registry the snapshot belongs to."""
    run_id: str
    """Its run folder name."""
    manifest_sha256: str | None
    """The folder's ROOT_SHA256, when known."""
    created_utc: str
    """`created_utc` of its run.json; with run_id, the order of snapshots."""

    def evidence(self) -> Evidence:
        """This snapshot as an evidence ref."""
        return Evidence(self.run_id, self.registry_id, self.manifest_sha256)


@dataclass(frozen=True)
class Evidence:
    """A run folder that supports a signal's value."""

    run_id: str
    """The run folder name."""
    registry_id: str | None
    """The registry it belongs to, when its name or a pointer says so."""
    manifest_sha256: str | None
    """Its ROOT_SHA256, when known."""
    reason: str | None = None
    """Why it is cited (a seal reason code and path), when there is more to say."""

    def as_json(self) -> dict[str, Any]:
        """The `{run_id, registry_id, manifest_sha256[, reason]}` object of the detail file."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "registry_id": self.registry_id,
            "manifest_sha256": self.manifest_sha256,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class Signal:
    """One drift signal: a stable id, a tri-state value and the evidence behind it."""

    signal_id: str
    """Stable across builds, e.g. `builder_version:run_registry`."""
    kind: str
    """One of `KIND_SEVERITY`."""
    value: bool | None
    """True = drift, false = no drift, None = unknown (evidence missing)."""
    summary: str
    """One sentence saying what was compared and what was found."""
    evidence: tuple[Evidence, ...] = ()
    """Run folders behind the value."""

    @property
    def severity(self) -> str:
        """`info`, `warning` or `critical`, from the kind and the value (see module doc)."""
        weight = KIND_SEVERITY[self.kind]
        if self.value is True:
            return weight
        if self.value is None and weight == "critical":
            return "warning"
        return "info"

    def as_json(self) -> dict[str, Any]:
        """The signal as written in the detail file."""
        return {
            "signal_id": self.signal_id,
            "kind": self.kind,
            "severity": self.severity,
            "value": self.value,
            "summary": self.summary,
            "evidence": [item.as_json() for item in self.evidence],
        }


@dataclass(frozen=True)
class DriftResult:
    """Both drift documents of one build."""

    v01: Mapping[str, Any]
    """The `DRIFT_SIGNALS_v0_1.json` object (seed shape, no extra properties)."""
    signals: tuple[Signal, ...]
    """Every signal, in kind order then id order."""
    as_of: str
    """The moment the signals describe (`generated_utc` of both documents)."""

    def detail(self) -> dict[str, Any]:
        """The `DRIFT_SIGNALS_DETAIL_v0_2.json` object."""
        values = [signal.value for signal in self.signals]
        return {
            "detail_version": "0.2",
            "generated_utc": self.as_of,
            "counts": {
                "true": values.count(True),
                "false": values.count(False),
                "unknown": values.count(None),
            },
            "signals": [signal.as_json() for signal in self.signals],
        }

    def files(self) -> dict[str, bytes]:
        """Artifact name to bytes, in the house JSON style."""
        return {
            V01_ARTIFACT: dumps_pretty(dict(self.v01), sort_keys=False),
            DETAIL_ARTIFACT: dumps_pretty(self.detail(), sort_keys=False),
        }
