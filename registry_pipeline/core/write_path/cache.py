"""A parse cache for large YAML registry files, used by `add-entry` only.

Parsing a YAML list of 10,000 entries costs about a second here; `add-entry` needs the parse of
the file it writes and of the files the coordination rules read. The cache keeps, per file
content, the strict parse (the document and the list items' line spans) as JSON under
`.codex/cache/write_path/`, keyed by SHA-256 of the parser's version, the list's place and the
file's bytes: the same bytes give the same parse, so a hit is exactly as strict as parsing.
After a write, the new file's entry is stored from the splice (the old parse with the one entry
inserted or replaced and the spans moved), which the splice has already checked by parsing the
entry's text again; a test compares such entries with a full parse. The build's blocking check
never reads the cache: it parses the sealed bytes. `REGISTRY_NO_CACHE=1` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from registry_pipeline.core.fs import write_atomic
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.workspace.safe_write import require_safe
from registry_pipeline.core.write_path.content import ParsedFile, parse_file

CACHE_RELPATH = ".codex/cache/write_path"
VERSION = "write_path-parse-2"
MIN_BYTES = 64 * 1024
"""Smaller files are parsed each time (as fast as reading a cache entry)."""
KEEP = 64
"""Cache entries kept (the newest); older ones are removed when one is stored."""


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
        parsed = load(folder, data, container)
        if parsed is None:
            parsed = parse_file(path, data, container)
            store(folder, parsed, container)
        return parsed

    return parse


def _key(data: bytes, container: str) -> str:
    digest = hashlib.sha256(f"{VERSION}\0{_parser_version()}\0{container}\0".encode())
    digest.update(data)
    return digest.hexdigest()


def _parser_version() -> str:
    """The YAML reader's version (`core/yaml_io.py` reads through ruamel.yaml): a parse cached by
    another release of it is parsed again."""
    from ruamel.yaml import __version__

    return str(__version__)


def load(folder: Path | None, data: bytes, container: str) -> ParsedFile | None:
    """The cached parse of `data`, or None (no cache, a miss, an unreadable entry)."""
    if folder is None or len(data) < MIN_BYTES:
        return None
    try:
        cached = loads_strict((folder / f"{_key(data, container)}.json").read_bytes())
    except (OSError, JSONDecodeProblem):
        return None
    if not isinstance(cached, dict) or cached.get("version") != VERSION:
        return None
    spans = cached.get("spans")
    return ParsedFile(
        data,
        cached.get("document"),
        tuple((int(a), int(b)) for a, b in spans) if isinstance(spans, list) else None,
    )


def store(folder: Path | None, parsed: ParsedFile, container: str) -> None:
    """Keep `parsed` for its bytes (best effort: a cache that cannot be written is skipped)."""
    if folder is None or len(parsed.data) < MIN_BYTES:
        return
    record = {
        "version": VERSION,
        "document": parsed.document,
        "spans": [list(span) for span in parsed.spans] if parsed.spans is not None else None,
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_key(parsed.data, container)}.json"
        write_atomic(path, json.dumps(record, ensure_ascii=False).encode(), durable=False)
        entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        return
