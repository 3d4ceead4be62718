"""A workspace whose shared state lives in a bucket, every write going there first."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.fs import file_stamp
from registry_pipeline.core.objstore.folders import fetch, publish, published
from registry_pipeline.core.objstore.lease import BuildLease, Grant
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.objstore.store import (
    ObjectStore,
    StoreUrl,
    parse_store_url,
    store_settings,
)
from registry_pipeline.core.seal.gitstate import CATALOG_RELPATH, catalog_document
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.workspace.input_files import worded

STORE_ENV = "REGISTRY_STORE"
RUNS_PREFIX = "RUNS"
RECEIPTS_PREFIX = "receipts"
POINTERS_PREFIX = "pointers"
"""The pointer ledger (`core.pointers.bucket`): what a build lease taken fences."""


class Rooted(Protocol):
    """A workspace, as far as this module needs one (`layout.Workspace` imports this module)."""

    @property
    def root(self) -> Path: ...


class Remote:
    """The bucket of one workspace, and what its commands fetch from it and publish to it."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.grant: Grant | None = None
        """The build lease this process holds; its pointer writes are refused once it is lost."""
        self._ledger_begun = False

    @property
    def url(self) -> str:
        return self.store.url

    def publish_folder(self, folder: Path, run_id: str) -> bool:
        """Publish the sealed `folder` as `run_id`, all or none; False when another took that id."""
        # the first publish creates the ledger's empty head: folders without one lost their
        # pointer history (POINTERS_MISSING)
        if not self._ledger_begun:
            Ledger(self.store, POINTERS_PREFIX).begin()
            self._ledger_begun = True
        try:
            publish(self.store, RUNS_PREFIX, folder, run_id, lambda: crash_point("file_uploaded"))
        except RegistryError as exc:
            if exc.code != "FOLDER_EXISTS":
                raise
            return False
        return True

    def pull_folders(self, runs_dir: Path) -> list[str]:
        """Fetch into `runs_dir` the published folders it lacks (the run ids); publish nothing."""
        have = {entry.name for entry in os.scandir(runs_dir)} if runs_dir.is_dir() else set()
        fetched = []
        for run_id in published(self.store, RUNS_PREFIX):
            if run_id not in have:
                self.fetch_folder(run_id, runs_dir)
                fetched.append(run_id)
        return fetched

    def fetch_folder(self, run_id: str, runs_dir: Path) -> Path:
        """`runs_dir/<run_id>` as published (renamed into place whole)."""
        return fetch(self.store, RUNS_PREFIX, run_id, runs_dir)

    def push_receipt(self, root_sha256: str, created_utc: str, line: bytes) -> None:
        """One receipt line of `root_sha256` (content-addressed: writing it twice is harmless)."""
        stamp = created_utc.replace(":", "").replace("-", "")
        self.store.put(f"{RECEIPTS_PREFIX}/{root_sha256}/{stamp}_{line_digest(line)}.json", line)

    def receipt_lines(self, root_sha256: str, known: set[str]) -> list[tuple[str, bytes]]:
        """(key, line) of `root_sha256`'s receipts not `known`, oldest first; callers check each."""
        found = []
        for key in sorted(self.store.keys(f"{RECEIPTS_PREFIX}/{root_sha256}/")):
            if key.removesuffix(".json").rsplit("_", 1)[-1] in known:
                continue
            blob = self.store.get(key)
            if blob is not None:
                found.append((f"{self.store.url}/{key}", blob.data))
        return found

    def lease(self, on_lost: Callable[[str], None] | None = None) -> BuildLease:
        """The build slot across machines, fencing the pointer ledger; `on_lost`: lease lost."""
        return BuildLease(self.store, ledger=Ledger(self.store, POINTERS_PREFIX), on_lost=on_lost)


def line_digest(line: bytes) -> str:
    """How a receipt line is named in the bucket: the first 16 hex digits of its SHA-256."""
    return sha256_bytes(line)[:16]


def store_url(workspace: Rooted) -> StoreUrl | None:
    """`REGISTRY_STORE`, else the catalog's `store`, parsed; None: the local filesystem."""
    raw = os.environ.get(STORE_ENV, "")
    if raw:
        return parse_store_url(raw)
    stamp = file_stamp(workspace.root / CATALOG_RELPATH)
    store = _catalog_store(str(workspace.root), stamp) if stamp else None
    return parse_store_url(store, field="store") if store else None


def remote_for(workspace: Rooted) -> Remote | None:
    """The workspace's bucket, or None (the local filesystem); settings checked at every call."""
    url = store_url(workspace)
    if url is None:
        return None
    return _remote(str(url), tuple(sorted(store_settings(os.environ).items())))


@functools.lru_cache(maxsize=32)
def _catalog_store(root: str, stamp: object) -> str | None:
    """The catalog's `store`, read leniently once per catalog version (`stamp`)."""
    with worded(Path(root) / CATALOG_RELPATH, "registry catalog"):  # a FIFO: never waited on
        document = catalog_document(Path(root))
    raw = document.get("store") if document is not None else None
    return raw if isinstance(raw, str) else None


@functools.lru_cache(maxsize=8)
def _remote(url: str, settings: tuple[tuple[str, str], ...]) -> Remote:
    """One client per bucket and settings in a process (a changed setting gets its own)."""
    return Remote(ObjectStore.open(parse_store_url(url)))
