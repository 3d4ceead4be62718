"""The CLI tests' fixtures (`cli`, `demo`) are the root conftest's, shared with the other
folders; `Run` is the type of `cli`."""

from registry_pipeline_tests._helpers import Run

__all__ = ["Run"]
