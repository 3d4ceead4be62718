"""Builders: pure, deterministic functions from sealed inputs to registry artifacts."""
