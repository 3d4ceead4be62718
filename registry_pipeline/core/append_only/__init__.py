"""Append-only catalogs: ids are promises, published contracts never change silently.

`rules` says where a catalog keeps ids, aliases, lifecycle and contracts (presets `rolepack` and
`allowed_operations`, or a rule block); `check` compares a catalog with its published baseline
and reports every violation in one pass, hashing contract surfaces (RFC 8785) and refusing
values outside I-JSON; `compat` classifies a surface change as schema registries do;
`baseline` finds the published version (a file, a git ref, or the active sealed snapshot) and
checks one file as CI and pre-commit run it (`check_file`: the build's schema check,
`source_problems`, then `check`); `governed` applies the catalog's rules to a source registry's
files (the source asset, the build's shortcut, the blocking check).

Depends on `seal/`, `workspace/` and `pointers/` (the active snapshot is the baseline); must not
import `explain/`, `delta_log/`, `builders/` or `adopt/`.
"""

from registry_pipeline.core.append_only.check import (
    CODES,
    Report,
    check_catalog,
    entries_of,
    surface_problem,
    surface_sha256,
)
from registry_pipeline.core.append_only.rules import (
    PRESETS,
    ContractList,
    Rules,
    parse_rules,
    preset,
    rules_invalid,
)

__all__ = [
    "CODES",
    "PRESETS",
    "ContractList",
    "Report",
    "Rules",
    "check_catalog",
    "entries_of",
    "parse_rules",
    "preset",
    "rules_invalid",
    "surface_problem",
    "surface_sha256",
]
