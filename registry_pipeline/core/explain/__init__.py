"""Record-level explanations of what changed between two versions of an artifact (JSON, JSONL,
YAML): ids added, removed and changed, and which fields. Pure and total: bad content is explained
as unparseable, never raised.

Used by the delta log's `show --explain`; depends on `seal/` (and may use `workspace/`,
`pointers/`); must not import `delta_log/` or `builders/`.
"""
