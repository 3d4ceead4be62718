"""One run index of a workspace: its log, its lock and its sidecar, kept current on each use."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.pointers._lock import DEFAULT_TIMEOUT, exclusive_lock
from registry_pipeline.core.run_index import sidecar
from registry_pipeline.core.run_index.spec import IndexSpec, index_spec
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import Workspace

T = TypeVar("T")

LOCK_PREFIX = ".codex/RUN_INDEX_"
"""`.codex/RUN_INDEX_<registry id>.lock`: appends to one log, and sidecar updates, one at a
time."""


@dataclass(frozen=True)
class IndexState:
    """What the sidecar says of the log beyond its records: a torn tail, lines not indexed."""

    covered: int
    """Bytes of the log indexed: up to its last complete line."""
    size: int
    """The log's size when indexed."""
    lines: int
    skipped: tuple[tuple[int, str], ...] = ()
    """(line, reason) of the first lines that could not be indexed (no key, no JSON)."""
    skipped_count: int = 0

    @property
    def torn(self) -> bool:
        """Whether the log ends in an incomplete line (an interrupted append)."""
        return self.size > self.covered


class LogIndex:
    """A workspace's run index `spec`, its log and its sidecar: `sync()` before reading;
    `locked()` around a write. `RunIndex` (`api`) adds the Python API."""

    def __init__(self, root: Path, catalog: RegistryCatalog, spec: IndexSpec) -> None:
        self.root = root
        self.catalog = catalog
        self.spec = spec
        self.log = root / spec.source
        self._db: sqlite3.Connection | None = None

    @classmethod
    def open(cls, root: Path | str, index_id: str | None = None) -> Self:
        """The run index `index_id` (default: the catalog's first) of the workspace at `root`."""
        workspace = Workspace(Path(root).absolute())
        catalog = load_catalog(workspace)
        return cls(workspace.root, catalog, index_spec(catalog, index_id))

    @property
    def lock_path(self) -> Path:
        """The lock file of this index."""
        return self.root / f"{LOCK_PREFIX}{self.spec.registry_id}.lock"

    @property
    def db(self) -> sqlite3.Connection:
        """The sidecar (opened once; rebuilt when it is not a readable SQLite file)."""
        if self._db is None:
            path = sidecar.sidecar_path(self.root, self.spec)
            try:
                self._db = sidecar.connect(path)
                sidecar.meta(self._db)
            except sqlite3.DatabaseError:
                _remove(path)
                self._db = sidecar.connect(path)
        return self._db

    def locked(self, timeout: float = DEFAULT_TIMEOUT) -> object:
        """The index lock, as a context manager."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        return exclusive_lock(self.lock_path, timeout=timeout)

    def sync(self, *, locked: bool = False) -> IndexState:
        """Bring the sidecar up to the log (taking the lock unless `locked`) and say what it
        found; LOG_MISSING when the log is gone."""
        if not self.log.is_file():
            raise RegistryError(
                "the run index's log does not exist (create it empty to start one)",
                code="LOG_MISSING",
                path=str(self.log),
            )
        try:
            self._refresh(locked)
            return self.state()
        except sqlite3.DatabaseError:
            self.discard()  # a damaged or vanished sidecar is only a cache: build it again
            try:
                self._refresh(locked)
                return self.state()
            except sqlite3.DatabaseError as exc:
                raise RegistryError(
                    f"the sidecar index cannot be used ({exc}); delete it to rebuild it",
                    code="SIDECAR_UNUSABLE",
                    path=str(sidecar.sidecar_path(self.root, self.spec)),
                ) from None

    def _refresh(self, locked: bool) -> None:
        stale = sidecar.staleness(self.db, self.spec, self.log)
        if stale is None:
            return
        if locked:
            sidecar.refresh(self.db, self.spec, self.log, stale)
            return
        with self.locked():  # type: ignore[attr-defined]
            again = sidecar.staleness(self.db, self.spec, self.log)
            if again is not None:
                sidecar.refresh(self.db, self.spec, self.log, again)

    def answer(self, question: Callable[[], T]) -> T:
        """`question()` on a current sidecar; when SQLite finds the sidecar damaged midway, it
        is rebuilt from the log and asked once more."""
        self.sync()
        try:
            return question()
        except sqlite3.DatabaseError:
            self.discard()
            self.sync()
            return question()

    def stream(self, question: Callable[[], Iterator[T]]) -> Iterator[T]:
        """`answer` for an answer given piece by piece: rebuilt and asked again when SQLite
        finds the sidecar damaged before the first piece; SIDECAR_DAMAGED (run it again) when
        after, as part of the answer is out already."""
        self.sync()
        given = False
        try:
            for item in question():
                given = True
                yield item
        except sqlite3.DatabaseError:
            self.discard()
            if given:
                raise RegistryError(
                    "the sidecar index turned out damaged while answering; it is rebuilt from "
                    "the log on the next command: run it again",
                    code="SIDECAR_DAMAGED",
                    path=str(sidecar.sidecar_path(self.root, self.spec)),
                ) from None
            self.sync()
            yield from question()

    def discard(self) -> None:
        """Close and delete the sidecar (it is rebuilt from the log on the next `sync`)."""
        self.close()
        _remove(sidecar.sidecar_path(self.root, self.spec))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state(self) -> IndexState:
        """The sidecar's account of the log (after `sync`)."""
        known = sidecar.meta(self.db)
        skipped = self.db.execute("SELECT line, reason FROM skipped ORDER BY line LIMIT 5")
        count = self.db.execute("SELECT count(*) FROM skipped").fetchone()[0]
        return IndexState(
            covered=int(known.get("covered", "0")),
            size=int(known.get("size", "0")),
            lines=int(known.get("line", "0")),
            skipped=tuple(skipped.fetchall()),
            skipped_count=count,
        )

    def close(self) -> None:
        """Close the sidecar connection."""
        if self._db is not None:
            self._db.close()
            self._db = None


def torn_error(index: LogIndex, state: IndexState) -> RegistryError:
    """LOG_TORN: the log's last line is incomplete; how to resolve it."""
    return RegistryError(
        f"the last line (line {state.lines + 1}, bytes {state.covered}..{state.size}) is "
        "incomplete: an append was interrupted. Nothing is built on it: run `registry runs "
        f"repair --index {index.spec.registry_id}` to move those bytes aside (kept under "
        ".codex/quarantine/) and append the record again",
        code="LOG_TORN",
        path=str(index.log),
    )


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
