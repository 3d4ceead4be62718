"""A workspace: its layout, catalog, source registries and snapshots; imports only `seal/`."""
