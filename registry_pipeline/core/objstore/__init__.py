"""Workspaces on object storage: the bucket client and conditional writes.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""

from registry_pipeline.core.objstore.store import (
    Blob,
    Conflict,
    ObjectStore,
    StoreUrl,
    parse_store_url,
)

__all__ = ["Blob", "Conflict", "ObjectStore", "StoreUrl", "parse_store_url"]
