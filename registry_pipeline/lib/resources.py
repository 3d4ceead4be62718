"""The workspace as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import Workspace


class RegistryWorkspace(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The workspace whose registries are built; `root` is its folder."""

    root: str
    full_audit: bool = False
    """Re-hash every run folder instead of reusing the previous run registry's verdicts."""

    @property
    def workspace(self) -> Workspace:
        """The core's view of the workspace."""
        return Workspace(Path(self.root))

    def catalog(self) -> RegistryCatalog:
        """The workspace's registry catalog."""
        return load_catalog(self.workspace)
