"""The governed write path: registry types, `add_entry`, coordination rules and their findings.

`add_entry` inserts or updates one entry by key in a hand-edited registry, checked and spliced
so every other byte stays, written atomically under the workspace's write lock; `deprecate`
marks one deprecated the same way. The build's `coordination` check runs the same rules through
`workspace_findings`. Modules: `content`, `rules`, `write`, `splice`, `cache`, `logs`,
`table`, `scaffold`.

Depends on `seal/`, `workspace/`, `pointers/` (the lock) and `append_only/` (a governed source's
promises are checked before a write); must not import `explain/`, `delta_log/`, `builders/` or
`adopt/`.
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
