"""The delta record (one JSONL line, exactly the seed's shape) and the sealed ref it names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from registry_pipeline.core.workspace.layout import RUNS_RELPATH

DELTA_VERSION = "0.1"
LOG_REGISTRY_ID = "registry_delta_log"
LOG_ARTIFACT = "REGISTRY_DELTA_LOG_v0_1.jsonl"
STATE_ARTIFACT = "REGISTRY_DELTA_LOG_STATE_v0_2.json"
MANIFEST_DIFF: Literal["manifest_diff"] = "manifest_diff"
UNKNOWN: Literal["unknown"] = "unknown"
DeltaBasis = Literal["manifest_diff", "unknown"]
"""`manifest_diff`: both manifests validate and were compared; `unknown`: never a guess."""

RECORD_KEYS = (
    "delta_version",
    "registry_id",
    "from_ref",
    "to_ref",
    "delta_basis",
    "added_paths",
    "removed_paths",
    "modified_paths",
    "counts",
    "created_utc",
    "derivation_run_id",
)
"""The record's keys in the seed's order (its sealed example log)."""
REF_KEYS = ("run_id", "run_root", "relpath", "manifest_sha256")
COUNT_KEYS = ("added", "removed", "modified")

_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)
_RUN_ID_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})__(\d{2})(\d{2})(\d{2})__", re.ASCII)


@dataclass(frozen=True, slots=True)
class SealedLogRef:
    """A sealed snapshot as a delta record names it (the seed's `sealed_ref`)."""

    run_id: str
    """The run folder's name."""
    run_root: str
    """Workspace-relative folder holding it, `.codex/RUNS`."""
    relpath: str | None
    """The registry's primary artifact inside the folder; None for a multi-file snapshot."""
    manifest_sha256: str
    """The folder's ROOT_SHA256 when the record was written."""

    def as_json(self) -> dict[str, Any]:
        """The ref object, keys in the seed's order."""
        return {
            "run_id": self.run_id,
            "run_root": self.run_root,
            "relpath": self.relpath,
            "manifest_sha256": self.manifest_sha256,
        }

    def __str__(self) -> str:
        return f"{self.run_id} sha256:{self.manifest_sha256}"


def ref_of(run_id: str, root_sha256: str, relpath: str | None) -> SealedLogRef:
    """The ref of a snapshot of ours (under `.codex/RUNS`)."""
    return SealedLogRef(run_id, RUNS_RELPATH, relpath, root_sha256)


@dataclass(frozen=True, slots=True)
class DeltaRecord:
    """What changed in one registry between two sealed snapshots (or at its first one)."""

    registry_id: str
    """The registry tracked."""
    from_ref: SealedLogRef | None
    """The previous snapshot; None for the bootstrap record of a registry."""
    to_ref: SealedLogRef
    """The snapshot this record reaches."""
    delta_basis: DeltaBasis
    """`manifest_diff`, or `unknown` (then every path list is empty and every count 0)."""
    added_paths: tuple[str, ...]
    """Listed in to_ref's manifest.json only, sorted."""
    removed_paths: tuple[str, ...]
    """Listed in from_ref's manifest.json only, sorted."""
    modified_paths: tuple[str, ...]
    """Listed in both with a different sha256, sorted."""
    created_utc: str
    """to_ref's run.json created_utc as `YYYY-MM-DDTHH:MM:SSZ` (deterministic, not the clock)."""
    derivation_run_id: str
    """The run id of the delta-log build that appended this record."""
    delta_version: str = DELTA_VERSION
    """Always "0.1"."""

    @property
    def counts(self) -> dict[str, int]:
        """`{added, removed, modified}`: the lengths of the three path lists."""
        return {
            "added": len(self.added_paths),
            "removed": len(self.removed_paths),
            "modified": len(self.modified_paths),
        }

    def as_json(self) -> dict[str, Any]:
        """The record object, keys in the seed's order."""
        return {
            "delta_version": self.delta_version,
            "registry_id": self.registry_id,
            "from_ref": self.from_ref.as_json() if self.from_ref else None,
            "to_ref": self.to_ref.as_json(),
            "delta_basis": self.delta_basis,
            "added_paths": list(self.added_paths),
            "removed_paths": list(self.removed_paths),
            "modified_paths": list(self.modified_paths),
            "counts": self.counts,
            "created_utc": self.created_utc,
            "derivation_run_id": self.derivation_run_id,
        }

    def line(self) -> bytes:
        """The JSONL line: compact UTF-8 JSON in the seed's key order, ending with a newline."""
        text = json.dumps(
            self.as_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8") + b"\n"

    def __str__(self) -> str:
        start = self.from_ref.run_id if self.from_ref else "(bootstrap)"
        return f"{self.registry_id}: {start} -> {self.to_ref.run_id} ({self.delta_basis})"


def normalize_created_utc(value: object) -> str | None:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC, fractions dropped; None when `value` is no timestamp.

    A timestamp without an offset is taken as UTC (run.json's `created_utc` is UTC by name).
    """
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    day, clock, offset = match.groups()
    if offset in (None, "Z", "+00:00", "+0000", "-00:00", "-0000"):
        text = f"{day}T{clock}Z"
        return text if _parses(text) else None
    sign = offset[0]
    digits = offset[1:].replace(":", "")
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{sign}{digits[:2]}:{digits[2:]}")
    except ValueError:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def created_from_run_id(run_id: str) -> str | None:
    """The creation second our run ids encode (`2026-02-05__031005__...`), when they do."""
    match = _RUN_ID_STAMP.match(run_id)
    if match is None:
        return None
    day, hours, minutes, seconds = match.groups()
    text = f"{day}T{hours}:{minutes}:{seconds}Z"
    return text if _parses(text) else None


def _parses(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True
