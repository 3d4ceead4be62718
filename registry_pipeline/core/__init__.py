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
