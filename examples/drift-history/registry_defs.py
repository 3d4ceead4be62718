"""This workspace's registry graph for Dagster's `dg` (dg loads a module of the
project folder; the graph is registry-pipeline's, from the catalog of the workspace dg runs in)."""

from registry_pipeline.definitions import defs

__all__ = ["defs"]
