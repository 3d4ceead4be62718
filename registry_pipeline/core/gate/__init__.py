"""The publish gate: a snapshot becomes active only once every blocking check passed on its root.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""
