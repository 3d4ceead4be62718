"""Builders: pure, deterministic functions from sealed inputs to registry artifacts.

One module per built registry, its `build(inputs)` over sealed snapshots (never live files);
`registry.py` lists them by registry_id. Nothing in the core imports `builders/`.
"""
