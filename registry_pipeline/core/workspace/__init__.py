"""A workspace and what it declares: its layout, registry catalog, sources and sealed snapshots.
Depends on `seal/` only; must not import `pointers/`, `explain/`, `delta_log/` or `builders/`."""
