"""The write path's override log is a log registry of every workspace that has one.

`registry add-entry --no-check` appends the audit of each override to
`registries/WRITE_OVERRIDES_v0_1.jsonl`. Once that file exists (or a snapshot of it does), the
catalog has the log registry `write_overrides`, declared here as the catalog entry it would
have: every build seals the file and its blocking `append_only` check (the previous sealed log
is an exact prefix, as for every log with sources) refuses a rewrite, an emptied log included;
a deleted one fails the build (its source is missing). One rule for every workspace: the demo,
one `registry init` made, an adopted one. A catalog that lists the file as a source declares it
itself.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.workspace.layout import RUNS_RELPATH

WRITE_OVERRIDES_RELPATH = "registries/WRITE_OVERRIDES_v0_1.jsonl"
"""The write path's override log: the audit of every `add-entry --no-check` write."""
WRITE_OVERRIDES_ID = "write_overrides"
ENTRY: dict[str, Any] = {
    "registry_id": WRITE_OVERRIDES_ID,
    "schema_id": "REGISTRY_write_overrides_v0_1",
    "schema_version": "0.1",
    "artifact_type": "jsonl_registry",
    "description": "The write path's override log: one record per `registry add-entry "
    "--no-check` write, appended before the write. Append-only: a log that does not extend "
    "its sealed snapshot fails the build's append_only check.",
    "write_policy": "append_only",
    "build_operation_id": None,
    "kind": "log",
    "artifacts": [Path(WRITE_OVERRIDES_RELPATH).name],
    "depends_on": [],
    "active_pointer": True,
    "delta_log": {
        "covered": False,
        "reason": "the write path's audit log: sealed by every build and append-only checked; "
        "not among the delta log's dependencies",
    },
    "sources": [WRITE_OVERRIDES_RELPATH],
    "in_scorecard": False,
}
"""The catalog entry of the override log, as a catalog would declare it."""


def override_log_entries(
    declared: list[dict[str, Any]], root: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries to add to the catalog `declared` of the workspace at `root` (the override
    log's once the workspace has one and the catalog does not list it), and the problems (a
    declared registry taking its id for something else)."""
    if any(WRITE_OVERRIDES_RELPATH in entry.get("sources", ()) for entry in declared):
        return [], []
    if not (os.path.lexists(root / WRITE_OVERRIDES_RELPATH) or _sealed(root / RUNS_RELPATH)):
        return [], []
    if any(entry["registry_id"] == WRITE_OVERRIDES_ID for entry in declared):
        return [], [
            f"/registries: {WRITE_OVERRIDES_ID!r} is the registry of the write path's override "
            f"log ({WRITE_OVERRIDES_RELPATH}); give this registry another id, or list that "
            "file as its source"
        ]
    return [ENTRY], []


def _sealed(runs: Path) -> bool:
    """Whether `runs` holds a run folder of the override log, by name (cached per state of the
    folder: adding or removing a folder changes its mtime)."""
    try:
        info = runs.stat()
    except OSError:
        return False
    return _has_folder(str(runs), (info.st_ino, info.st_mtime_ns))


@functools.lru_cache(maxsize=32)
def _has_folder(runs: str, _state: object) -> bool:
    try:
        with os.scandir(runs) as entries:
            return any(
                WRITE_OVERRIDES_ID in entry.name and registry_of(entry.name) == WRITE_OVERRIDES_ID
                for entry in entries
            )
    except OSError:
        return False
