"""The governed write path: registry types, `add_entry`/`deprecate` (checked, spliced, atomic
under the write lock) and the coordination rules the build's check runs too (`workspace_findings`).
Must not import `explain/`, `delta_log/`, `builders/` or `adopt/`."""

from registry_pipeline.core.write_path.content import (
    Entry,
    TypeContent,
    content_of,
    entry_type,
    entry_types,
    read_type,
)
from registry_pipeline.core.write_path.rules import (
    evaluate,
    involving,
    load_coordination,
    workspace_findings,
)
from registry_pipeline.core.write_path.write import WriteResult, add_entry, deprecate

__all__ = [
    "Entry",
    "TypeContent",
    "WriteResult",
    "add_entry",
    "content_of",
    "deprecate",
    "entry_type",
    "entry_types",
    "evaluate",
    "involving",
    "load_coordination",
    "read_type",
    "workspace_findings",
]
