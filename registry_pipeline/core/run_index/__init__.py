"""The run index (seed 004): append-only run records with rules, and the four queries.

A run index is a log of the catalog (`kind: log`) sealed from one JSONL file and described by
a `run_index` block: the key (run_id), the time (created_utc), the lanes, the success and
failure predicates, the recommended and file fields (`spec`). A record is judged alone by the
schema governing the log's name (its rules are JSON Schema if/then) and its own fields
(`records`), against the other registries by the override rule and the workspace's coordination
rules (`rules`), and against its run's records by their order (`records.Order`). One path appends
one record or a million (`append`: checked, then under the lock rechecked, appended with fsync
and indexed). `RunIndex` keeps a SQLite sidecar current with the log (`index`) and
answers queries from it (`query`); its methods `show`, `runs`, `failed` and `latest` give the
same answers as pandas DataFrames. The build checks a sealed log with `log_check`. See
docs/RUN_INDEX.md.

Imports `seal`, `workspace`, `append_only` (the published snapshot a log is compared with) and
`write_path` (registry types and coordination rules); nothing above it imports this package but
`builders`-and-later layers and the CLI.
"""

from registry_pipeline.core.run_index.append import AppendResult, append_records, append_stream
from registry_pipeline.core.run_index.index import IndexState, LogIndex, Run
from registry_pipeline.core.run_index.log_check import log_prefix, log_problems
from registry_pipeline.core.run_index.query import FailedRun, RunIndex, Window, failed_runs
from registry_pipeline.core.run_index.records import RecordsError, record_text
from registry_pipeline.core.run_index.spec import IndexSpec, index_spec, index_specs

__all__ = [
    "AppendResult",
    "FailedRun",
    "IndexSpec",
    "IndexState",
    "LogIndex",
    "RecordsError",
    "Run",
    "RunIndex",
    "Window",
    "append_records",
    "append_stream",
    "failed_runs",
    "index_spec",
    "index_specs",
    "log_prefix",
    "log_problems",
    "record_text",
]
