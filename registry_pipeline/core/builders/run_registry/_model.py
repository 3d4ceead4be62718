"""The run registry's artifact names, verdict vocabulary, and the values a build returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGISTRY_ARTIFACT = "RUN_REGISTRY_v0_1.jsonl"
SEAL_STATUS_ARTIFACT = "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl"
PASS, FAIL, UNSEALED = "PASS", "FAIL", "UNSEALED"
HASHED, REUSED, NONE = "hashed", "reused", "none"


@dataclass(frozen=True)
class RunRoot:
    """A folder whose direct subfolders are run folders."""

    label: str
    """Workspace-relative POSIX path, e.g. `.codex/RUNS`: the `run_root` of its records."""
    path: Path
    """Where it is on disk."""


@dataclass(frozen=True)
class FolderRecord:
    """One folder's v0.1 line and its companion seal-status line (dicts in their field order)."""

    line: dict[str, Any]
    """The v0.1 registry line."""
    status: dict[str, Any]
    """The companion seal-status line."""


@dataclass(frozen=True)
class RunRegistryStats:
    """Counts for one build, plus warnings about the roots themselves (not an artifact)."""

    folders: int = 0
    hashed: int = 0
    reused: int = 0
    failed: int = 0
    tampered: int = 0
    unsealed: int = 0
    warnings: tuple[str, ...] = ()
    """e.g. `root:MISSING:reports/runs`."""

    def as_json(self) -> dict[str, object]:
        """The stats as a JSON-ready object (materialization metadata, `--json` output)."""
        return {
            "folders": self.folders,
            "hashed": self.hashed,
            "reused": self.reused,
            "failed": self.failed,
            "tampered": self.tampered,
            "unsealed": self.unsealed,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class RunRegistryResult:
    """The two artifacts, byte for byte, and the build's stats."""

    registry_jsonl: bytes
    """`RUN_REGISTRY_v0_1.jsonl`."""
    seal_status_jsonl: bytes
    """`RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl`."""
    stats: RunRegistryStats

    @property
    def artifacts(self) -> dict[str, bytes]:
        """Artifact name to bytes, ready for `seal_files`."""
        return {
            REGISTRY_ARTIFACT: self.registry_jsonl,
            SEAL_STATUS_ARTIFACT: self.seal_status_jsonl,
        }
