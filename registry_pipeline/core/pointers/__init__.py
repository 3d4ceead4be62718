"""The active pointer: the one mutable file, its store (compare-and-swap under a lock, with
re-validation of the target), the hash-chained journal of every change and its replay (time travel).

Depends on `seal/` and `workspace/`; must not import `explain/`, `delta_log/` or `builders/`.
"""
