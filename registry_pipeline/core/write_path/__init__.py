"""The governed write path (docs/WRITE_PATH.md); imports what `.importlinter` allows it."""

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
