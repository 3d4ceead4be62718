"""Builders: pure functions from sealed snapshots to registry artifacts; core never imports them.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""
