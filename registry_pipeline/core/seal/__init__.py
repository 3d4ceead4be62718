"""Sealing and checking one run folder (docs/SEAL_CONTRACT.md); imports only the core's bottom."""
