"""The publish gate: the one rule deciding whether a snapshot may become active.

A snapshot may become active only when every blocking check of its registry passed on exactly
that snapshot (its `ROOT_SHA256`). The checks live here (`checks`, `registry_checks`), so that
the Dagster asset checks, `registry pointers promote/accept/rollback`, the promotion sensor and
a backfill all decide with the same functions; the verdict is kept as a receipt
(`receipts`) that every pointer move requires (`gate.admission`, which the caller passes to
each pointer store call that may move a pointer).

Depends on `seal/`, `workspace/`, `pointers/`, `append_only/`, `write_path/`, `run_index/` and
`delta_log/` (the checks); must not import `builders/` or `adopt/`.
"""
