"""Workspaces on object storage: the bucket client and conditional writes; imports only `errors`."""

from registry_pipeline.core.objstore.store import (
    Blob,
    Conflict,
    ObjectStore,
    StoreUrl,
    parse_store_url,
)

__all__ = ["Blob", "Conflict", "ObjectStore", "StoreUrl", "parse_store_url"]
