"""registry-pipeline: governance registries as sealed, validated, lineage-tracked Dagster assets."""

from registry_pipeline._version import __version__

__all__ = ["__version__"]
