"""A log sealed from the workspace only grows: its previous sealed snapshot is an exact prefix.

The one function the log's blocking `append_only` check and the build's shortcut for unchanged
sources call. The previous snapshot is the active pointer's target (else the newest valid one),
as for every append-only source (`core.append_only.published_snapshot`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from registry_pipeline.core.append_only.governed import published_snapshot
from registry_pipeline.core.jsonl import PrefixBreak, first_break
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot


@dataclass(frozen=True)
class PrefixReport:
    """The previous snapshot a log was compared with, and where it stops being a prefix."""

    baseline: str | None
    """Its run id; None for a first snapshot."""
    broken: PrefixBreak | None = None

    @property
    def ok(self) -> bool:
        """Whether the previous log is an exact prefix (or there is none)."""
        return self.broken is None


def log_prefix(
    workspace: Workspace,
    spec: RegistrySpec,
    current: BinaryIO,
    schemas: SchemaCatalog,
    *,
    checked: str | None = None,
) -> PrefixReport:
    """Whether the previous sealed snapshot's primary artifact is a prefix of `current`
    (`checked`: the run id of the sealed snapshot `current` is, never its own baseline)."""
    folder = published_snapshot(workspace, spec, schemas, checked=checked)
    if folder is None:
        return PrefixReport(None)
    previous = _artifact(folder, spec)
    if previous is None:
        return PrefixReport(folder.name)
    with previous.open("rb") as old:
        return PrefixReport(folder.name, first_break(old, current))


def _artifact(folder: Path, spec: RegistrySpec) -> Path | None:
    payload = read_snapshot(folder, spec.registry_id).payload()
    return payload.get(spec.primary_artifact)
