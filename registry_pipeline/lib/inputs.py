"""Which sealed snapshot of each upstream registry a build reads, and by which rule."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from registry_pipeline.core.snapshots import Snapshot, newest_valid, read_snapshot
from registry_pipeline.core.workspace import Workspace

SAME_RUN = "same_run"
"""The upstream snapshot written and checked earlier in the same Dagster run."""
NEWEST_VALID = "newest_valid"
"""Before any pointer exists: the newest snapshot that validates."""


def materialized_path(
    instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str | None = None
) -> Path | None:
    """The run folder of the latest materialization of `key` (only from `run_id` if given)."""
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    if run_id is not None and event.run_id != run_id:
        return None
    value = event.asset_materialization.metadata.get("path")
    return Path(str(value.value)) if value is not None else None


def resolve_inputs(
    context: dg.AssetExecutionContext, workspace: Workspace, dependencies: Sequence[str]
) -> tuple[dict[str, Snapshot], dict[str, str]]:
    """Snapshots of `dependencies` and the rule that chose each; fails when one has none."""
    snapshots: dict[str, Snapshot] = {}
    rules: dict[str, str] = {}
    for registry_id in dependencies:
        path = materialized_path(context.instance, dg.AssetKey(registry_id), context.run.run_id)
        if path is not None:
            snapshots[registry_id], rules[registry_id] = read_snapshot(path, registry_id), SAME_RUN
            continue
        snapshot = newest_valid(workspace, registry_id)
        if snapshot is None:
            raise dg.Failure(
                description=f"NO_VALID_INPUT: no valid sealed snapshot of {registry_id!r}; "
                f"build it first (registry build --select {registry_id})",
            )
        snapshots[registry_id], rules[registry_id] = snapshot, NEWEST_VALID
    return snapshots, rules
