"""Builders: pure functions from sealed snapshots to registry artifacts; core never imports them.

May import every other core subpackage; nothing in the core imports `builders/`.
"""
