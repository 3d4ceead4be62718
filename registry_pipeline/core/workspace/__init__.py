"""A workspace and what it declares: its layout on disk, the registry catalog, its source
registries and the sealed snapshots of each registry.

Depends on `seal/` only; must not import `pointers/`, `explain/`, `delta_log/` or `builders/`.
"""
