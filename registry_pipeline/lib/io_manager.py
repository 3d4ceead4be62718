"""The sealing IO manager: every materialization becomes a sealed run folder (or reuses one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.seal.envelope import RunSpec, SealedRef
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot
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
    """The SHA-256 of files given by path when the step decided on them (their data version,
    the reuse): one changed since is refused when sealed (SOURCE_CHANGED), nothing published."""


class SealingIOManager(dg.ConfigurableIOManager):
    """Writes each output through the core run store and reports where it went."""

    workspace_root: str

    def handle_output(self, context: dg.OutputContext, obj: RegistryOutput) -> None:
        if obj.reuse is not None:
            run_id, root, path, reused = (
                obj.reuse.run_id,
                obj.reuse.root_sha256 or "",
                obj.reuse.path,
                True,
            )
        else:
            workspace = Workspace(Path(self.workspace_root))
            moment = obj.moment
            store = RunStore(workspace) if moment is None else RunStore(workspace, lambda: moment)
            spec = RunSpec(
                registry_id=obj.registry_id,
                operation_id=obj.operation_id,
                inputs=obj.inputs,
                extra={**obj.extra, "dagster_run_id": context.run_id},
            )
            with as_step_failure():
                sealed = seal_files(store, spec, obj.files or {}, obj.digests)
            if obj.run_id is not None and sealed.run_id != obj.run_id:
                raise step_failure(
                    "RUN_ID_TAKEN",
                    str(sealed.path),
                    f"sealed as {sealed.run_id}, but its records name {obj.run_id} (another "
                    "build sealed that id meanwhile); build again",
                )
            run_id, root, path, reused = sealed.run_id, sealed.root_sha256, sealed.path, False
        metadata: dict[str, Any] = {
            "run_id": run_id,
            "root_sha256": root,
            "path": dg.MetadataValue.path(str(path)),
            "reused_snapshot": reused,
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
