"""Blocking asset checks on every registry, evaluated in the registry's own step.

Each registry asset declares its checks as `check_specs` (blocking) and, once its output is
sealed, yields one `AssetCheckResult` per check (`evaluate_checks`): no separate step per check,
each check still its own row in the UI, and a failed one still stops everything downstream.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.check_results import (
    append_only_result,
    catalog_append_only_result,
    check_result,
    coordination_result,
    log_prefix_result,
    run_rules_result,
)

CHECK_NAMES = ("seal_valid", "schema_valid")
APPEND_ONLY = "append_only"
COORDINATION = "coordination"
RULES = "rules"

Evaluate = Callable[[Path | None, Workspace, str], dg.AssetCheckResult]


@dataclass(frozen=True)
class RegistryCheck:
    """One blocking check of a registry: its name, what it says, the function deciding it."""

    name: str
    description: str
    evaluate: Evaluate


def _seal(path: Path | None, workspace: Workspace, _registry_id: str) -> dg.AssetCheckResult:
    return check_result(path, "seal", SchemaCatalog.for_workspace(workspace.root))


def _schema(path: Path | None, workspace: Workspace, _registry_id: str) -> dg.AssetCheckResult:
    return check_result(path, "schema", SchemaCatalog.for_workspace(workspace.root))


def _delta_append_only(
    path: Path | None, _workspace: Workspace, _registry_id: str
) -> dg.AssetCheckResult:
    return append_only_result(path)


SEAL_VALID = RegistryCheck(
    "seal_valid", "The run folder satisfies the seal contract (hashes, root, files).", _seal
)
SCHEMA_VALID = RegistryCheck(
    "schema_valid", "Every artifact parses and matches the schema of its name.", _schema
)
DELTA_APPEND_ONLY = RegistryCheck(
    APPEND_ONLY,
    "The previous log snapshot is an exact prefix of this one, and every appended record is "
    "valid and chained (no record dropped, altered or reordered).",
    _delta_append_only,
)
LOG_PREFIX = RegistryCheck(
    APPEND_ONLY,
    "The previous sealed log (the active snapshot) is an exact prefix of this one: no record "
    "removed, altered or reordered.",
    log_prefix_result,
)
CATALOG_APPEND_ONLY = RegistryCheck(
    APPEND_ONLY,
    "Against the active snapshot: no id removed or reused, no alias colliding, no published "
    "contract removed or changed (docs/APPEND_ONLY.md).",
    catalog_append_only_result,
)
COORDINATION_CHECK = RegistryCheck(
    COORDINATION,
    "Every entry parses, has a unique key, matches its schema and passes the coordination "
    "rules of severity error against the other registries (docs/WRITE_PATH.md); warnings are "
    "listed, not blocking.",
    coordination_result,
)
RULES_CHECK = RegistryCheck(
    RULES,
    "Every line is complete and parses; a run's records come in time order (an augmenting "
    "record is later); the coordination rules hold (e.g. a named override exists); the "
    "declared warnings are listed, not blocking (docs/RUN_INDEX.md).",
    run_rules_result,
)


def registry_checks(spec: RegistrySpec) -> tuple[RegistryCheck, ...]:
    """The blocking checks of a registry's asset: the seal and the schemas; `append_only` for a
    log (its previous snapshot is a prefix) and for a source with append-only rules;
    `coordination` for a source add-entry writes; `rules` for a run index."""
    checks = [SEAL_VALID, SCHEMA_VALID]
    if spec.kind == "log":
        checks.append(LOG_PREFIX if spec.is_source else DELTA_APPEND_ONLY)
    elif spec.append_only is not None:
        checks.append(CATALOG_APPEND_ONLY)
    if spec.entries is not None:
        checks.append(COORDINATION_CHECK)
    if spec.run_index is not None:
        checks.append(RULES_CHECK)
    return tuple(checks)


def check_names(spec: RegistrySpec) -> tuple[str, ...]:
    """The names of a registry's blocking checks, in the order they are evaluated."""
    return tuple(check.name for check in registry_checks(spec))


def check_specs(key: dg.AssetKey, checks: Iterable[RegistryCheck]) -> list[dg.AssetCheckSpec]:
    """The checks as blocking `AssetCheckSpec`s of the asset `key`."""
    return [
        dg.AssetCheckSpec(check.name, asset=key, blocking=True, description=check.description)
        for check in checks
    ]


def evaluate_checks(
    key: dg.AssetKey,
    checks: Iterable[RegistryCheck],
    path: Path | None,
    workspace: Workspace,
) -> Iterator[dg.AssetCheckResult]:
    """Each check on the run folder `path` this step sealed (None: nothing was sealed)."""
    for check in checks:
        result = check.evaluate(path, workspace, key.to_user_string())
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=check.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
        )
