"""Whether a build has anything to do; imports what `.importlinter` allows it."""

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
