"""The one "this fingerprint passed these checks" cache; nothing that publishes trusts it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core.fs import read_small, require_safe, write_atomic

FORMAT = "registry-verified-1"
LIMIT = 64 << 20
"""The largest cache file read (a larger one is empty: a cache, not a record)."""


@dataclass(frozen=True)
class Entry:
    """What passed for one fingerprint."""

    checks: frozenset[str]
    """The names of the checks that passed."""
    payload: Mapping[str, Any] = field(default_factory=dict)
    """What the checks found that a skip still needs (small, JSON)."""


class Verified:
    """The cache at `relpath` in the workspace at `root`; UNSAFE_PATH when that place escapes it."""

    def __init__(self, root: Path, relpath: str, *, version: str, latest: bool = False) -> None:
        self.root = root
        self.path = require_safe(root, root / relpath)
        self.version = version
        self.latest = latest
        self._entries: dict[str, Entry] | None = None
        self._dirty = False

    @property
    def entries(self) -> dict[str, Entry]:
        if self._entries is None:
            self._entries = self._load()
        return self._entries

    def get(self, key: str) -> Entry | None:
        """The entry of `key`, or None when nothing was verified with that fingerprint."""
        return self.entries.get(key)

    def last(self) -> tuple[str, Entry] | None:
        """The entry put last (its key and itself), or None when empty."""
        return next(reversed(self.entries.items()), None)

    def put(
        self, key: str, checks: Iterable[str], payload: Mapping[str, Any] | None = None
    ) -> None:
        """Record that `checks` passed for `key` (with `payload`); kept on `save`."""
        entry = Entry(frozenset(checks), dict(payload or {}))
        if self.latest:
            self._entries = {}
        self.entries.pop(key, None)
        self.entries[key] = entry
        self._dirty = True

    def save(self) -> None:
        """Replace the file with the entries; UNSAFE_PATH, nothing written, if its place escapes."""
        if not self._dirty:
            return
        document = {
            "format": FORMAT,
            "version": self.version,
            "entries": {
                key: {"checks": sorted(entry.checks), "payload": entry.payload}
                for key, entry in self.entries.items()
            },
        }
        require_safe(self.root, self.path)  # again: a link may have been planted since the load
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(document, separators=(",", ":")).encode(), durable=False)
        self._dirty = False

    def _load(self) -> dict[str, Entry]:
        document = _read(self.path)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            return {}
        entries = document.get("entries")
        if document.get("version") != self.version or not isinstance(entries, dict):
            return {}
        loaded = {}
        for key, raw in entries.items():
            checks = raw.get("checks") if isinstance(raw, dict) else None
            payload = raw.get("payload", {}) if isinstance(raw, dict) else None
            if isinstance(checks, list) and isinstance(payload, dict):
                loaded[key] = Entry(frozenset(str(check) for check in checks), payload)
        return loaded


def _read(path: Path) -> object:
    """The JSON of the cache file (never through a symlink, a FIFO or a device), or None."""
    try:
        return json.loads(read_small(path, LIMIT) or b"null")
    except ValueError:
        return None
