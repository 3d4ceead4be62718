"""Record-level explanations of what changed between two artifact versions; pure and total.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""
