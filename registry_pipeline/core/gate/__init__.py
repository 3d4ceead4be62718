"""The publish gate: a snapshot may become active only when every blocking check of its
registry passed on exactly that snapshot (its `ROOT_SHA256`). The Dagster asset checks, the
pointer commands, the sensor and backfills decide with these functions; the verdict is kept as a
receipt that every pointer move requires (`gate.admission`). It may import `seal`, `workspace`,
`pointers`, `append_only`, `write_path`, `run_index` and `delta_log`; never `builders` or
`adopt`.
"""
