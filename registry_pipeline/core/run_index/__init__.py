"""The run index (seed 004): append-only run records, rules and queries; see docs/RUN_INDEX.md.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
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
