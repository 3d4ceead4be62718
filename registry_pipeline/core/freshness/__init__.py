"""Whether a build has anything to do: its inputs against the last successful build's.

Owns the up-to-date decision (`up_to_date`) and the record of the last successful build. May
import every other core subpackage (it reads the catalog, the sources, the run roots and the
pointer history); nothing in the core imports it.
"""

from registry_pipeline.core.freshness.state import (
    STATE_RELPATH,
    Freshness,
    active_snapshots,
    build_inputs,
    current_inputs,
    record_build,
    up_to_date,
)

__all__ = [
    "STATE_RELPATH",
    "Freshness",
    "active_snapshots",
    "build_inputs",
    "current_inputs",
    "record_build",
    "up_to_date",
]
