"""The run envelope (`run.json`) that registry-pipeline writes into every run folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry_pipeline._version import __version__
from registry_pipeline.core.seal.gitstate import GitState
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256, RUN_JSON
from registry_pipeline.core.seal.paths import sort_key

BUILDER_NAME = "registry-pipeline"


@dataclass(frozen=True)
class SealedRef:
    """A sealed snapshot (registry, run folder, root hash read): the one ref of inputs, deltas."""

    registry_id: str
    """The registry the snapshot is of."""
    run_id: str
    """The run folder's name."""
    manifest_sha256: str
    """The folder's ROOT_SHA256 when it was read."""
    run_root: str = ".codex/RUNS"
    """Workspace-relative folder holding it."""
    relpath: str | None = None
    """The registry's primary artifact inside the folder; None for a multi-file snapshot."""

    def as_json(self, *, with_registry: bool = True) -> dict[str, Any]:
        """The `run.json` `inputs[]` object; without `registry_id`, a delta's `sealed_ref`."""
        where = {"run_id": self.run_id, "run_root": self.run_root, "relpath": self.relpath,
                 "manifest_sha256": self.manifest_sha256}  # fmt: skip
        return {"registry_id": self.registry_id, **where} if with_registry else where

    @property
    def root(self) -> str | None:
        """`manifest_sha256`, None when not known ("": a seed pointer's null, nothing sealed)."""
        return self.manifest_sha256 or None

    def as_input_json(self) -> dict[str, Any]:
        """A gate receipt's `inputs[]` object: the root named `root`."""
        return {"registry_id": self.registry_id, "run_id": self.run_id, "root": self.root}

    def __str__(self) -> str:
        return f"{self.registry_id}@{self.run_id} sha256:{self.manifest_sha256}"


@dataclass(frozen=True)
class RunSpec:
    """What a build says about itself; the store adds run_id, time, git state and outputs."""

    registry_id: str
    operation_id: str | None = None
    run_type: str | None = None
    inputs: Sequence[SealedRef] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def build_envelope(
    spec: RunSpec, run_id: str, created_utc: str, git: GitState, payload: Sequence[str]
) -> dict[str, Any]:
    """The `run.json` object; `outputs` lists the payload in relpath order, then the seal files."""
    return {
        **spec.extra,
        "run_id": run_id,
        "created_utc": created_utc,
        "run_type": spec.run_type or f"{spec.registry_id}_build",
        "registry_id": spec.registry_id,
        "operation_id": spec.operation_id,
        "git_commit": git.commit,
        "working_tree_state": git.working_tree_state,
        "builder": {"name": BUILDER_NAME, "version": __version__},
        "inputs": [ref.as_json() for ref in spec.inputs],
        "outputs": [*sorted(payload, key=sort_key), RUN_JSON, MANIFEST_JSON, MANIFEST_SHA256],
    }
