"""Run folders dated in the future: never recorded, since they would stop the log, and reported.

A folder whose run id or created_utc is after the clock (beyond `CLOCK_SKEW`) would sort after
every real snapshot sealed later, so recording it would make it the registry's last covered
snapshot and every later one "late", never appended. `list_snapshots` leaves such folders out
(the log, builds and inputs never see them); this names them for `registry delta verify`.
"""

from __future__ import annotations

from registry_pipeline.core.delta_log._errors import DeltaCode, DeltaFinding
from registry_pipeline.core.delta_log._model import LOG_REGISTRY_ID
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import split_snapshots


def future_findings(workspace: Workspace) -> list[DeltaFinding]:
    """FUTURE_DATED for each run folder of a covered registry (or of the log itself) dated in
    the future, by registry in catalog order, then by run id."""
    findings = []
    for registry_id in _watched(workspace):
        for snapshot, why in split_snapshots(workspace, registry_id)[1]:
            findings.append(
                DeltaFinding(
                    code=DeltaCode.FUTURE_DATED,
                    path=f"{RUNS_RELPATH}/{snapshot.run_id}",
                    message=f"{registry_id}: {why}",
                    run_id=snapshot.run_id,
                )
            )
    return findings


def _watched(workspace: Workspace) -> list[str]:
    """The registries the log covers (per the catalog), and the log itself."""
    try:
        catalog = load_catalog(workspace)
    except UsageError as exc:
        if exc.code != "NO_CATALOG":
            raise
        return [LOG_REGISTRY_ID]
    covered = [s.registry_id for s in catalog.registries if s.delta_log.covered]
    return [*[r for r in covered if r != LOG_REGISTRY_ID], LOG_REGISTRY_ID]
