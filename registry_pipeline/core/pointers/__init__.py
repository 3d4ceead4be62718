"""The active pointer: its file, its store (CAS under a lock) and the hash-chained journal.

May import `seal/` and `workspace/`; must not import `explain/`, `delta_log/`, `builders/`.
"""
