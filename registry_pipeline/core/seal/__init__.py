"""Sealing and checking one run folder (docs/SEAL_CONTRACT.md).

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""
