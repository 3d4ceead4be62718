"""The registry definitions with Dagster's multiprocess executor: each step of a run in a process
of its own (docs/DEPLOYMENT.md says what that costs here, and why the shipped definitions keep
the in-process executor).

Load it as a code location: `dagster dev -f examples/deploy/multiprocess/definitions.py`, with
DAGSTER_HOME on a persistent instance (the multiprocess executor needs one; SQLite or PostgreSQL)
and REGISTRY_WORKSPACE naming the workspace.
"""

import dagster as dg

from registry_pipeline.definitions import build_definitions, default_workspace_root

MAX_CONCURRENT = 2
"""Step processes at once (each imports Dagster and the package: about 1 s and 100 MB)."""


@dg.definitions
def defs() -> dg.Definitions:
    """The shipped definitions, every job without an executor of its own on `multiprocess`."""
    shipped = build_definitions(default_workspace_root())
    return dg.Definitions(
        assets=shipped.assets,
        asset_checks=shipped.asset_checks,
        jobs=shipped.jobs,
        sensors=shipped.sensors,
        schedules=shipped.schedules,
        resources=shipped.resources,
        executor=dg.multiprocess_executor.configured({"max_concurrent": MAX_CONCURRENT}),
    )
