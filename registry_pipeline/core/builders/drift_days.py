"""Drift signals for a past day: computed from the snapshots active at the end of that day.

The pointer journal says which snapshot of each registry was active at any moment. Day D's
drift documents read the run registry, operation status table, expected versions and threshold
packs that were active at the end of D (23:59:59.999999 UTC) and judge staleness at
`D T23:59:59Z`. When the journal has no active snapshot of one of them then (no history yet, or
its folder is gone), every signal of the day is unknown, with the reason: never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from registry_pipeline.core.builders import drift_signals
from registry_pipeline.core.builders.adapters import (
    drift_build_result,
    drift_from_snapshots,
    drift_ref,
)
from registry_pipeline.core.builders.model import BuildResult
from registry_pipeline.core.pointers.journal import (
    JOURNAL_NAME,
    JournalFormatError,
    corrupt_journal,
    read_records,
)
from registry_pipeline.core.pointers.journal_replay import state_as_of
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import is_valid_run_folder
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, list_snapshots, read_snapshot

DAILY_REGISTRY_ID = "drift_signals_daily"
"""The registry id its run folders carry: `<time>__drift_signals_daily_build`."""
DAY_INPUTS = ("run_registry", "op_status_table", "expected_versions", "threshold_packs_file")


@dataclass(frozen=True)
class DayDrift:
    """Day D's documents and the snapshots they were computed from."""

    day: date
    result: BuildResult
    inputs: Mapping[str, Snapshot]
    """The active snapshot of each input at the end of the day (those that existed)."""
    missing: tuple[str, ...]
    """Inputs with no active snapshot then: every signal is unknown when this is not empty."""


def end_of_day(day: date) -> str:
    """The journal moment that closes `day` (its records carry microseconds)."""
    return f"{day.isoformat()}T23:59:59.999999Z"


def day_as_of(day: date) -> str:
    """The `as_of` of day D's documents (the drift builder's second-precision stamp)."""
    return f"{day.isoformat()}T23:59:59Z"


def build_drift_for_day(workspace: Workspace, day: date) -> DayDrift:
    """Day D's drift documents from the journal's state at the end of D."""
    moment = end_of_day(day)
    journal = workspace.root / ".codex" / JOURNAL_NAME
    try:
        state = state_as_of(read_records(journal), moment)
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
    missing = tuple(registry_id for registry_id in DAY_INPUTS if registry_id not in active)
    if missing:
        result = drift_signals.unknown_drift(
            as_of=day_as_of(day),
            reason=f"no active snapshot of {', '.join(missing)} at the end of {day.isoformat()} "
            "according to the pointer journal",
        )
    else:
        result = drift_from_snapshots(
            workspace,
            {registry_id: active[registry_id] for registry_id in DAY_INPUTS},
            active_snapshots={rid: drift_ref(snap) for rid, snap in sorted(active.items())},
            newest_valid_snapshots=_newest_valid_by(workspace, day_as_of(day)),
            as_of=day_as_of(day),
        )
    inputs = {rid: active[rid] for rid in DAY_INPUTS if rid in active}
    return DayDrift(day, drift_build_result(result), inputs, missing)


def _newest_valid_by(
    workspace: Workspace, moment: str
) -> dict[str, drift_signals.SnapshotRef | None]:
    """Per registry of the catalog, the newest snapshot created by `moment` that validates."""
    schemas = SchemaCatalog.for_workspace(workspace.root)
    refs: dict[str, drift_signals.SnapshotRef | None] = {}
    for spec in load_catalog(workspace).registries:
        refs[spec.registry_id] = None
        for snapshot in reversed(list_snapshots(workspace, spec.registry_id)):
            if (
                snapshot.created_utc
                and snapshot.created_utc <= moment
                and is_valid_run_folder(snapshot.path, schemas=schemas)
            ):
                refs[spec.registry_id] = drift_ref(snapshot)
                break
    return refs
