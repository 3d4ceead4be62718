"""The pure core: sealing, validation and the run store. Never imports dagster.

A user can validate run folders and seal files with Dagster absent.
"""

from registry_pipeline.core.envelope import RunSpec, SealedRef
from registry_pipeline.core.errors import (
    Problem,
    ReasonCode,
    RegistryError,
    SealValidationError,
    UsageError,
)
from registry_pipeline.core.manifest import ManifestEntry, root_sha256
from registry_pipeline.core.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.validate import (
    FolderReport,
    inspect_run_folder,
    is_valid_run_folder,
    verify_run_folder,
)
from registry_pipeline.core.workspace import Workspace, init_workspace

__all__ = [
    "FolderReport",
    "ManifestEntry",
    "Problem",
    "ReasonCode",
    "RegistryError",
    "RunSpec",
    "RunStore",
    "SealValidationError",
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
