"""The publish gate: a snapshot becomes active only once every blocking check passed on its root.

Imports the subpackages whose checks it runs; must not import `builders/` or `adopt/`.
"""
