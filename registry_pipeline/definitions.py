"""The one lazy `Definitions`: `workspace.yaml` and `dg` load it, `registry build` runs its job."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from registry_pipeline.core.builders.registry import BUILDERS, check_catalog
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.dependencies import coordination_reads
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace, resolve_workspace
from registry_pipeline.defs.assets import IO_MANAGER_KEY, registry_assets
from registry_pipeline.defs.drift_daily import (
    drift_signals_daily,
    drift_signals_daily_job,
    drift_signals_daily_schedule,
)
from registry_pipeline.defs.promotion import promotion_job, promotion_sensor
from registry_pipeline.defs.schedules import build_schedules, change_sensor
from registry_pipeline.lib.build_run import BUILD_JOB, BuildRun, RegistryWorkspace
from registry_pipeline.lib.io_manager import SealingIOManager
from registry_pipeline.lib.runs import BUILD_TAG

DEMO_WORKSPACE = Path(__file__).resolve().parent.parent


def default_workspace_root() -> Path:
    """The workspace the CLI would use here, else the demo workspace this repository ships."""
    workspace = resolve_workspace(None)
    if os.environ.get("REGISTRY_WORKSPACE") or workspace.runs_dir.is_dir():
        return workspace.root
    return DEMO_WORKSPACE


def build_definitions(root: Path) -> dg.Definitions:
    """The workspace catalog's assets and checks, the jobs, sensor, schedules and resources."""
    catalog = load_catalog(Workspace(root))
    check_catalog(catalog)
    reads = coordination_reads(root, catalog)
    assets, coordination_steps = registry_assets(catalog, BUILDERS, reads)
    return dg.Definitions(
        assets=[*assets, drift_signals_daily],
        asset_checks=coordination_steps,
        jobs=[
            dg.define_asset_job(
                BUILD_JOB,
                selection=dg.AssetSelection.assets(*assets),
                description="Build, seal and check every registry (one build at a time per "
                "workspace: a second run waits in the queue, then for the build slot); the "
                "sensor promote_after_build then requests its promotion.",
                tags={BUILD_TAG: "1"},
            ),
            promotion_job,
            drift_signals_daily_job,
        ],
        sensors=[change_sensor(root), promotion_sensor],
        schedules=[*build_schedules(str(root)), drift_signals_daily_schedule],
        # every run in one process: a run holds the build slot from its first step to its
        # last, and its resources (the build run's start and end) are set up once
        executor=dg.in_process_executor,
        resources={
            # a command's or schedule's run config sets the rest (`build_run.resources_config`)
            "registry_workspace": RegistryWorkspace(root=str(root)),
            "build_run": BuildRun(root=str(root)),
            IO_MANAGER_KEY: SealingIOManager(workspace_root=str(root)),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The definitions of $REGISTRY_WORKSPACE (or the demo), built on load, not on import."""
    root = default_workspace_root()
    try:
        return build_definitions(root)
    except RegistryError as exc:
        raise dg.DagsterInvariantViolationError(
            f"cannot load the registry graph of {root}: {exc.diagnostics()}"
        ) from None
