"""The one rule every write of ours obeys lives in `core.fs` (the bottom layer, so that
`core.verified` checks its own place with it); this name stays for the rooms that import it here
until their own rewrites move to `core.fs`."""

from registry_pipeline.core.fs import HOW_TO_FIX, escape_problem, require_safe, require_safe_all

__all__ = ["HOW_TO_FIX", "escape_problem", "require_safe", "require_safe_all"]
