"""Blocking asset checks on every registry: the seal is valid, the artifacts match their schemas."""

from collections.abc import Callable, Iterable
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
from registry_pipeline.lib.inputs import materialized_path
from registry_pipeline.lib.resources import RegistryWorkspace

CHECK_NAMES = ("seal_valid", "schema_valid")
APPEND_ONLY = "append_only"
COORDINATION = "coordination"
RULES = "rules"


def check_names(spec: RegistrySpec) -> tuple[str, ...]:
    """The blocking checks of a registry's asset: both, plus `append_only` for a log and for a
    source with append-only rules, plus `coordination` for a source add-entry writes, plus
    `rules` for a run index."""
    extra = (APPEND_ONLY,) if spec.kind == "log" or spec.append_only is not None else ()
    written = (COORDINATION,) if spec.entries is not None else ()
    ruled = (RULES,) if spec.run_index is not None else ()
    return CHECK_NAMES + extra + written + ruled


def registry_checks(registry_ids: Iterable[str]) -> list[dg.AssetChecksDefinition]:
    """Both blocking checks for each registry asset."""
    checks: list[dg.AssetChecksDefinition] = []
    for registry_id in registry_ids:
        checks.append(
            _check(
                registry_id,
                "seal_valid",
                "seal",
                "The run folder satisfies the seal contract (hashes, root, files).",
            )
        )
        checks.append(
            _check(
                registry_id,
                "schema_valid",
                "schema",
                "Every artifact parses and matches the schema of its name.",
            )
        )
    return checks


def _check(
    registry_id: str, name: str, problems_of: str, description: str
) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(registry_id)

    @dg.asset_check(asset=key, name=name, blocking=True, description=description)
    def _run(
        context: dg.AssetCheckExecutionContext, registry_workspace: RegistryWorkspace
    ) -> dg.AssetCheckResult:
        path = materialized_path(context.instance, key, context.run.run_id)
        schemas = SchemaCatalog.for_workspace(registry_workspace.workspace.root)
        return check_result(path, problems_of, schemas)

    return _run


def append_only_check(registry_id: str) -> dg.AssetChecksDefinition:
    """The log's third blocking check: the previous log is an exact prefix of the new one."""
    key = dg.AssetKey(registry_id)

    @dg.asset_check(
        asset=key,
        name="append_only",
        blocking=True,
        description="The previous log snapshot is an exact prefix of this one, and every "
        "appended record is valid and chained (no record dropped, altered or reordered).",
    )
    def _run(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        path = materialized_path(context.instance, key, context.run.run_id)
        return append_only_result(path)

    return _run


def catalog_append_only_check(registry_id: str) -> dg.AssetChecksDefinition:
    """A governed source's third blocking check: its ids and contracts only grow."""
    return _workspace_check(
        registry_id,
        APPEND_ONLY,
        "Against the active snapshot: no id removed or reused, no alias colliding, "
        "no published contract removed or changed (docs/APPEND_ONLY.md).",
        catalog_append_only_result,
    )


def log_prefix_check(registry_id: str) -> dg.AssetChecksDefinition:
    """A log sealed from the workspace: its third blocking check, append-only across
    snapshots."""
    return _workspace_check(
        registry_id,
        APPEND_ONLY,
        "The previous sealed log (the active snapshot) is an exact prefix of this one: no "
        "record removed, altered or reordered.",
        log_prefix_result,
    )


def run_rules_check(registry_id: str) -> dg.AssetChecksDefinition:
    """A run index's blocking rules check, decided by the function `registry runs append`
    uses."""
    return _workspace_check(
        registry_id,
        RULES,
        "Every line is complete and parses; a run's records come in time order (an augmenting "
        "record is later); the coordination rules hold (e.g. a named override exists); the "
        "declared warnings are listed, not blocking (docs/RUN_INDEX.md).",
        run_rules_result,
    )


def coordination_check(registry_id: str) -> dg.AssetChecksDefinition:
    """A written source's blocking check: its entries pass their schema and the workspace's
    coordination rules, decided by the function `registry add-entry` uses."""
    return _workspace_check(
        registry_id,
        COORDINATION,
        "Every entry parses, has a unique key, matches its schema and passes the "
        "coordination rules of severity error against the other registries "
        "(docs/WRITE_PATH.md); warnings are listed, not blocking.",
        coordination_result,
    )


def _workspace_check(
    registry_id: str,
    name: str,
    description: str,
    result: Callable[[Path | None, Workspace, str], dg.AssetCheckResult],
) -> dg.AssetChecksDefinition:
    """A blocking check decided by `result(run folder of this run's materialization,
    workspace, registry id)`."""
    key = dg.AssetKey(registry_id)

    @dg.asset_check(asset=key, name=name, blocking=True, description=description)
    def _run(
        context: dg.AssetCheckExecutionContext, registry_workspace: RegistryWorkspace
    ) -> dg.AssetCheckResult:
        path = materialized_path(context.instance, key, context.run.run_id)
        return result(path, registry_workspace.workspace, registry_id)

    return _run
