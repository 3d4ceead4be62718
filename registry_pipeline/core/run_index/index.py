"""One run index of a workspace: log, lock and sidecar kept current; runs read from the log."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, NamedTuple, Self, TypeVar

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.fs import (
    open_file,
    open_regular,
    quarantine,
    require_safe,
    require_safe_all,
)
from registry_pipeline.core.lock import DEFAULT_TIMEOUT, exclusive_lock
from registry_pipeline.core.run_index.records import batched
from registry_pipeline.core.run_index.sidecar import (
    CACHE_RELPATH,
    cannot_write,
    connect,
    connect_private,
    connect_readonly,
    indexed_record,
    is_damaged,
    is_read_only,
    meta,
    misfits,
    refresh,
    staleness,
    stamp,
)
from registry_pipeline.core.run_index.spec import (
    EARLIEST,
    IndexSpec,
    index_spec,
)
from registry_pipeline.core.verified import QUARANTINE_RELPATH, SetAside
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.input_files import not_regular
from registry_pipeline.core.workspace.layout import Workspace

T = TypeVar("T")

TORN_TAIL = jsonl.TornTail.QUARANTINE
"""A run index's log: readers skip a torn last line, an append refuses it, `registry runs
repair` moves it aside."""
LOCK_PREFIX = ".codex/RUN_INDEX_"
"""`.codex/RUN_INDEX_<registry id>.lock`: one log's appends and sidecar updates, one at a time."""


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


MARK_BYTES = 256
"""The bytes before a mark's end that must still be there for the lines after it to be new."""


@dataclass(frozen=True)
class Mark:
    """A log as it was: its stat, the end of its complete lines and the bytes just before it."""

    info: os.stat_result
    covered: int
    before: bytes


class LogIndex:
    """A workspace's run index: `sync()` before reading, `locked()` around a write."""

    def __init__(self, root: Path, catalog: RegistryCatalog, spec: IndexSpec) -> None:
        self.root = root
        self.catalog = catalog
        self.spec = spec
        self.log = root / spec.source
        self.lock_path = root / f"{LOCK_PREFIX}{spec.registry_id}.lock"
        self.sidecar = root / CACHE_RELPATH / f"{spec.registry_id}.sqlite3"
        self.fallback: RegistryError | None = None
        """Why this index answers from a private temporary database (None: it does not)."""
        self.set_aside: list[SetAside] = []
        """What stood in the sidecar's place and was moved to quarantine (said once, by the
        caller: the CLI's `note: SET_ASIDE`)."""
        self._db: sqlite3.Connection | None = None
        self._mode = ""
        """How `_db` is open: `ro`, `rw` (under the lock) or `private`."""
        self._held = False
        """Whether `locked()` holds the lock now (a sync within it does not take it again)."""

    @classmethod
    def open(cls, root: Path | str, index_id: str | None = None) -> Self:
        """The run index `index_id` (default: the catalog's first) of the workspace at `root`."""
        workspace = Workspace(Path(root).absolute())
        catalog = load_catalog(workspace)
        return cls(workspace.root, catalog, index_spec(catalog, index_id))

    @property
    def private(self) -> bool:
        """Whether this index answers from a private temporary database."""
        return self._mode == "private"

    @property
    def db(self) -> sqlite3.Connection:
        """The sidecar connection (synced first when none is open yet)."""
        if self._db is None:
            self.sync()
        assert self._db is not None
        return self._db

    @contextlib.contextmanager
    def locked(self, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
        """The index lock held for the block (UNSAFE_PATH outside the workspace)."""
        require_safe(self.root, self.lock_path)
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.lock_path, timeout=timeout):
            self._held = True
            try:
                yield
            finally:
                self._held = False

    def mark(self) -> Mark | None:
        """The log as it is now (None: it cannot be read), for `appended_since`."""
        try:
            with open_file(self.log, follow_symlinks=True) as handle:
                info = os.fstat(handle.fileno())
                covered = jsonl.last_newline(handle, info.st_size) + 1
                handle.seek(max(0, covered - MARK_BYTES))
                return Mark(info, covered, handle.read(covered - handle.tell()))
        except OSError:
            return None

    def appended_since(self, mark: Mark | None) -> Iterator[dict[str, Any]] | None:
        """The records of the complete lines the log gained since `mark` (None: not written
        since), all of them when it was rewritten since; OSError: it cannot be read."""
        now = self.log.stat()
        if mark is not None and stamp(now) == stamp(mark.info):
            return None
        return self._records_from(0 if mark is None else mark.covered, mark)

    def _records_from(self, start: int, mark: Mark | None) -> Iterator[dict[str, Any]]:
        """The records of the log's complete lines from `start`, which ends `mark`'s complete
        lines, else from the first line; a line the index cannot read is no record."""
        with open_file(self.log, follow_symlinks=True) as handle:
            if mark is not None and start:
                handle.seek(start - len(mark.before))
                if handle.read(len(mark.before)) != mark.before:
                    handle.seek(0)  # not the lines marked: a rewrite, read whole
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # an incomplete last line is no record yet
                record = indexed_record(self.spec, line[:-1])
                if not isinstance(record, str):
                    yield record

    def sync(self, *, locked: bool = False) -> IndexState:
        """Bring the sidecar up to the log; LOG_MISSING when it is gone, NOT_A_REGULAR_FILE
        when a FIFO or a device stands there (never read); `locked`: lock held."""
        self._require_log()
        locked = locked or self._held
        for attempt in range(2):
            self._bring_up(locked)
            try:
                return self.state()
            except sqlite3.DatabaseError as exc:  # a page no check before it read
                if attempt:
                    unusable = f"the sidecar index fails ({exc})"
                    raise self._failed("SIDECAR_UNUSABLE", unusable) from None
                self._rebuild(exc)
        raise AssertionError("unreachable")

    def _require_log(self) -> None:
        try:
            mode = self.log.stat().st_mode
        except OSError:
            mode = 0
        if stat.S_ISREG(mode):
            return
        if mode and not stat.S_ISDIR(mode):
            raise not_regular(mode, str(self.log), "run index's log")
        raise RegistryError.of("LOG_MISSING", path=self.log)

    def _bring_up(self, locked: bool) -> None:
        """The sidecar brought up to the log (a private one when the workspace's cannot be)."""
        if self.private:
            self._refresh_private()
        elif locked or not self._current():
            try:
                require_safe(self.root, self.sidecar.parent)  # a partner's too, under a lock held
                with contextlib.nullcontext() if locked else self.locked():
                    self._set_aside_misfits()
                    require_safe(self.root, self.sidecar)
                    self._refresh_writable()
            except UsageError as exc:
                if exc.code != "UNSAFE_PATH":
                    raise
                self._go_private(exc)
            except (OSError, sqlite3.Error) as exc:
                if isinstance(exc, OSError) and not cannot_write(exc):
                    raise
                self._go_private(self._unwritable(exc))

    def _current(self) -> bool:
        """Whether the open sidecar, else the workspace's read-only, is current (no write)."""
        if self._db is None:
            try:
                require_safe(self.root, self.sidecar)
                if misfits(self.sidecar):  # never given to SQLite: set aside under the lock
                    return False
                self._db = connect_readonly(self.sidecar)
            except (UsageError, sqlite3.Error):
                return False
            if self._db is None:
                return False
            self._mode = "ro"
        try:
            return staleness(self._db, self.spec, self.log) is None
        except sqlite3.Error:
            self.close()
            return False

    def _set_aside_misfits(self) -> None:
        """Move what stands in the sidecar's place and is no file SQLite may open (`misfits`)
        to quarantine, unopened, for the sidecar to be rebuilt (under the lock)."""
        found = misfits(self.sidecar)
        if not found:
            return
        self.close()
        for place, what in found:
            name = f"{self.spec.registry_id}{place.name[len(self.sidecar.stem) :]}"  # .sqlite3-wal
            try:
                kept = quarantine(self.root, place, name)
            except FileNotFoundError:
                continue  # gone meanwhile: nothing to keep
            relpath = place.relative_to(self.root).as_posix()
            self.set_aside.append(SetAside(relpath, what, kept.relative_to(self.root).as_posix()))

    def _refresh_writable(self) -> None:
        """Bring the workspace's sidecar up to the log under the lock, rebuilding a damaged one."""
        for attempt in range(2):
            try:
                if self._db is None or self._mode != "rw":
                    self.close()
                    self._db = connect(self.sidecar)
                    self._mode = "rw"
                refresh(self._db, self.spec, self.log)
                return
            except sqlite3.DatabaseError as exc:
                if attempt or not is_damaged(exc):
                    raise
                self.discard()

    def _refresh_private(self) -> None:
        assert self._db is not None
        try:
            refresh(self._db, self.spec, self.log)
        except sqlite3.Error as exc:
            unusable = f"the temporary index cannot be built ({exc})"
            raise self._failed("SIDECAR_UNUSABLE", unusable) from None

    def _go_private(self, why: RegistryError) -> None:
        """From now on, answer from a private temporary index built from the log."""
        self.close()
        self._db = connect_private()
        self._mode = "private"
        self.fallback = why
        self._refresh_private()

    def _unwritable(self, exc: OSError | sqlite3.Error) -> RegistryError:
        """Why the workspace's sidecar cannot be brought up to the log."""
        where = getattr(exc, "filename", None) or str(self.sidecar)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        read_only = is_read_only(exc)
        code = "SIDECAR_READ_ONLY" if read_only else "SIDECAR_UNWRITABLE"
        return self._failed(code, reason, str(where))

    def _failed(self, code: str, reason: str = "", path: str | None = None) -> RegistryError:
        """The sidecar failure `code`, at `path` (default: the sidecar's)."""
        return RegistryError.of(code, path=path or self.sidecar, reason=reason)

    def answer(self, question: Callable[[], T]) -> T:
        """`question()` on a current sidecar, asked again once rebuilt if found damaged."""
        return next(self.stream(lambda: iter((question(),))))

    def stream(self, question: Callable[[], Iterator[T]]) -> Iterator[T]:
        """`question()`'s pieces, asked again if damaged before the first, else SIDECAR_DAMAGED."""
        self.sync()
        given = False
        try:
            for item in question():
                given = True
                yield item
        except sqlite3.DatabaseError as exc:
            if given and is_damaged(exc):
                with contextlib.suppress(OSError):
                    self.discard()
                raise self._failed("SIDECAR_DAMAGED") from None
            self._rebuild(exc)
            self.sync()
            yield from question()

    def _rebuild(self, exc: sqlite3.DatabaseError) -> None:
        """Discard a damaged index for the next `sync` to rebuild; else SIDECAR_UNUSABLE."""
        if not is_damaged(exc):
            message = f"the sidecar index failed while answering ({exc}); run the command again"
            raise self._failed("SIDECAR_UNUSABLE", message) from None
        try:
            self.discard()
        except OSError as failed:
            self._go_private(self._unwritable(failed))

    def discard(self) -> None:
        """Close and delete the sidecar (rebuilt on the next `sync`); a private one is dropped."""
        private = self.private
        self.close()
        if private:
            self._db, self._mode = connect_private(), "private"
            return
        require_safe(self.root, self.sidecar)
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.sidecar}{suffix}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state(self) -> IndexState:
        """The sidecar's account of the log (after `sync`)."""
        known = meta(self.db)
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
        """Close the sidecar."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._mode = ""


def unreadable_error(index: LogIndex, state: IndexState) -> RegistryError:
    """LOG_UNREADABLE: complete lines the index cannot read (no JSON object, key or time)."""
    first = "; ".join(f"line {line}: {reason}" for line, reason in state.skipped)
    reason = (
        f"{state.skipped_count} line(s) cannot be read ({first}): nothing is appended onto them; "
        "fix those lines by hand (git shows how they changed), then append again"
    )
    return RegistryError.of("LOG_UNREADABLE", path=index.log, reason=reason)


@dataclass(frozen=True)
class Repair:
    """What `repair` did: the bytes moved aside and where they are kept (None: nothing torn)."""

    moved: int
    kept_at: str | None
    size: int
    """The log's size after."""
    set_aside: tuple[SetAside, ...] = ()
    """What stood in the sidecar's place and was moved to quarantine before it was rebuilt."""
    reindexed: bool = False
    """Whether the sidecar was deleted and rebuilt from the log (`reindex`)."""


def repair(index: LogIndex, *, reindex: bool = False) -> Repair:
    """Under the index lock: quarantine a torn last line, then cut the log back; with
    `reindex`, delete the sidecar and rebuild it from the log. Whatever stands in the sidecar's
    place that SQLite may not open is set aside first (`SetAside`); a sidecar that cannot be
    rebuilt in the workspace is its error (SIDECAR_READ_ONLY...), never a temporary one."""
    folder = index.root / QUARANTINE_RELPATH
    require_safe_all(index.root, [index.log, index.lock_path, index.sidecar.parent, folder])
    with index.locked():
        state = index.sync(locked=True)
        done = Repair(0, None, state.size)
        if state.torn:
            with open_file(index.log, follow_symlinks=True) as handle:
                handle.seek(state.covered)
                tail = handle.read()
            kept = quarantine(index.root, tail, f"{index.spec.registry_id}.torn")
            jsonl.repair_tail(index.log, lambda _line, _before: False)  # cut back, fsynced
            done = Repair(len(tail), kept.relative_to(index.root).as_posix(), state.covered)
            index.sync(locked=True)
        if reindex:
            index.discard()
            index.sync(locked=True)
        if reindex and index.private and index.fallback is not None:
            raise index.fallback  # rebuilt only outside the workspace: not what was asked
        return replace(done, set_aside=tuple(index.set_aside), reindexed=reindex)


_ANSWERS = itertools.count(1)
"""Numbers the temporary tables of streamed answers (two may be open on one connection)."""
WINDOW = 1 << 18
"""Bytes of the log read at once when an answer's lines come in the log's order."""


class Run(NamedTuple):
    """One run: its latest view, when it was first recorded, how many records it has (a tuple:
    a big answer builds one a run)."""

    key: str
    raw: bytes
    """The latest view's line as the log holds it (one JSON object, no newline)."""
    first_t: int
    """The first record's time (microseconds since the epoch)."""
    records: int
    success: bool
    failure: bool
    line: int
    """The line of the latest view in the log."""
    marks: tuple[Any, ...] = ()
    """The failure's columns (checks, gates, override) as held, when `select_runs` was asked."""

    @property
    def record(self) -> dict[str, Any]:
        """The latest view's fields (parsed at each ask: keep it where it is read twice)."""
        parsed: dict[str, Any] = json.loads(self.raw.decode("utf-8"))
        return parsed

    @property
    def first_time(self) -> str:
        """The first record's time, as ISO 8601 UTC ("" when it does not parse)."""
        if self.first_t == EARLIEST:
            return ""
        moment = datetime.fromtimestamp(self.first_t / 1_000_000, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ" if moment.second else "%Y-%m-%dT%H:%MZ")

    @property
    def status(self) -> str:
        """success, failed, success+failed (e.g. passed with an override) or open."""
        if self.success and self.failure:
            return "success+failed"
        return "success" if self.success else "failed" if self.failure else "open"


def latest_records(index: LogIndex, keys: Sequence[str]) -> dict[str, tuple[dict[str, Any], int]]:
    """key -> (latest view, its line) of each of `keys` the index has (after `sync`)."""
    found: dict[str, tuple[dict[str, Any], int]] = {}
    for part in batched(iter(keys), 500):
        marks = ", ".join("?" * len(part))
        for run in select_runs(index, f"r.key IN ({marks})", part, "", None):
            found[run.key] = (run.record, run.line)
    return found


def history(index: LogIndex, key: str) -> list[dict[str, Any]]:
    """Every record of the run `key`, oldest first (`order`, then line)."""
    rows = index.db.execute(
        "SELECT off, len, line FROM records WHERE key = ? ORDER BY t, c, seq", (key,)
    ).fetchall()
    if not rows:
        return []
    with LogReader(index) as log:
        return [read_record(index, log.read(off, n), key, line) for off, n, line in rows]


def relied_on(index: LogIndex, overrides: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every record relying on each of `overrides` (it passed with a failed check and names
    it; a superseded record too), in log order, after `sync`."""
    found: dict[str, list[dict[str, Any]]] = {}
    for part in batched(iter(sorted(set(overrides))), 500):
        rows = index.db.execute(
            "SELECT r.override, x.key, x.off, x.len, x.line FROM relying AS r JOIN records AS x "
            f"ON x.seq = r.seq WHERE r.override IN ({', '.join('?' * len(part))}) ORDER BY r.seq",
            part,
        ).fetchall()
        if rows:
            with LogReader(index) as log:
                for override, key, off, n, line in rows:
                    record = read_record(index, log.read(off, n), key, line)
                    found.setdefault(override, []).append(record)
    return found


def select_runs(
    index: LogIndex,
    where: str,
    params: list[Any],
    order: str,
    limit: int | None,
    *,
    snapshot: bool = False,
    marks: bool = False,
) -> Iterator[Run]:
    """The runs selected, read from the log; `snapshot`: rows copied so appends never wait."""
    extra = ", r.checks, r.gates, r.override" if marks else ""
    sql = (
        f"SELECT r.key, x.off, x.len, x.line, r.first_t, r.n, r.success, r.failure{extra} "
        f"FROM runs AS r JOIN records AS x ON x.seq = r.last_seq WHERE {where} {order}"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    db = index.db
    table = f"temp.answer_{next(_ANSWERS)}" if snapshot else None
    if table is not None:
        db.execute(f"CREATE TABLE {table} AS {sql}", params)
        rows = db.execute(f"SELECT * FROM {table} ORDER BY rowid")
    else:
        rows = db.execute(sql, params)
    try:
        with LogReader(index) as log:
            for key, off, length, line, first_t, count, success, failure, *more in rows:
                raw = log.read(off, length)
                # the cheap test (the key as a compact line holds it); the exact one when it says no
                if encode_basestring(key).encode() not in raw:
                    read_record(index, raw, key, line)
                yield Run(key, raw, first_t, count, bool(success), bool(failure), line, tuple(more))
    finally:
        with contextlib.suppress(sqlite3.Error):  # the connection may be closed already
            rows.close()
            if table is not None:
                db.execute(f"DROP TABLE IF EXISTS {table}")


class LogReader:
    """The log opened for reading at offsets, lines in log order read WINDOW bytes at a time."""

    def __init__(self, index: LogIndex) -> None:
        self.path = index.log
        self.base = 0
        self.window = b""

    def __enter__(self) -> LogReader:
        self.fd = open_regular(self.path, follow_symlinks=True)  # a FIFO swapped in: no hang
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def read(self, off: int, length: int) -> bytes:
        """The `length` bytes at `off` (fewer when the log is shorter now)."""
        at = off - self.base
        if at >= 0 and at + length <= len(self.window):
            return self.window[at : at + length]
        end = self.base + len(self.window)
        if end <= off < end + WINDOW and length < WINDOW:
            self.window, self.base = os.pread(self.fd, WINDOW, off), off
            return self.window[:length]
        return os.pread(self.fd, length, off)


def read_record(index: LogIndex, raw: bytes, key: str, line: int) -> dict[str, Any]:
    """The record of `raw` where the sidecar holds `key`; INDEX_CHANGED when the log moved it."""
    try:
        record = json.loads(raw)
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get(index.spec.key) != key:
        raise RegistryError.of("INDEX_CHANGED", path=index.log, at=line)
    return record
