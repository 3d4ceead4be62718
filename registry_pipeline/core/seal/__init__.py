"""Sealing and checking one run folder: the byte-level contract of docs/SEAL_CONTRACT.md.

Imports nothing of the core but its bottom layer: a run folder can be sealed and validated with
every other subpackage absent (the run store publishes into anything shaped like a workspace).
"""
