"""The builders, by registry_id: the catalog says what to build, this one list says how."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from registry_pipeline.core.builders import (
    drift_signals,
    op_status_table,
    registry_delta_log,
    run_registry,
    system_health,
)
from registry_pipeline.core.builders.model import Builder
from registry_pipeline.core.delta_log import LOG_REGISTRY_ID
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec, catalog_error

BUILDERS: Mapping[str, Builder] = MappingProxyType(
    {
        "run_registry": run_registry.build,
        "op_status_table": op_status_table.build,
        "drift_signals": drift_signals.build,
        "system_health_report": lambda build: system_health.build(build, BUILDERS.keys()),
        LOG_REGISTRY_ID: registry_delta_log.build,
    }
)
"""Every builder in code. A built, log or presentation registry of a catalog needs one here."""


READS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "op_status_table": ("run_registry", "allowed_operations", "threshold_packs_file"),
        "drift_signals": ("run_registry", "op_status_table", "expected_versions"),
        "system_health_report": ("run_registry", "op_status_table", "drift_signals"),
    }
)
"""The upstream registries each builder reads: its catalog entry must depend on them."""


def check_catalog(catalog: RegistryCatalog) -> None:
    """CATALOG_INVALID when a builder's entry lacks a dependency it reads: fail near the cause."""
    problems = [
        f"/registries ({spec.registry_id})/depends_on: the {spec.registry_id} builder reads "
        f"{missing!r}; add it to depends_on (with its own catalog entry)"
        for spec in catalog.registries
        for missing in READS.get(spec.registry_id, ())
        if missing not in spec.depends_on
    ]
    if problems:
        raise catalog_error(str(catalog.path), problems)


def buildable(catalog: RegistryCatalog, builders: Mapping[str, Builder]) -> list[RegistrySpec]:
    """Registries that can be assets: sources, and built ones whose builder and deps exist."""
    ready: set[str] = set()
    specs: list[RegistrySpec] = []
    for spec in catalog.registries:
        has_code = spec.is_source or spec.registry_id in builders
        if has_code and set(spec.depends_on) <= ready:
            ready.add(spec.registry_id)
            specs.append(spec)
    return specs
