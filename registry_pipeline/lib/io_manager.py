"""The sealing IO manager, and which snapshot of each upstream a build reads (`resolve_inputs`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.errors import RegistryError, render
from registry_pipeline.core.pointers.journal import CHAIN_CODES
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.pointers.targets import INVALID, ROOT_MISMATCH, target_verdict
from registry_pipeline.core.seal.envelope import RunSpec, SealedRef
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import (
    GENERATION,
    Snapshot,
    newest_valid,
    next_generation,
    read_snapshot,
)
from registry_pipeline.lib.failures import as_step_failure, step_failure

UNEXPECTED_FILES = "unexpected_files"
"""Output metadata: files beside a source's glob that it does not match (not sealed)."""


@dataclass(frozen=True)
class RegistryOutput:
    """What a registry asset returns: files to seal, or an existing snapshot to reuse."""

    registry_id: str
    operation_id: str | None
    files: Mapping[str, bytes | Path] | None = None
    """relpath -> bytes, or the file to copy (a source's, streamed: never read whole)."""
    reuse: Snapshot | None = None
    inputs: tuple[SealedRef, ...] = ()
    input_rules: Mapping[str, str] = field(default_factory=dict)
    record_count: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More run.json fields (e.g. the schema hash of the primary artifact)."""
    run_id: str | None = None
    """The run id the folder must get (sealed with the clock at `moment`), when fixed."""
    moment: datetime | None = None
    digests: Mapping[str, str] = field(default_factory=dict)
    """SHA-256 of files given by path when decided on: one changed since is SOURCE_CHANGED."""


class SealingIOManager(dg.ConfigurableIOManager):
    """Writes each output through the core run store and reports where it went."""

    workspace_root: str

    def handle_output(self, context: dg.OutputContext, obj: RegistryOutput) -> None:
        if obj.reuse is not None:
            run_id, root, path = obj.reuse.run_id, obj.reuse.root_sha256 or "", obj.reuse.path
        else:
            workspace = Workspace(Path(self.workspace_root))
            moment = obj.moment
            store = RunStore(workspace) if moment is None else RunStore(workspace, lambda: moment)
            spec = RunSpec(
                registry_id=obj.registry_id,
                operation_id=obj.operation_id,
                inputs=obj.inputs,
                extra={
                    **obj.extra,
                    "dagster_run_id": context.run_id,
                    GENERATION: next_generation(workspace, obj.registry_id),
                },
            )
            with as_step_failure():
                sealed = seal_files(store, spec, obj.files or {}, obj.digests)
            if obj.run_id is not None and sealed.run_id != obj.run_id:
                said = render("RUN_ID_TAKEN", run_id=sealed.run_id, named=obj.run_id)
                raise step_failure("RUN_ID_TAKEN", str(sealed.path), said)
            run_id, root, path = sealed.run_id, sealed.root_sha256, sealed.path
        metadata: dict[str, Any] = {
            "run_id": run_id,
            "root_sha256": root,
            "path": dg.MetadataValue.path(str(path)),
            "reused_snapshot": obj.reuse is not None,
            "inputs": dg.MetadataValue.json([ref.as_json() for ref in obj.inputs]),
            "input_rules": dg.MetadataValue.json(dict(obj.input_rules)),
        }
        if obj.record_count is not None:
            metadata["record_count"] = obj.record_count
        context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> None:
        raise NotImplementedError(
            f"{context.asset_key.to_user_string()}: registry assets read sealed snapshots "
            "themselves (deps, not inputs)"
        )


SAME_RUN = "same_run"
"""The upstream snapshot sealed or reused, and checked, earlier in the same run (not if held)."""
ACTIVE_POINTER = "active_pointer"
"""Otherwise: the upstream's active snapshot, named by the pointer file, if it still validates."""
NEWEST_VALID = "newest_valid"
"""Without a usable pointer: the newest snapshot that validates (the rule text says why)."""


_SEALED: dict[str, tuple[str | None, dict[dg.AssetKey, Path]]] = {}
"""Dagster run id -> its event cursor and the run folders its materializations named so far."""


def materialized_path(instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str) -> Path | None:
    """The run folder Dagster run `run_id` materialized for `key`, or None, from its own events."""
    cursor, paths = _SEALED.get(run_id, (None, {}))
    if key not in paths:
        kind = dg.DagsterEventType.ASSET_MATERIALIZATION
        result = instance.get_records_for_run(run_id, cursor, of_type=kind)
        for record in result.records:
            made = record.asset_materialization
            value = made.metadata.get("path") if made is not None else None
            if made is not None and value is not None:
                paths[made.asset_key] = Path(str(value.value))
        _SEALED.clear()  # the run of this process's current step only
        _SEALED[run_id] = (result.cursor, paths)
    return paths.get(key)


def resolve_inputs(
    context: dg.AssetExecutionContext,
    workspace: Workspace,
    dependencies: Sequence[str],
) -> tuple[dict[str, Snapshot], dict[str, str]]:
    """Snapshots of `dependencies` and the rule that chose each; fails when one has none."""
    snapshots: dict[str, Snapshot] = {}
    rules: dict[str, str] = {}
    for registry_id in dependencies:
        path = materialized_path(context.instance, dg.AssetKey(registry_id), context.run.run_id)
        if path is not None and PointerStore(workspace).held(registry_id) is not None:
            path = None  # held where it is: its active snapshot is what a dependent follows
        if path is not None:
            snapshots[registry_id], rules[registry_id] = read_snapshot(path, registry_id), SAME_RUN
            continue
        active, why_not = active_snapshot(workspace, registry_id)
        if active is not None:
            snapshots[registry_id], rules[registry_id] = active, ACTIVE_POINTER
            continue
        snapshot = newest_valid(workspace, registry_id)
        if snapshot is None:
            said = render("NO_VALID_INPUT", registry_id=registry_id)
            raise step_failure("NO_VALID_INPUT", registry_id, said)
        rule = NEWEST_VALID if why_not is None else f"{NEWEST_VALID} ({why_not})"
        snapshots[registry_id], rules[registry_id] = snapshot, rule
    return snapshots, rules


def active_snapshot(workspace: Workspace, registry_id: str) -> tuple[Snapshot | None, str | None]:
    """The pointer's snapshot of `registry_id` if valid, else None and why (None: no pointer)."""
    try:
        ref = PointerStore(workspace).explained([registry_id]).active(registry_id)
    except RegistryError as exc:
        if exc.code in ("POINTER_MISMATCH", "JOURNAL_CORRUPT", "JOURNAL_MISSING", *CHAIN_CODES):
            raise  # a pointer the journal does not explain is never read
        return None, f"pointer file unreadable: {exc.code}"
    if ref is None or not ref.run_id:
        return None, None
    if (ref.run_root or RUNS_RELPATH) != RUNS_RELPATH:
        return None, f"active pointer {ref.run_id} is not under {RUNS_RELPATH}"
    schemas = SchemaCatalog.for_workspace(workspace.root)
    try:  # the one verdict `validate --active` and `pointers show` print
        verdict = target_verdict(workspace, registry_id, ref, schemas)
    except RegistryError as exc:  # e.g. a bucket that cannot be read: the newest valid one
        return None, f"active pointer {ref.run_id} unusable: {exc.code}"
    if verdict.state == INVALID and verdict.report is not None:
        return None, f"active pointer {ref.run_id} no longer validates"
    if verdict.state == ROOT_MISMATCH:
        return None, f"active pointer {ref.run_id} names another root than its folder has"
    if not verdict.ok or verdict.folder is None:
        return None, f"active pointer {ref.run_id} unusable: {verdict.code}"
    return read_snapshot(verdict.folder, registry_id), None
