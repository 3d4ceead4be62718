"""Builders: pure, deterministic functions from sealed inputs to registry artifacts.

One package per built registry, the adapters that feed them sealed snapshots, and `registry.py`,
the one list of builders by registry_id. May import every other subpackage of the core; nothing
in the core imports `builders/`.
"""
