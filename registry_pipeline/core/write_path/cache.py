"""A parse cache for large YAML registry files, used by `add-entry` only.

Parsing a YAML list of 10,000 entries costs about a second here; `add-entry` needs the parse of
the file it writes and of the files the coordination rules read. Each such file's newest strict
parse (the document and the list items' line spans) is kept in the one verified cache
(`core.verified`, one cache file per registry file under `.codex/cache/write_path/`), keyed by
SHA-256 of the file's bytes under the parser's version and the list's place: the same bytes give
the same parse, so a hit is exactly as strict as parsing. After a write, the new file's entry is
stored from the splice (the old parse with the one entry inserted or replaced and the spans
moved), which the splice has already checked by parsing the entry's text again; a test compares
such entries with a full parse. The build's blocking check never reads the cache: it parses the
sealed bytes. `REGISTRY_NO_CACHE=1` turns it off.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from registry_pipeline.core.fs import require_safe
from registry_pipeline.core.verified import Verified
from registry_pipeline.core.write_path.content import ParsedFile, parse_file

CACHE_RELPATH = ".codex/cache/write_path"
VERSION = "write_path-parse-3"
MIN_BYTES = 64 * 1024
"""Smaller files are parsed each time (as fast as reading a cache entry)."""


def cache_dir(root: Path) -> Path | None:
    """The workspace's cache folder, or None when caching is off; UNSAFE_PATH when a symlink is
    on the way (a parse read from elsewhere is not ours to trust, nor its folder ours to write)."""
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
    """The cache of the registry file `path` (its newest parse); another release of the YAML
    reader (`core/yaml_io.py` reads through ruamel.yaml) finds it empty."""
    from ruamel.yaml import __version__

    name = hashlib.sha256(f"{path}\0{container}".encode()).hexdigest()[:32]
    version = f"{VERSION} ruamel.yaml {__version__}"
    return Verified(folder, f"{name}.json", version=version, latest=True)


def load(folder: Path | None, path: str, data: bytes, container: str) -> ParsedFile | None:
    """The cached parse of `data`, the bytes of `path`, or None (no cache, a miss)."""
    if folder is None or len(data) < MIN_BYTES:
        return None
    found = _cache(folder, path, container).get(hashlib.sha256(data).hexdigest())
    spans = found.payload.get("spans") if found is not None else None
    if found is None or not isinstance(spans, list | None):
        return None
    moved = None if spans is None else tuple((int(a), int(b)) for a, b in spans)
    return ParsedFile(data, found.payload.get("document"), moved)


def store(folder: Path | None, path: str, parsed: ParsedFile, container: str) -> None:
    """Keep `parsed` as the parse of `path` (best effort: a cache that cannot be written is
    skipped)."""
    if folder is None or len(parsed.data) < MIN_BYTES:
        return
    cache = _cache(folder, path, container)
    payload = {"document": parsed.document, "spans": parsed.spans}
    cache.put(hashlib.sha256(parsed.data).hexdigest(), ["parse"], payload)
    try:
        cache.save()
    except OSError:
        return
