"""Drift signals for a past day: computed from the snapshots active at the end of that day.

The pointer journal says which snapshot of each registry was active at any moment. Day D's
drift documents read the run registry, operation status table, expected versions and threshold
packs that were active at the end of D (23:59:59.999999 UTC) and judge staleness at
`D T23:59:59Z`. When the journal has no active snapshot of one of them then (no history yet, or
its folder is gone), every signal of the day is unknown, with the reason: never a guess.

A day computed again with nothing changed reuses its sealed folder (`sealed_day`, the asset's
rule); `reusable_day` says, before any Dagster run, whether running the day would do exactly
that and pass its checks (`DAILY_CHECKS`, evaluated now by the functions the run evaluates):
a backfill reports such a day REUSED without running it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from registry_pipeline.core.builders import drift_signals
from registry_pipeline.core.builders.drift_signals import drift_build_result, drift_from_snapshots
from registry_pipeline.core.builders.model import BuildResult
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.checks import SCHEMA_VALID, SEAL_VALID
from registry_pipeline.core.gate.receipts import failed_before
from registry_pipeline.core.pointers.journal import (
    JOURNAL_NAME,
    JournalFormatError,
    corrupt_journal,
    read_records,
    state_as_of,
)
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
    """The active snapshot of each input at the end of the day (those that existed)."""
    missing: tuple[str, ...]
    """Inputs with no active snapshot then: every signal is unknown when this is not empty."""

    def counts(self) -> dict[str, int]:
        """Signals by value (`true`, `false`, `unknown`): the day's `signals_*` metadata and
        what a backfill prints, whatever else the builder's summary says."""
        summary = self.result.summary.items()
        return {k: v for k, v in summary if isinstance(v, int) and not isinstance(v, bool)}

    def input_refs(self) -> list[dict[str, Any]]:
        """The sealed refs of the inputs, as a day folder's run.json records them."""
        return [snapshot.ref().as_json() for snapshot in self.inputs.values()]


@dataclass(frozen=True)
class ReusedDay:
    """A day whose run would reuse a sealed folder and pass its checks."""

    drift: DayDrift
    """The day computed now (its signals are the folder's)."""
    snapshot: Snapshot
    """The sealed folder it reuses."""


def day_as_of(day: date) -> str:
    """The `as_of` of day D's documents (the drift builder's second-precision stamp)."""
    return f"{day.isoformat()}T23:59:59Z"


def build_drift_for_day(workspace: Workspace, day: date) -> DayDrift:
    """Day D's drift documents from the journal's state at the end of D."""
    journal = workspace.root / ".codex" / JOURNAL_NAME
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
        result = drift_signals.unknown_drift(
            as_of=day_as_of(day),
            reason=f"no active snapshot of {', '.join(missing)} at the end of {day.isoformat()} "
            "according to the pointer journal",
        )
    else:
        result = drift_from_snapshots(
            workspace,
            inputs,
            active_snapshots=dict(sorted(active.items())),
            newest_valid_snapshots=_newest_valid_by(workspace, day_as_of(day)),
            as_of=day_as_of(day),
        )
    return DayDrift(day, drift_build_result(result), inputs, missing)


def sealed_day(workspace: Workspace, drift: DayDrift) -> Snapshot | None:
    """The newest sealed day folder holding exactly `drift`'s files, read from exactly its
    inputs, whose checks did not fail: a day computed again with nothing changed reuses it
    rather than sealing a second, identical folder (the documents name their day, so no other
    day's folder can match)."""
    schemas = SchemaCatalog.for_workspace(workspace.root)
    inputs = drift.input_refs()
    for snapshot in reversed(list_snapshots(workspace, DAILY_REGISTRY_ID)):
        if snapshot.envelope().get("inputs") != inputs or failed_before(workspace, snapshot):
            continue
        if unchanged_snapshot(snapshot.path, drift.result.files, schemas)[0]:
            return snapshot
    return None


def reusable_day(workspace: Workspace, day: date) -> ReusedDay | None:
    """Day D when its run would reuse a sealed folder (`sealed_day`, on the day computed now)
    and every check of `DAILY_CHECKS` passes on that folder now; None when the day must run
    (it is new or changed, a check would fail, or it cannot be computed: the run says why)."""
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
    return ReusedDay(drift, snapshot) if all(v.passed for v in verdicts) else None


def _newest_valid_by(workspace: Workspace, moment: str) -> dict[str, Snapshot | None]:
    """Per registry of the catalog, the newest snapshot created by `moment` that validates."""
    schemas = SchemaCatalog.for_workspace(workspace.root)
    refs: dict[str, Snapshot | None] = {}
    for spec in load_catalog(workspace).registries:
        refs[spec.registry_id] = None
        for snapshot in reversed(list_snapshots(workspace, spec.registry_id)):
            if (
                snapshot.created_utc
                and snapshot.created_utc <= moment
                and is_valid_run_folder(snapshot.path, schemas=schemas)
            ):
                refs[spec.registry_id] = snapshot
                break
    return refs
