"""Which blocking checks a registry has: one list for its Dagster asset and for the gate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.gate import checks as c
from registry_pipeline.core.gate.verdict import CheckVerdict
from registry_pipeline.core.workspace.catalog import RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace

Evaluate = Callable[..., CheckVerdict]
"""`(path, workspace, registry_id)`, and `pinned=` for a check that reads other registries."""
APPEND_ONLY = "append_only"
COORDINATION = "coordination"
RULES = "rules"


@dataclass(frozen=True)
class RegistryCheck:
    """One blocking check of a registry: its name, what it says, the function deciding it."""

    name: str
    description: str
    evaluate: Evaluate
    reads_others: bool = False
    """It reads other registries' snapshots: `run` hands it those sealed in the same build."""

    def run(
        self,
        path: Path | None,
        workspace: Workspace,
        registry_id: str,
        pinned: Mapping[str, Path] | None = None,
    ) -> CheckVerdict:
        """Its verdict on the run folder `path`, under its name (`pinned`: registry -> the
        folder sealed for it in the same build, for a check that reads other registries)."""
        if self.reads_others:
            verdict = self.evaluate(path, workspace, registry_id, pinned=pinned)
        else:
            verdict = self.evaluate(path, workspace, registry_id)
        return verdict.with_name(self.name)


SEAL_VALID = RegistryCheck(
    "seal_valid", "The run folder satisfies the seal contract (hashes, root, files).", c.seal_check
)
SCHEMA_VALID = RegistryCheck(
    "schema_valid", "Every artifact parses and matches the schema of its name.", c.schema_check
)
CHECK_NAMES = (SEAL_VALID.name, SCHEMA_VALID.name)
"""The checks every registry has."""
DELTA_APPEND_ONLY = RegistryCheck(
    APPEND_ONLY,
    "The previous log snapshot is an exact prefix of this one, and every appended record is "
    "valid and chained (no record dropped, altered or reordered).",
    c.delta_append_only_check,
)
LOG_PREFIX = RegistryCheck(
    APPEND_ONLY,
    "The previous sealed log (the active snapshot) is an exact prefix of this one: no record "
    "removed, altered or reordered.",
    c.log_prefix_check,
)
CATALOG_APPEND_ONLY = RegistryCheck(
    APPEND_ONLY,
    "Against the active snapshot: no id removed or reused, no alias colliding, no published "
    "contract removed or changed (docs/APPEND_ONLY.md).",
    c.catalog_append_only_check,
)
COORDINATION_CHECK = RegistryCheck(
    COORDINATION,
    "Every entry parses, has a unique key, matches its schema and passes the coordination "
    "rules of severity error against the other registries' checked snapshots "
    "(docs/WRITE_PATH.md); warnings are listed, not blocking.",
    c.coordination_check,
    reads_others=True,
)
RULES_CHECK = RegistryCheck(
    RULES,
    "Every line is complete and parses; a run's records come in time order (an augmenting "
    "record is later); the coordination rules hold (e.g. a named override exists); the "
    "declared warnings are listed, not blocking (docs/RUN_INDEX.md); the other logs (the "
    "overrides) read from their checked snapshots, never the working tree.",
    c.run_rules_check,
    reads_others=True,
)
SEALED_ONLY = (SEAL_VALID, SCHEMA_VALID)
"""The checks of a snapshot whose registry the catalog does not list (`registry seal`)."""


def registry_checks(spec: RegistrySpec | None) -> tuple[RegistryCheck, ...]:
    """The blocking checks of a registry: the seal and the schemas; `append_only` for a log
    (its previous snapshot is a prefix) and for a source with append-only rules;
    `coordination` for a source add-entry writes; `rules` for a run index."""
    if spec is None:
        return SEALED_ONLY
    checks = list(SEALED_ONLY)
    if spec.kind == "log":
        checks.append(LOG_PREFIX if spec.is_source else DELTA_APPEND_ONLY)
    elif spec.append_only is not None:
        checks.append(CATALOG_APPEND_ONLY)
    if spec.entries is not None:
        checks.append(COORDINATION_CHECK)
    if spec.run_index is not None:
        checks.append(RULES_CHECK)
    return tuple(checks)


def check_names(spec: RegistrySpec | None) -> tuple[str, ...]:
    """The names of a registry's blocking checks, in the order they are evaluated."""
    return tuple(check.name for check in registry_checks(spec))
