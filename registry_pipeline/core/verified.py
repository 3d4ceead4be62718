"""The one "this fingerprint passed these checks" cache; nothing that publishes trusts it."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.fs import QUARANTINE_RELPATH as QUARANTINE_RELPATH
from registry_pipeline.core.fs import (
    TooLarge,
    file_kind,
    quarantine,
    read_regular,
    require_safe,
    write_atomic,
)

FORMAT = "registry-verified-1"
LIMIT = 64 << 20
"""The largest cache file read (a larger one is set aside: a cache, not a record)."""
_TAKEN: list[tuple[Path, SetAside]] = []
"""(workspace root, what was set aside) of every cache of this process (`take_set_aside`)."""


@dataclass(frozen=True)
class SetAside:
    """What stood in a cache file's place and was no JSON cache file: moved to quarantine,
    unopened, the cache rebuilt (the run index's sidecar says the same in the same words)."""

    path: str
    """The place, workspace-relative (`.codex/cache/verdicts.json`)."""
    found: str
    """What stood there: `a symlink (to /dev/zero), not a regular file`, `not JSON`."""
    kept_at: str
    """Where it is kept now, workspace-relative (under `.codex/quarantine/`)."""

    def as_json(self) -> dict[str, str]:
        """The object a `--json` document lists it as (`path`, `found`, `kept_at`)."""
        return asdict(self)

    def note(self, workspace: Path, rebuilt: str = "the cache is rebuilt") -> str:
        """How a command says it, once (after `note: `): every cache and sidecar alike."""
        return (
            f"SET_ASIDE {workspace / self.path}: it was {self.found}; it is kept at "
            f"{self.kept_at} and {rebuilt}"
        )


@dataclass(frozen=True)
class Entry:
    """What passed for one fingerprint."""

    checks: frozenset[str]
    """The names of the checks that passed."""
    payload: Mapping[str, Any] = field(default_factory=dict)
    """What the checks found that a skip still needs (small, JSON)."""


class Verified:
    """The cache at `relpath` in the workspace at `root`; UNSAFE_PATH when a folder on the way
    escapes it. What stands in the file's place and is no JSON cache file (a symlink, a FIFO, a
    device, a folder, over LIMIT bytes, garbage) is never read through: it is set aside, as it
    is, under the workspace's `.codex/quarantine/` and the cache starts empty (`set_aside`)."""

    def __init__(self, root: Path, relpath: str, *, version: str, latest: bool = False) -> None:
        self.root = root
        self.path = root / relpath
        require_safe(root, self.path.parent)  # the file itself: `_set_aside` when no file
        self.version = version
        self.latest = latest
        self._entries: dict[str, Entry] | None = None
        self._dirty = False
        self.set_aside: list[SetAside] = []
        """What stood in the file's place and was moved to quarantine, unopened (said once by
        the caller; `take_set_aside` gives those of every cache of the process)."""

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
        require_safe(self.root, self.path.parent)  # again: a link may be on the way since
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # none there yet
            there = os.lstat(self.path)
            if not stat.S_ISREG(there.st_mode):  # planted since the load: never written through
                self._set_aside(there)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(document, separators=(",", ":")).encode(), durable=False)
        self._dirty = False

    def _load(self) -> dict[str, Entry]:
        document = self._read()
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

    def _read(self) -> object:
        """The file's JSON, or None; what is there and no JSON cache file is set aside."""
        try:
            before = os.lstat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(before.st_mode):  # a link, a FIFO, a device: never opened
            self._set_aside(before)
            return None
        try:
            data = read_regular(self.path, LIMIT)
        except TooLarge:
            self._set_aside(before, f"larger than {LIMIT} bytes")
            return None
        except OSError:  # gone or swapped meanwhile, unreadable: an empty cache
            return None
        try:
            return json.loads(data) if data else None
        except (ValueError, RecursionError):  # nested past what the parser recurses included
            self._set_aside(before, "not JSON")
            return None

    def _set_aside(self, seen: os.stat_result, found: str = "") -> None:
        """Move what stands at the file's place (`seen` there: `os.lstat`) to the workspace's
        quarantine, unopened; nothing when it is gone or replaced meanwhile (another process
        saved the cache), or when the move fails (a read-only workspace, a quarantine that is or
        goes through a symlink: the cache is only empty); `found`: what it is, else its kind."""
        found = found or f"a {file_kind(seen.st_mode, self.path)}, not a regular file"
        workspace = _workspace_of(self.root)
        try:
            now = os.lstat(self.path)
            if (now.st_dev, now.st_ino) != (seen.st_dev, seen.st_ino):
                return  # replaced meanwhile: not what was judged
            kept = quarantine(workspace, self.path, self.path.name)
        except (OSError, RegistryError):  # a quarantine through a link: never moved; only empty
            return
        relpath, kept_at = (p.relative_to(workspace).as_posix() for p in (self.path, kept))
        aside = SetAside(relpath, found, kept_at)
        self.set_aside.append(aside)
        _TAKEN.append((workspace, aside))


def take_set_aside() -> list[tuple[Path, SetAside]]:
    """(workspace root, what was set aside) of every cache of this process since the last call,
    for a command to say once (`note: SET_ASIDE ...`, `SetAside.note`)."""
    taken = list(_TAKEN)
    del _TAKEN[: len(taken)]
    return taken


def _workspace_of(root: Path) -> Path:
    """The workspace of a cache whose root is `root`: the folder holding `.codex/cache/` when
    `root` is in there (a cache folder of its own: `.codex/cache/write_path`), else `root`."""
    for above in (root, root.parent):
        if above.name == "cache" and above.parent.name == ".codex":
            return above.parent.parent
    return root


def read_cache(path: Path, limit: int = LIMIT) -> object:
    """The JSON of the cache file at `path`, or None: absent, not a regular file (a symlink,
    a FIFO, a device: never opened through, never waited on), over `limit` bytes or garbage
    (nested past what the parser recurses included): a cache, not a record."""
    try:
        return json.loads(read_regular(path, limit) or b"null")
    except (OSError, ValueError, RecursionError):
        return None
