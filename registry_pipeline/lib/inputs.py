"""Which sealed snapshot of each upstream registry a build reads, and by which rule."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.pointers.store import PointerStore, target_folder
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, newest_valid, read_snapshot
from registry_pipeline.lib.failures import step_failure

SAME_RUN = "same_run"
"""The upstream snapshot written (or, an unchanged source, reused) and checked earlier in the
same Dagster run."""
ACTIVE_POINTER = "active_pointer"
"""Otherwise: the upstream's active snapshot, named by the pointer file, if it still validates."""
NEWEST_VALID = "newest_valid"
"""Before any pointer exists (or when it names a folder that no longer validates): the newest
snapshot that validates; the rule text then says why the pointer was not used."""


def materialized_path(instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str) -> Path | None:
    """The run folder that Dagster run `run_id` materialized for `key`, or None.

    Read from that run's own events, never from the newest materialization across runs: another
    run materializing the same asset meanwhile must not change what this run checks or reads.
    """
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in reversed(records):
        event = record.event_log_entry.dagster_event
        if event is None or event.asset_key != key:
            continue
        materialization = event.step_materialization_data.materialization
        value = materialization.metadata.get("path")
        return Path(str(value.value)) if value is not None else None
    return None


def resolve_inputs(
    context: dg.AssetExecutionContext,
    workspace: Workspace,
    dependencies: Sequence[str],
) -> tuple[dict[str, Snapshot], dict[str, str]]:
    """Snapshots of `dependencies` and the rule that chose each (this run's own, else the
    active one, else the newest valid one); fails when one has none."""
    snapshots: dict[str, Snapshot] = {}
    rules: dict[str, str] = {}
    for registry_id in dependencies:
        path = materialized_path(context.instance, dg.AssetKey(registry_id), context.run.run_id)
        if path is not None:
            snapshots[registry_id], rules[registry_id] = read_snapshot(path, registry_id), SAME_RUN
            continue
        active, why_not = active_snapshot(workspace, registry_id)
        if active is not None:
            snapshots[registry_id], rules[registry_id] = active, ACTIVE_POINTER
            continue
        snapshot = newest_valid(workspace, registry_id)
        if snapshot is None:
            raise step_failure(
                "NO_VALID_INPUT",
                registry_id,
                f"no valid sealed snapshot of {registry_id!r}; build it first (registry build "
                f"--select {registry_id})",
            )
        rule = NEWEST_VALID if why_not is None else f"{NEWEST_VALID} ({why_not})"
        snapshots[registry_id], rules[registry_id] = snapshot, rule
    return snapshots, rules


def active_snapshot(workspace: Workspace, registry_id: str) -> tuple[Snapshot | None, str | None]:
    """The snapshot the pointer file names for `registry_id` if its folder still validates;
    otherwise None and why the pointer was not used (None when there is no pointer)."""
    try:
        ref = PointerStore(workspace).explained([registry_id]).active(registry_id)
    except RegistryError as exc:
        if exc.code in ("POINTER_MISMATCH", "JOURNAL_CORRUPT"):
            raise  # a pointer the journal does not explain is never read
        return None, f"pointer file unreadable: {exc.code}"
    if ref is None or ref.run_id is None:
        return None, None
    if (ref.run_root or RUNS_RELPATH) != RUNS_RELPATH:
        return None, f"active pointer {ref.run_id} is not under {RUNS_RELPATH}"
    try:
        folder = target_folder(workspace, registry_id, ref.run_id)  # direct child, this registry
        report = inspect_run_folder(folder, schemas=SchemaCatalog.for_workspace(workspace.root))
    except RegistryError as exc:
        return None, f"active pointer {ref.run_id} unusable: {exc.code}"
    if not report.ok:
        return None, f"active pointer {ref.run_id} no longer validates"
    if report.root_sha256 != ref.manifest_sha256:
        return None, f"active pointer {ref.run_id} names another root than its folder has"
    return read_snapshot(folder, registry_id), None
