"""The active pointer: its file, its store (CAS under a lock) and the hash-chained journal.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""
