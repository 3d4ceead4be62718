"""Append-only catalogs: ids are promises, published contracts never change silently.

`rules` says where a catalog keeps ids, aliases, lifecycle and contracts (presets `rolepack` and
`allowed_operations`, or a rule block); `check` compares a catalog with its published baseline
and reports every violation (`violations`) in one pass; `surface` hashes contract surfaces
(RFC 8785) and refuses values outside I-JSON; `file_check` is what CI and pre-commit run on one
file (the build's schema check, `source_problems`, then `check`; `lines` locates each problem);
`compat` classifies a surface change as schema registries do; `baseline` finds the published
version (a file, a git ref, or the active sealed snapshot); `governed` applies the catalog's
rules to a source registry's files (the source asset, the build's shortcut, the blocking check).

Depends on `seal/`, `workspace/` and `pointers/` (the active snapshot is the baseline); must not
import `explain/`, `delta_log/`, `builders/` or `adopt/`.
"""

from registry_pipeline.core.append_only.check import CatalogShapeError, check_catalog, entries_of
from registry_pipeline.core.append_only.rules import (
    PRESETS,
    ContractList,
    Rules,
    RulesError,
    parse_rules,
    preset,
)
from registry_pipeline.core.append_only.surface import (
    SurfaceError,
    surface_problem,
    surface_sha256,
)
from registry_pipeline.core.append_only.violations import CODES, Report, Violation

__all__ = [
    "CODES",
    "PRESETS",
    "CatalogShapeError",
    "ContractList",
    "Report",
    "Rules",
    "RulesError",
    "SurfaceError",
    "Violation",
    "check_catalog",
    "entries_of",
    "parse_rules",
    "preset",
    "surface_problem",
    "surface_sha256",
]
