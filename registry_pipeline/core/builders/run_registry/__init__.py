"""The run registry builder: one record per folder under each run root, with its seal verdict.

Pure and deterministic: it reads the run roots and returns artifact bytes (no clock, no writes).
Output 1 is `RUN_REGISTRY_v0_1.jsonl`, the seed system's v0.1 line byte for byte: the same
fields, `files` the folder's top-level files, `warnings` the seed's own (`missing <file>`,
`Failed to parse run.json: <reason>`, `run.json top-level is not an object`, then ours about
unreadable subfolders), ASCII JSON, records ordered as the seed orders them (`order_key`).
Output 2 is the companion `RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl`, one line per v0.1 line in the
same order: the seal verdict and the files below the top level. Downstream builders read both
joined (`with_seal_warnings`). Run folders are immutable, so a folder that passed in the previous
snapshot with the same ROOT_SHA256 is not hashed again; a full audit hashes everything and turns
a once-passing folder that now fails into a finding.

The reuse path is cheap: given the previous `RUN_REGISTRY_v0_1.jsonl` too, a folder that passed
before costs three `lstat`s (its seal files are still regular files) and one small read (its
MANIFEST.sha256 ROOT line equals the previous root); its previous v0.1 line is then reused as it
was, without reading run.json. For an immutable folder that line is exactly what indexing it
again would write. Without the previous v0.1 file, or when its line for the folder is not a
plain passing line of the current format, the folder is listed and its line rebuilt (same
verdict).

Decisions: a configured root that does not exist yields no records and a warning in the stats;
a run.json that Python's decoder reads but our strict reader refuses (a duplicate key, NaN) is a
parse warning with our rule's words, where the seed's builder would have read it.

Layout: `_build` walks the roots and indexes a folder, `_reuse` is the cheap path, `_folder` reads
one folder, `_verdict` decides its seal status, `_previous` parses the previous snapshot,
`_model` holds the names and values, `_render` the JSON-lines encoding, `_view` the join.
"""

from registry_pipeline.core.builders.run_registry._build import (
    build_run_registry,
    index_folder,
    order_key,
)
from registry_pipeline.core.builders.run_registry._model import (
    REGISTRY_ARTIFACT,
    SEAL_STATUS_ARTIFACT,
    FolderRecord,
    RunRegistryResult,
    RunRegistryStats,
    RunRoot,
)
from registry_pipeline.core.builders.run_registry._previous import (
    PreviousLines,
    PreviousSnapshot,
    PreviousStatus,
    load_previous,
)
from registry_pipeline.core.builders.run_registry._render import render_jsonl
from registry_pipeline.core.builders.run_registry._view import (
    seal_status,
    tampered,
    with_seal_warnings,
)

__all__ = [
    "REGISTRY_ARTIFACT",
    "SEAL_STATUS_ARTIFACT",
    "FolderRecord",
    "PreviousLines",
    "PreviousSnapshot",
    "PreviousStatus",
    "RunRegistryResult",
    "RunRegistryStats",
    "RunRoot",
    "build_run_registry",
    "index_folder",
    "load_previous",
    "order_key",
    "render_jsonl",
    "seal_status",
    "tampered",
    "with_seal_warnings",
]
