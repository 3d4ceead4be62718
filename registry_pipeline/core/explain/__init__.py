"""Record-level explanations of what changed between two artifact versions; pure and total.

May import `seal/`, `workspace/`, `pointers/`; not `delta_log/` or `builders/`.
"""
