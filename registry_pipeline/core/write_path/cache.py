"""`add-entry`'s parse cache for large YAML, keyed by SHA-256 (as strict as parsing)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from registry_pipeline.core.fs import require_safe
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.verified import Verified
from registry_pipeline.core.write_path.content import ParsedFile, parse_file

CACHE_RELPATH = ".codex/cache/write_path"
VERSION = "write_path-parse-3"
MIN_BYTES = 64 * 1024
"""Smaller files are parsed each time (as fast as reading a cache entry)."""


def cache_dir(root: Path) -> Path | None:
    """The workspace's cache folder, or None when caching is off; UNSAFE_PATH."""
    if os.environ.get("REGISTRY_NO_CACHE"):
        return None
    return require_safe(root, root / CACHE_RELPATH)


def cached_parser(folder: Path | None) -> Callable[[str, bytes, str | None], ParsedFile]:
    """`parse_file`, looking large YAML lists up in `folder` first and keeping new parses."""

    def parse(path: str, data: bytes, container: str | None) -> ParsedFile:
        if folder is None or container is None or not path.endswith((".yaml", ".yml")):
            return parse_file(path, data, container)
        parsed = load(folder, path, data, container)
        if parsed is None:
            parsed = parse_file(path, data, container)
            store(folder, path, parsed, container)
        return parsed

    return parse


def _cache(folder: Path, path: str, container: str) -> Verified:
    """The cache of the registry file `path` (another ruamel.yaml release finds it empty)."""
    from ruamel.yaml import __version__

    name = sha256_bytes(f"{path}\0{container}".encode())[:32]
    version = f"{VERSION} ruamel.yaml {__version__}"
    return Verified(folder, f"{name}.json", version=version, latest=True)


def load(folder: Path | None, path: str, data: bytes, container: str) -> ParsedFile | None:
    """The cached parse of `data`, the bytes of `path`, or None (no cache, a miss)."""
    if folder is None or len(data) < MIN_BYTES:
        return None
    found = _cache(folder, path, container).get(sha256_bytes(data))
    spans = found.payload.get("spans") if found is not None else None
    kept = spans is None or (isinstance(spans, list) and all(map(_span, spans)))
    if found is None or not kept:
        return None  # not what `store` keeps (a hand edit): parsed again
    moved = None if spans is None else tuple((a, b) for a, b in spans)
    return ParsedFile(data, found.payload.get("document"), moved)


def _span(value: object) -> bool:
    """Whether `value` is a span as `store` keeps it: a list of two integers."""
    return isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)


def store(folder: Path | None, path: str, parsed: ParsedFile, container: str) -> None:
    """Keep `parsed` as the parse of `path` (best effort)."""
    if folder is None or len(parsed.data) < MIN_BYTES:
        return
    cache = _cache(folder, path, container)
    payload = {"document": parsed.document, "spans": parsed.spans}
    cache.put(sha256_bytes(parsed.data), ["parse"], payload)
    with contextlib.suppress(OSError):
        cache.save()
