"""Workspaces on object storage: the bucket client (`store`) and the protocols shared state
rests on there (conditional writes only): the bottom of the house, below `seal/`."""

from registry_pipeline.core.objstore.store import (
    Blob,
    Conflict,
    ObjectStore,
    StoreUrl,
    parse_store_url,
)

__all__ = ["Blob", "Conflict", "ObjectStore", "StoreUrl", "parse_store_url"]
