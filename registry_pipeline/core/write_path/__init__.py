"""The governed write path: registry types, `add_entry`, coordination rules; docs/WRITE_PATH.md.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""

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
