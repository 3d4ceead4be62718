"""Builders: pure, deterministic functions from sealed inputs to registry artifacts.

One module per built registry, each with its `build(inputs)` over sealed snapshots (never live
files), the health report's text in Jinja2 templates (`templates/`), and `registry.py`, the one
list of builders by registry_id. May import every other subpackage of the core; nothing in the
core imports `builders/`.
"""
