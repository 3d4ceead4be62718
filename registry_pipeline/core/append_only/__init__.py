"""Append-only catalogs: ids are promises, published contracts never change silently.

`rules` says where a catalog keeps its ids and contracts; `check` compares a catalog with its
published baseline; `compat` classifies a surface change; `baseline` finds the published version,
checks one file as CI does and applies the rules to a source registry's files.

Depends on `seal/`, `workspace/` and `pointers/` (the active snapshot is the baseline); must not
import `explain/`, `delta_log/`, `builders/` or `adopt/`.
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
