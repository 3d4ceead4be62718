"""The active pointer: its file, its store (CAS under a lock) and the hash-chained journal."""
