"""Whether a build has anything to do: its inputs against the last successful build's.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""

from registry_pipeline.core.freshness.state import (
    STATE_RELPATH,
    Freshness,
    active_snapshots,
    build_inputs,
    current_inputs,
    drop_stashed,
    record_build,
    recorded_run,
    stash_inputs,
    stashed_inputs,
    stashed_runs,
    up_to_date,
)

__all__ = [
    "STATE_RELPATH",
    "Freshness",
    "active_snapshots",
    "build_inputs",
    "current_inputs",
    "drop_stashed",
    "record_build",
    "recorded_run",
    "stash_inputs",
    "stashed_inputs",
    "stashed_runs",
    "up_to_date",
]
