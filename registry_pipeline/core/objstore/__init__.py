"""Workspaces on object storage: the bucket client (`store`) and the protocols shared state
rests on there (conditional writes only). It may import nothing of the core but `errors`: the
bottom of the house, below `seal/`, which publishes run folders through it."""

from registry_pipeline.core.objstore.store import (
    Blob,
    Conflict,
    ObjectStore,
    StoreUrl,
    parse_store_url,
)

__all__ = ["Blob", "Conflict", "ObjectStore", "StoreUrl", "parse_store_url"]
