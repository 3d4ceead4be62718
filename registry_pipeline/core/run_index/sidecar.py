"""The sidecar of a run index: a SQLite file beside the log (`.codex/cache/run_index/<id>.sqlite3`)
that answers queries without reading it, derived from the log and rebuilt when missing,
unreadable or made for other settings.

It records the bytes of the log it covers, the log's stat stamp (device, inode, size, mtime,
ctime) and a SHA-256 per MiB of the covered bytes. A matching stamp means current (as git's
index trusts it); otherwise the covered blocks are hashed again: all equal, only the bytes after
are indexed, else it is rebuilt. The stamp and hashes commit in the same transaction as the rows
they vouch for (not `core.verified`: a separate file could outlive a lost commit).

Per record: key, created and updated times, offset, line. Per run: its first and latest records,
count, lane values and `marks` of its latest view. Opened read-only for a query, writable under
the index lock, or private (outside the workspace) when it cannot be written; in rollback-journal
mode, not WAL, since a read-only connection to a WAL database creates files beside it.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import itertools
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core import jsonl
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.run_index.records import batched, parse_line, times
from registry_pipeline.core.run_index.spec import (
    FAIL,
    IndexSpec,
    failed_checks,
    is_check,
    named_override,
)

FORMAT = "run-index-sidecar-4"
BLOCK = 1 << 20
"""Bytes per hashed block of the covered log."""
BATCH = 10_000
"""Rows written to SQLite at a time while indexing."""
CACHE_RELPATH = ".codex/cache/run_index"
BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for another's lock before SQLite says it is busy."""
WRITER_CACHE_KIB = 64 << 10
"""Page cache of a writing connection (64 MiB): a bulk index spills to the file (and keeps
readers out until its commit) only past it."""
_HEADER = b"SQLite format 3\x00"
_CANNOT_WRITE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


@dataclass(frozen=True)
class Stale:
    """What is wrong with a sidecar: `rebuild` from scratch, or index from `covered` on."""

    rebuild: bool
    covered: int = 0


def sidecar_path(root: Path, spec: IndexSpec) -> Path:
    """Where the sidecar of `spec` lives in the workspace at `root`."""
    return root / CACHE_RELPATH / f"{spec.registry_id}.sqlite3"


def meta(db: sqlite3.Connection) -> dict[str, str]:
    """The sidecar's meta table ({} when it has none yet)."""
    try:
        return dict(db.execute("SELECT k, v FROM meta").fetchall())
    except sqlite3.OperationalError:
        return {}


def stamp(info: os.stat_result) -> str:
    """The stat stamp that says a file has not been written since."""
    parts = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return ":".join(map(str, parts))


def staleness(db: sqlite3.Connection, spec: IndexSpec, log: Path) -> Stale | None:
    """None when the sidecar answers for the log as it is; else what to do about it."""
    known = meta(db)
    if known.get("format") != FORMAT or known.get("fingerprint") != spec.fingerprint():
        return Stale(rebuild=True)
    try:
        info = log.stat()
    except FileNotFoundError:
        return Stale(rebuild=True)
    if known.get("stamp") == stamp(info):
        return None
    covered = int(known.get("covered", "0"))
    with log.open("rb") as handle:  # the log's stamp changed: are its covered bytes the same?
        stored = db.execute("SELECT i, sha256 FROM blocks ORDER BY i").fetchall()
        if info.st_size < covered or stored != list(_digests(handle.fileno(), 0, covered)):
            return Stale(rebuild=True)
    return Stale(rebuild=False, covered=covered)


def refresh(db: sqlite3.Connection, spec: IndexSpec, log: Path, stale: Stale) -> None:
    """Bring the sidecar up to the log (the caller holds the index lock)."""
    if stale.rebuild:
        _reset(db, spec)
    _index_from(db, spec, log, 0 if stale.rebuild else stale.covered)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on any error)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back already (a full disk, an I/O error)
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def _reset(db: sqlite3.Connection, spec: IndexSpec) -> None:
    lanes = "".join(f", l{i} TEXT" for i in range(len(spec.lanes)))
    with transaction(db):
        for table in ("meta", "blocks", "records", "runs", "skipped"):
            db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        db.execute("CREATE TABLE blocks (i INTEGER PRIMARY KEY, sha256 BLOB NOT NULL)")
        db.execute(
            "CREATE TABLE records (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, "
            "t INTEGER NOT NULL, c INTEGER NOT NULL, off INTEGER NOT NULL, "
            "len INTEGER NOT NULL, line INTEGER NOT NULL)"
        )
        db.execute(
            "CREATE TABLE runs (key TEXT PRIMARY KEY, first_t INTEGER NOT NULL, "
            "first_seq INTEGER NOT NULL, last_t INTEGER NOT NULL, last_c INTEGER NOT NULL, "
            "last_seq INTEGER NOT NULL, n INTEGER NOT NULL, success INTEGER NOT NULL, "
            "failure INTEGER NOT NULL, unique_fail INTEGER NOT NULL, checks TEXT NOT NULL, "
            f"gates TEXT NOT NULL, override TEXT{lanes})"
        )
        db.execute("CREATE TABLE skipped (line INTEGER PRIMARY KEY, reason TEXT NOT NULL)")
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("format", FORMAT), ("fingerprint", spec.fingerprint()), ("covered", "0")],
        )


QUERY_INDEXES = {
    "records_key": "records (key, seq)",
    "runs_time": "runs (first_t, first_seq)",
    "runs_failed": "runs (first_t, first_seq) WHERE failure",
    "runs_unique": "runs (first_t, first_seq) WHERE unique_fail",
}
"""The B-tree indexes the queries use (none per lane: it would cost every append more than it
saves a query)."""


def create_query_indexes(db: sqlite3.Connection) -> None:
    """`QUERY_INDEXES` (after a bulk load: sorting once is faster than row by row)."""
    for name, on in QUERY_INDEXES.items():
        db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")


def drop_query_indexes(db: sqlite3.Connection) -> None:
    """Drop `QUERY_INDEXES` before a bulk load (inside its transaction: readers keep them)."""
    for name in QUERY_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")


_LATER = "(excluded.last_t, excluded.last_c) >= (last_t, last_c)"
"""Whether the record upserted is the run's latest (`order`; ties: the later line)."""

_FOLD = """
INSERT INTO runs (key, first_t, first_seq, last_t, last_c, last_seq, n, {marks}{lanes})
SELECT s.key, s.t, s.seq, s.t, s.c, s.seq, 1, {held}
FROM temp.staged AS s CROSS JOIN temp.held AS h ON h.h = s.h
WHERE true ORDER BY s.seq
ON CONFLICT (key) DO UPDATE SET
  n = n + 1,
  first_seq = CASE WHEN excluded.first_t < first_t THEN excluded.first_seq ELSE first_seq END,
  first_t = min(first_t, excluded.first_t){sets}
"""
MARKS = ("success", "failure", "unique_fail", "checks", "gates", "override")
"""The columns of a run's latest view `marks` gives."""
_LATEST = ("last_seq", *MARKS, "last_t", "last_c")
"""The columns of a run taken from its latest record."""


def fold_sql(spec: IndexSpec) -> str:
    """The statement that adds the staged records to their runs (`runs`), one at a time in
    record order: a run's first is its earliest (ties: the first line), its latest view the
    latest (ties: the later line)."""
    lanes = [f"l{i}" for i in range(len(spec.lanes))]
    return _FOLD.format(
        marks=", ".join(MARKS),
        lanes="".join(f", {lane}" for lane in lanes),
        held=", ".join(f"h.{column}" for column in (*MARKS, *lanes)),
        sets="".join(
            f",\n  {c} = CASE WHEN {_LATER} THEN excluded.{c} ELSE {c} END"
            for c in (*_LATEST, *lanes)
        ),
    )


Row = tuple[Any, ...]
"""What the sidecar holds of one record: (key, created, updated, offset, length without the
newline, line, `held`: its marks and lane values)."""


def held(spec: IndexSpec, record: dict[str, Any]) -> tuple[Any, ...]:
    """What the sidecar holds of a record beyond its key, place and position: its `marks`, then
    its lane values."""
    return (*marks(spec, record), *(lane_value(record.get(field)) for field in spec.lanes))


class Held:
    """`held` of many records, marks and lane values each remembered by the fields they read (a
    million records: a few hundred combinations), the override read anew."""

    KEPT = 1 << 16
    """Combinations remembered at most (then it starts over)."""
    PLAIN = frozenset({str, type(None), object})
    """The types whose equality decides `marks` and `lane_value` alike (absent: `object()`); a
    record holding a number or a list is asked anew (`True` is not `1`)."""

    def __init__(self, spec: IndexSpec) -> None:
        self.spec = spec
        fields: list[str] = []
        for predicate in (spec.success, spec.failure):
            fields.extend(() if predicate is None else (c.field for c in predicate.conditions))
        self.judged = tuple(dict.fromkeys(fields))
        """The fields the predicates read."""
        self.read = (*self.judged, *spec.lanes)
        """The predicates' fields, then the lanes."""
        self.split = len(self.judged)
        self.absent: tuple[Any, ...] = (object(),) * len(self.read)
        """What `record.get` gives of an absent field (no JSON value is it)."""
        self.plain = self.PLAIN.issuperset
        self.marks: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.lanes: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def __call__(self, record: dict[str, Any]) -> tuple[Any, ...]:
        """`held(spec, record)`."""
        spec, read = self.spec, tuple(map(record.get, self.read, self.absent))
        if not self.plain(map(type, read)):
            return held(spec, record)
        values, lanes = read[: self.split], read[self.split :]
        key = values if FAIL not in record.values() else (values, *failed_checks(record))
        found = self.marks.get(key)
        if found is None:
            found = _kept(self.marks, key, marks(spec, record)[:-1])
        lane = self.lanes.get(lanes)
        if lane is None:
            lane = _kept(self.lanes, lanes, tuple(map(lane_value, map(record.get, spec.lanes))))
        return (*found, named_override(record), *lane)


def _kept(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    """`value`, remembered in `memo` under `key` (at most `Held.KEPT`: then it starts over)."""
    if len(memo) >= Held.KEPT:
        memo.clear()
    memo[key] = value
    return value


Columns = Iterable[Sequence[Any]]
"""Rows (`Row`) in columns: keys, created and updated times, offsets, lengths, lines, `held`."""


def add_columns(db: sqlite3.Connection, spec: IndexSpec, parts: Iterable[Columns], seq: int) -> int:
    """Index the rows of `parts` (each `Columns`) in log order, numbered from `seq + 1`, inside
    the caller's transaction: a `records` row each, its run's row upserted (`fold_sql`); the
    last seq. `held` values are bound once per combination (a million records: a few hundred)."""
    lanes = "".join(f", l{i}" for i in range(len(spec.lanes)))
    db.execute("DROP TABLE IF EXISTS temp.staged")
    db.execute("DROP TABLE IF EXISTS temp.held")
    db.execute("CREATE TEMP TABLE staged (seq INTEGER PRIMARY KEY, key, t, c, off, len, line, h)")
    db.execute(f"CREATE TEMP TABLE held (h INTEGER PRIMARY KEY, {', '.join(MARKS)}{lanes})")
    fold, numbers = fold_sql(spec), itertools.count()
    combos: dict[tuple[Any, ...], int] = {}
    places = ", ?" * (len(MARKS) + len(spec.lanes))
    for part in parts:
        keys, created, updated, offsets, lengths, lines, helds = part
        known = len(combos)
        ids = list(map(combos.setdefault, helds, numbers))
        if len(combos) > known:
            new = itertools.islice(combos.items(), known, None)
            db.executemany(f"INSERT INTO temp.held VALUES (?{places})", [(h, *c) for c, h in new])
        numbered = range(seq + 1, seq + 1 + len(ids))
        db.execute("DELETE FROM temp.staged")
        db.executemany(
            "INSERT INTO temp.staged VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            zip(numbered, keys, created, updated, offsets, lengths, lines, ids, strict=True),
        )
        db.execute("INSERT INTO records SELECT seq, key, t, c, off, len, line FROM temp.staged")
        db.execute(fold)  # in seq order: a later record of a run updates the earlier
        seq += len(ids)
    db.execute("DROP TABLE temp.staged")
    db.execute("DROP TABLE temp.held")
    return seq


def _index_from(db: sqlite3.Connection, spec: IndexSpec, log: Path, start: int) -> None:
    """Index the complete lines of the log from byte `start` on, in one transaction; the
    stamp is recorded only when nobody wrote the log meanwhile."""
    with log.open("rb") as handle:
        before = os.fstat(handle.fileno())
        seq, line = counters(db) if start else (0, 0)
        handle.seek(start)
        position = start

        def rows() -> Iterator[Row]:
            nonlocal line, position
            for _number, raw in jsonl.lines(handle):
                if position + len(raw) + 1 > before.st_size:
                    return  # a torn last line, or one written since
                offset, position, line = position, position + len(raw) + 1, line + 1
                if not raw.strip():
                    continue
                record = _parsed(spec, raw)
                if isinstance(record, str):
                    db.execute("INSERT OR REPLACE INTO skipped VALUES (?, ?)", (line, record))
                else:
                    place = times(spec, record)
                    yield (record[spec.key], *place, offset, len(raw), line, held(spec, record))

        with transaction(db):
            parts = (zip(*part, strict=True) for part in batched(rows(), BATCH))
            seq = add_columns(db, spec, parts, seq)
            finish(db, handle.fileno(), start, position, seq, line, before)
        if start == 0:
            create_query_indexes(db)


def finish(
    db: sqlite3.Connection,
    fd: int,
    start: int,
    position: int,
    seq: int,
    line: int,
    before: os.stat_result,
) -> None:
    """Record (inside the indexing transaction) that the sidecar covers the log up to
    `position`: its new blocks' hashes, the counters, and the stat stamp when nobody wrote the
    log since `before`."""
    first = (int(meta(db).get("covered", "0")) if start else 0) // BLOCK
    db.execute("DELETE FROM blocks WHERE i >= ?", (first,))
    db.executemany("INSERT INTO blocks VALUES (?, ?)", _digests(fd, first, position))
    after = os.fstat(fd)
    current = stamp(after) if after.st_size == before.st_size else ""
    db.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        [
            ("covered", str(position)),
            ("stamp", current),
            ("seq", str(seq)),
            ("line", str(line)),
            ("size", str(before.st_size)),
        ],
    )


def counters(db: sqlite3.Connection) -> tuple[int, int]:
    """(records, lines) the sidecar has indexed."""
    known = meta(db)
    return int(known.get("seq", "0")), int(known.get("line", "0"))


def _parsed(spec: IndexSpec, raw: bytes) -> dict[str, Any] | str:
    """The record of one line, or why it cannot be indexed."""
    try:
        record = parse_line(raw)
    except JSONDecodeProblem as exc:
        return f"does not parse: {exc.message}"
    if not isinstance(record, dict):
        return "is not a JSON object"
    key = record.get(spec.key)
    if not isinstance(key, str) or not key:
        return f"has no {spec.key}"
    return record


def marks(spec: IndexSpec, record: dict[str, Any]) -> tuple[int, int, int, str, str, str | None]:
    """What the sidecar holds of a record as a run's latest view (`MARKS`): all `runs failed`
    says of a run but whether its override covers it."""
    success = spec.success is not None and spec.success(record)
    checks = failed_checks(record)
    failure, holding = (False, []) if spec.failure is None else spec.failure.judged(record)
    gates = [field for field in holding if not is_check(field)]
    listed = _listed(tuple(checks)), _listed(tuple(gates))
    return int(success), int(failure), int(bool(checks)), *listed, named_override(record)


list_text = json.JSONEncoder(ensure_ascii=False).encode
"""A list of fields as JSON, as `json.dumps` writes it (`runs failed --json` shows it so)."""


@functools.lru_cache(maxsize=1024)
def _listed(fields: tuple[str, ...]) -> str:
    """`list_text` of `fields`, once per combination (a few: the checks and gates of a spec)."""
    return list_text(list(fields)) if fields else "[]"


def lane_value(value: Any) -> str | None:
    """A lane field's value as the sidecar holds it (a string; None when absent)."""
    return value if isinstance(value, str) else None if value is None else str(value)


def _digests(fd: int, first: int, covered: int) -> Iterator[tuple[int, bytes]]:
    """(i, SHA-256) of each BLOCK i of the log's first `covered` bytes, from block `first` on."""
    for i in range(first, (covered + BLOCK - 1) // BLOCK):
        yield i, hashlib.sha256(os.pread(fd, min(BLOCK, covered - i * BLOCK), i * BLOCK)).digest()


def connect(path: Path) -> sqlite3.Connection:
    """The sidecar at `path` for writing (created empty when absent; a WAL sidecar of an older
    version is turned into rollback mode). The caller holds the index lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing its last commit costs a catch-up
        db.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    except BaseException:
        db.close()
        raise
    return db


def connect_readonly(path: Path) -> sqlite3.Connection | None:
    """The sidecar at `path`, read-only, creating no file; None when it is not a rollback-mode
    SQLite file (none, garbage, or WAL: opening it would create files)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        header = os.pread(fd, 100, 0)
    finally:
        os.close(fd)
    if len(header) < 100 or not header.startswith(_HEADER) or header[18:20] != b"\x01\x01":
        return None
    db = sqlite3.connect(
        f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None,
        check_same_thread=False,
    )  # fmt: skip
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


def connect_private() -> sqlite3.Connection:
    """A private temporary database outside the workspace, deleted when closed."""
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    return db


def is_damaged(exc: BaseException) -> bool:
    """Whether SQLite says the file itself is damaged (not a database, a corrupt page)."""
    return _says(exc, set(), ("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def cannot_write(exc: BaseException) -> bool:
    """Whether `exc` says the sidecar's place cannot be written (read-only, full, no room)."""
    names = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_PERM")
    return _says(exc, _CANNOT_WRITE, names)


def is_read_only(exc: BaseException) -> bool:
    """Whether `exc` says the place is read-only (rather than full or failing)."""
    return _says(exc, _READ_ONLY, ("SQLITE_READONLY", "SQLITE_PERM"))


def _says(exc: BaseException, errnos: set[int], names: tuple[str, ...]) -> bool:
    """Whether `exc` is an OSError with one of `errnos`, or a SQLite error named `names`."""
    if isinstance(exc, OSError):
        return exc.errno in errnos
    return (getattr(exc, "sqlite_errorname", "") or "").startswith(names)
