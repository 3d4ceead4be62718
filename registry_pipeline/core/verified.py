"""The one "this fingerprint passed these checks" cache: a small keyed store in one file.

A key is a fingerprint of what was checked (a SHA-256, a stat tuple spelled as text); its entry
says which checks passed and carries a small payload (what a skip needs to answer without
checking again). The file is a cache under `.codex/`: absent, unreadable, or of another format or
`version`, it is empty, so deleting it only costs time; it is replaced whole by
`core.fs.write_atomic`, never edited in place. Nothing that publishes may trust it: it only
ever lets a check be skipped whose inputs have the same fingerprint.

The cache checks its own place, for every user: it is given the workspace root and its path
there, and refuses (`UNSAFE_PATH`, `core.fs.require_safe`) a place that is or goes through a
symlink, or leaves the root, when opened and again before it writes: a verdict read from
elsewhere would be trusted, and one written there would land outside the workspace.

    cache = Verified(root, ".codex/cache/x.json", version="x-1")
    if not cache.passed(key, "schemas"):
        check(...)
        cache.put(key, ["schemas"], {"records": 12})
        cache.save()
"""

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
    """The cache at `relpath` in the workspace at `root` (see the module): UNSAFE_PATH when that
    place is not a real one inside it. `version` is the caller's own format: entries written
    under another are not read. `latest`: keep only the entry put last."""

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

    def passed(self, key: str, *checks: str) -> bool:
        """Whether every one of `checks` passed for `key`."""
        entry = self.get(key)
        return entry is not None and entry.checks.issuperset(checks)

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
        """Replace the file with the entries (nothing when none was put since the load);
        UNSAFE_PATH, nothing written, when its place has become a symlink or left the root."""
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
