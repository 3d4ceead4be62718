"""Dagster-aware building blocks: the sealing IO manager, resources, check results."""
