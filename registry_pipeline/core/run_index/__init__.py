"""The run index (seed 004): append-only run records with rules, and the four queries.

A catalog log with a `run_index` block (`spec`). A record is judged alone (`records`), against
the other registries (`rules`) and its run's records (`records.Order`); one path appends one
record or a million (`append`). `RunIndex` keeps a SQLite sidecar (`sidecar`) current with the
log (`index`) and answers queries from it (`query`), also as pandas DataFrames; the build checks
a sealed log with `log_check`. See docs/RUN_INDEX.md. Imports `seal`, `workspace`,
`append_only` and `write_path` (registry types, coordination rules); imported by `builders` and
later layers and the CLI.
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
