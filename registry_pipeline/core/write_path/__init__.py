"""The governed write path: registry types, `add_entry`, coordination rules and their findings.

`add_entry` inserts or updates one entry by key in a hand-edited registry (JSON or YAML; one
file holding a list or a map, or one file per entry), validated against its schema, checked
against the other registries by the workspace's coordination rules, spliced into the file so
every other byte stays, and written atomically under the workspace's write lock; `deprecate`
marks one entry deprecated the same way (nothing removes one). The build's blocking
`coordination` check runs the same rules through `workspace_findings`. `scaffold` writes the
seed's registry types into a fresh workspace (`registry init --with-write-path`).

One module per behaviour: `content` (types, entries, the one reader, findings), `rules` (entry
schemas, coordination rules and lifecycle markers), `write` (add-entry and deprecate), `splice`
(the new YAML file text), `json_splice` (the new JSON file text), `cache` (the YAML parse
cache), `logs` (overrides and notes), `table` (the generated tables) and `scaffold` (its files
are data, in `scaffold/`).

Depends on `seal/`, `workspace/`, `pointers/` (the lock) and `append_only/` (a governed source's
promises are checked before a write); must not import `explain/`, `delta_log/`, `builders/` or
`adopt/`.
"""

from registry_pipeline.core.write_path.content import (
    SEVERITIES,
    Entry,
    EntryType,
    TypeContent,
    content_of,
    entry_error,
    entry_type,
    entry_types,
    read_type,
    registry_file_error,
)
from registry_pipeline.core.write_path.rules import (
    Coordination,
    Rule,
    evaluate,
    involving,
    load_coordination,
    workspace_findings,
)
from registry_pipeline.core.write_path.write import WriteResult, add_entry, deprecate

__all__ = [
    "SEVERITIES",
    "Coordination",
    "Entry",
    "EntryType",
    "Rule",
    "TypeContent",
    "WriteResult",
    "add_entry",
    "content_of",
    "deprecate",
    "entry_error",
    "entry_type",
    "entry_types",
    "evaluate",
    "involving",
    "load_coordination",
    "read_type",
    "registry_file_error",
    "workspace_findings",
]
