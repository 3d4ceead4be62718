"""Drift signals for a past day D, from the inputs active at D's end; see docs/ASSET_GRAPH.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from registry_pipeline.core.builders import drift_signals
from registry_pipeline.core.builders.drift_signals import drift_from_snapshots
from registry_pipeline.core.builders.model import BuildResult
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.checks import SCHEMA_VALID, SEAL_VALID
from registry_pipeline.core.gate.receipts import failed_before
from registry_pipeline.core.pointers.journal import (
    JournalFormatError,
    corrupt_journal,
    read_records,
    state_as_of,
)
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import is_valid_run_folder
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import (
    Snapshot,
    list_snapshots,
    read_snapshot,
    unchanged_snapshot,
)

DAILY_REGISTRY_ID = "drift_signals_daily"
"""The registry id its run folders carry: `<time>__drift_signals_daily_build`."""
DAY_INPUTS = ("run_registry", "op_status_table", "expected_versions", "threshold_packs_file")
DAILY_CHECKS = (SEAL_VALID, SCHEMA_VALID)
"""The blocking checks of every day's folder: the asset's, and those `reusable_day` runs."""


@dataclass(frozen=True)
class DayDrift:
    """Day D's documents and the snapshots they were computed from."""

    day: date
    result: BuildResult
    inputs: Mapping[str, Snapshot]
    missing: tuple[str, ...]
    """Inputs with no active snapshot then: every signal is unknown when this is not empty."""

    def counts(self) -> dict[str, int]:
        """Signals by value (`true`, `false`, `unknown`), whatever else the summary says."""
        summary = self.result.summary.items()
        return {k: v for k, v in summary if isinstance(v, int) and not isinstance(v, bool)}


def build_drift_for_day(workspace: Workspace, day: date) -> DayDrift:
    """Day D's drift documents from the journal's state at the end of D."""
    journal = workspace.root / ".codex" / JOURNAL_NAME
    as_of = f"{day.isoformat()}T23:59:59Z"  # the drift builder's second-precision stamp
    try:  # the journal's moment that closes the day (its records carry microseconds)
        state = state_as_of(read_records(journal), f"{day.isoformat()}T23:59:59.999999Z")
    except JournalFormatError as exc:
        raise corrupt_journal(journal, exc) from None
    active: dict[str, Snapshot] = {}
    for registry_id, record in state.items():
        ref = record.to_ref
        if ref is None:
            continue  # an aborted first promotion: no pointer then
        folder = workspace.runs_dir / str(ref.run_id)
        if folder.is_dir():
            snapshot = read_snapshot(folder, registry_id)
            if snapshot.root_sha256 == ref.manifest_sha256:
                active[registry_id] = snapshot
    inputs = {rid: active[rid] for rid in DAY_INPUTS if rid in active}
    missing = tuple(registry_id for registry_id in DAY_INPUTS if registry_id not in active)
    if missing:
        result = drift_signals.build_drift_signals(
            as_of=as_of,
            unknown=f"no active snapshot of {', '.join(missing)} at the end of {day.isoformat()} "
            "according to the pointer journal",
        )
    else:
        result = drift_from_snapshots(
            workspace,
            inputs,
            active_snapshots=dict(sorted(active.items())),
            newest_valid_snapshots=_newest_valid_by(workspace, as_of),
            as_of=as_of,
        )
    return DayDrift(day, result, inputs, missing)


def sealed_day(workspace: Workspace, drift: DayDrift) -> Snapshot | None:
    """The newest sealed folder with exactly `drift`'s files and inputs, its checks not failed."""
    schemas = SchemaCatalog.for_workspace(workspace.root)
    inputs = [snapshot.ref().as_json() for snapshot in drift.inputs.values()]
    for snapshot in reversed(list_snapshots(workspace, DAILY_REGISTRY_ID)):
        if snapshot.envelope().get("inputs") != inputs or failed_before(workspace, snapshot):
            continue
        if unchanged_snapshot(snapshot.path, drift.result.files, schemas)[0]:
            return snapshot
    return None


def reusable_day(workspace: Workspace, day: date) -> tuple[DayDrift, Snapshot] | None:
    """Day D's drift and the sealed folder its run would reuse if it passes DAILY_CHECKS now."""
    try:
        drift = build_drift_for_day(workspace, day)
        snapshot = sealed_day(workspace, drift)
        if snapshot is None:
            return None
        verdicts = [
            check.run(snapshot.path, workspace, DAILY_REGISTRY_ID) for check in DAILY_CHECKS
        ]
    except (RegistryError, OSError):
        return None
    return (drift, snapshot) if all(v.passed for v in verdicts) else None


def _newest_valid_by(workspace: Workspace, moment: str) -> dict[str, Snapshot | None]:
    """Per registry of the catalog, the newest snapshot created by `moment` that validates."""
    schemas = SchemaCatalog.for_workspace(workspace.root)
    refs: dict[str, Snapshot | None] = {}
    for spec in load_catalog(workspace).registries:
        refs[spec.registry_id] = None
        for snapshot in reversed(list_snapshots(workspace, spec.registry_id)):
            if (
                snapshot.created_utc
                and snapshot.second <= moment
                and is_valid_run_folder(snapshot.path, schemas=schemas)
            ):
                refs[spec.registry_id] = snapshot
                break
    return refs
