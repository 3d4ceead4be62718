"""The builders, by registry_id: the catalog says what to build, this one list says how."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from registry_pipeline.core.builders import adapters, delta_log_adapter
from registry_pipeline.core.builders.model import Builder, BuildInputs, BuildResult
from registry_pipeline.core.delta_log import LOG_REGISTRY_ID


def _system_health_report(build: BuildInputs) -> BuildResult:
    return adapters.build_system_health_report(build, BUILDERS.keys())


BUILDERS: Mapping[str, Builder] = MappingProxyType(
    {
        "run_registry": adapters.build_run_registry,
        "op_status_table": adapters.build_op_status_table,
        "drift_signals": adapters.build_drift_signals,
        "system_health_report": _system_health_report,
        LOG_REGISTRY_ID: delta_log_adapter.build_registry_delta_log,
    }
)
"""Every builder in code. A built, log or presentation registry of a catalog needs one here."""


def registered_builders() -> Mapping[str, Builder]:
    """Every builder in code, by registry_id."""
    return BUILDERS
