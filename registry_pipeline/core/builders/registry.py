"""Builders registered by registry_id: the catalog says what to build, this says how."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from registry_pipeline.core.catalog import RegistrySpec
from registry_pipeline.core.snapshots import Snapshot
from registry_pipeline.core.workspace import Workspace


@dataclass(frozen=True)
class BuildInputs:
    """Everything a builder may read: sealed input snapshots, never live files."""

    workspace: Workspace
    spec: RegistrySpec
    inputs: Mapping[str, Snapshot]
    """Upstream registry id -> the sealed snapshot this build reads."""
    previous: Snapshot | None = None
    """This registry's own newest valid snapshot (for incremental builders)."""
    full_audit: bool = False


@dataclass(frozen=True)
class BuildResult:
    """Artifact files (relpath -> bytes) and how many records the primary artifact holds."""

    files: Mapping[str, bytes]
    record_count: int
    summary: Mapping[str, object] = field(default_factory=dict)


Builder = Callable[[BuildInputs], BuildResult]

BUILDERS: dict[str, Builder] = {}


def register(registry_id: str) -> Callable[[Builder], Builder]:
    """Register `builder` as the builder of `registry_id`."""

    def add(builder: Builder) -> Builder:
        BUILDERS[registry_id] = builder
        return builder

    return add


def registered_builders() -> Mapping[str, Builder]:
    """Every registered builder (importing the builder modules registers them)."""
    from registry_pipeline.core.builders import adapters  # noqa: F401 - registers on import

    return BUILDERS
