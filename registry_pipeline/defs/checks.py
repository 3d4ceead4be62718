"""Blocking asset checks on every registry, evaluated in the registry's own step.

Each registry asset declares its checks as `check_specs` (blocking) and, once its output is
sealed, yields one `AssetCheckResult` per check (`evaluate_checks`): no separate step per check,
each check still its own row in the UI, and a failed one still stops everything downstream.
The checks themselves are the core gate's (`core.gate.checks`), the functions the pointer
store runs again for a snapshot no build checked; the step writes their promotion receipt.
"""

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import dagster as dg

from registry_pipeline.core.gate.checks import (
    APPEND_ONLY,
    CHECK_NAMES,
    COORDINATION,
    RULES,
    SCHEMA_VALID,
    SEAL_VALID,
    RegistryCheck,
    check_names,
    registry_checks,
)
from registry_pipeline.core.gate.gate import record
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline.lib.failures import as_check_result

__all__ = [
    "APPEND_ONLY",
    "CHECK_NAMES",
    "COORDINATION",
    "RULES",
    "SCHEMA_VALID",
    "SEAL_VALID",
    "RegistryCheck",
    "check_names",
    "check_specs",
    "evaluate_checks",
    "registry_checks",
]


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
    dagster_run_id: str | None = None,
    pinned: Mapping[str, Path] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """Each check on the run folder `path` this step sealed (None: nothing was sealed); the
    verdicts are first appended to the snapshot's promotion receipts (`pinned`: the other
    registries' folders this run sealed, which a coordination check reads)."""
    registry_id = key.to_user_string()
    verdicts = [check.run(path, workspace, registry_id, pinned) for check in checks]
    root = read_snapshot(path, registry_id).root_sha256 if path is not None else None
    if path is not None and root is not None and dagster_run_id is not None:
        build = {"kind": "dagster_run", "id": dagster_run_id}
        record(workspace, registry_id, path, root, verdicts, build)
    for verdict in verdicts:
        result = as_check_result(verdict)
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=verdict.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
        )
