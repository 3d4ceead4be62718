"""Where a workspace keeps what more than one module of `workspace/` must find (no imports, so
any of them may import it)."""

CATALOG_RELPATH = "registries/REGISTRY_CATALOG_v0_2.json"
