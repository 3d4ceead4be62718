"""A workspace: its layout, catalog, source registries and snapshots.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""
