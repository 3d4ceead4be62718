"""Append-only catalogs: ids are promises, published contracts never change silently.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""

from registry_pipeline.core.append_only.check import (
    CODES,
    Report,
    check_catalog,
    surface_sha256,
)
from registry_pipeline.core.append_only.rules import (
    PRESETS,
    Rules,
    parse_rules,
    preset,
    rules_invalid,
)

__all__ = [
    "CODES",
    "PRESETS",
    "Report",
    "Rules",
    "check_catalog",
    "parse_rules",
    "preset",
    "rules_invalid",
    "surface_sha256",
]
