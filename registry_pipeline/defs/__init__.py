"""Dagster definitions only: assets generated from the catalog, checks, jobs."""
