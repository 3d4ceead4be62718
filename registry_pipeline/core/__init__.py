"""The pure core: sealing, validation, pointers, delta log, builders; it never imports Dagster.

A `_` module is imported only inside its own folder; shared code has a public name.
"""

from registry_pipeline.core.errors import (
    Problem,
    ReasonCode,
    RegistryError,
    UsageError,
)
from registry_pipeline.core.seal.envelope import RunSpec, SealedRef
from registry_pipeline.core.seal.manifest import ManifestEntry, root_sha256
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.validate import (
    FolderReport,
    inspect_run_folder,
    is_valid_run_folder,
    verify_run_folder,
)
from registry_pipeline.core.workspace.layout import Workspace, init_workspace

LAYERS = (
    "objstore",  # workspaces on object storage: the bucket client, conditional writes
    "seal",  # one run folder: hashes, manifests, run ids, run.json, run store, validation
    "workspace",  # layout, registry catalog, sources, snapshots, the build slot
    "pointers",  # the active pointer file, its store, the journal and its replay
    "append_only",  # append-only catalogs: ids and published contracts only grow
    "write_path",  # `add-entry`: registry types, coordination rules, spliced atomic writes
    "run_index",  # append-only run records with rules, a SQLite sidecar, the queries
    "explain",  # record-level explanations of changes
    "delta_log",  # the registry delta log
    "gate",  # the publish gate: blocking checks, their receipts, the gated pointer store
    "builders",  # the pure builders and the one list of them
    "adopt",  # planning our catalog for a repository laid out like the seed system's
    "freshness",  # whether a build has anything to do; the last successful build's record
)
"""The subpackages in dependency order: each may import only those before it."""

__all__ = [
    "FolderReport",
    "ManifestEntry",
    "Problem",
    "ReasonCode",
    "RegistryError",
    "RunSpec",
    "RunStore",
    "SealedRef",
    "SealedRun",
    "UsageError",
    "Workspace",
    "init_workspace",
    "inspect_run_folder",
    "is_valid_run_folder",
    "root_sha256",
    "seal_files",
    "verify_run_folder",
]
