"""The `registry` command."""

from registry_pipeline.cli.main import main

__all__ = ["main"]
