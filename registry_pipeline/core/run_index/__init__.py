"""The run index (seed 004): append-only run records with rules, and the four queries.

A run index is a log of the catalog (`kind: log`) sealed from one JSONL file and described by
a `run_index` block: the key (run_id), the time (created_utc), the lanes, the success and
failure predicates, the recommended and file fields. Records are validated by the schema
governing the log's name (its rules are JSON Schema if/then), by the workspace's coordination
rules and by the index itself: a record's own fields (`fields`: absolute paths, required at
Final Save), the override of a run that passed despite a failed uniqueness check
(`overrides`), and an augmenting record after the run's latest (`order`). `RunIndex` keeps a
SQLite sidecar current with the log and answers queries from it (`query`, `failed`); its
methods `show`, `runs`, `failed` and `latest` give the same answers as pandas DataFrames. See
docs/RUN_INDEX.md.

Imports `seal`, `workspace`, `pointers` (the lock), `append_only` (the published snapshot a log
is compared with) and `write_path` (registry types and coordination rules); nothing above it
imports this package but `builders`-and-later layers and the CLI.
"""

from registry_pipeline.core.run_index.api import RunIndex
from registry_pipeline.core.run_index.append import AppendResult, append_records
from registry_pipeline.core.run_index.failed import FailedRun, failed_runs
from registry_pipeline.core.run_index.index import IndexState, LogIndex
from registry_pipeline.core.run_index.log_check import log_problems
from registry_pipeline.core.run_index.query import Run, Window
from registry_pipeline.core.run_index.records import RecordProblem, RecordsError
from registry_pipeline.core.run_index.spec import IndexSpec, index_spec, index_specs

__all__ = [
    "AppendResult",
    "FailedRun",
    "IndexSpec",
    "IndexState",
    "LogIndex",
    "RecordProblem",
    "RecordsError",
    "Run",
    "RunIndex",
    "Window",
    "append_records",
    "failed_runs",
    "index_spec",
    "index_specs",
    "log_problems",
]
