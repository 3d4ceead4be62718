"""A run index's SQLite sidecar, derived from the log, rebuilt when stale; see docs/RUN_INDEX.md."""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from registry_pipeline.core import jsonl
from registry_pipeline.core.fs import file_kind, open_file, open_regular
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.run_index.records import batched, parse_line, shape_problems, times
from registry_pipeline.core.run_index.spec import (
    FAIL,
    IndexSpec,
    failed_checks,
    is_check,
    named_override,
)

FORMAT = "run-index-sidecar-7"
"""Bumped with any change of the tables (7: STRICT), so an older sidecar is rebuilt."""
BLOCK = 1 << 20
"""Bytes per hashed block of the covered log."""
BATCH = 10_000
"""Rows written to SQLite at a time while indexing."""
CACHE_RELPATH = ".codex/cache/run_index"
BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for another's lock before SQLite says it is busy."""
WRITER_CACHE_KIB = 64 << 10
"""Page cache of a writing connection (64 MiB): a bulk index spills to the file only past it."""
STRICT = " STRICT" if sqlite3.sqlite_version_info >= (3, 37, 0) else ""
"""The tables' option that makes SQLite refuse a value of another type than its column's (none
before SQLite 3.37, which cannot read it: the tables are then loosely typed, as before)."""
_HEADER = b"SQLite format 3\x00"
BESIDE = ("-journal", "-wal", "-shm")
"""The files SQLite keeps beside a database and opens itself (a hot journal is read on open)."""
_CANNOT_WRITE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


@dataclass(frozen=True)
class Stale:
    """What is wrong with a sidecar: `rebuild` from scratch, or index from `covered` on."""

    rebuild: bool
    covered: int = 0


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
    if not is_shaped(db, spec):
        return Stale(rebuild=True)
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
    with open_file(log, follow_symlinks=True) as handle:  # stamp changed: same covered bytes?
        stored = db.execute("SELECT i, sha256 FROM blocks ORDER BY i").fetchall()
        if info.st_size < covered or stored != list(_digests(handle.fileno(), 0, covered)):
            return Stale(rebuild=True)
    return Stale(rebuild=False, covered=covered)


def refresh(db: sqlite3.Connection, spec: IndexSpec, log: Path, stale: Stale | None = None) -> None:
    """Bring the sidecar up to the log (the caller holds the index lock)."""
    stale = stale or staleness(db, spec, log)
    if stale is None:
        return
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


@functools.lru_cache(maxsize=8)
def tables(lanes: int) -> dict[str, str]:
    """Each table of a sidecar with `lanes` lane columns, as its CREATE TABLE statement (the
    text SQLite keeps in sqlite_master), `STRICT`: SQLite refuses a value of another type."""
    lane_columns = "".join(f", l{i} TEXT" for i in range(lanes))
    columns = {
        "meta": "k TEXT PRIMARY KEY, v TEXT NOT NULL",
        "blocks": "i INTEGER PRIMARY KEY, sha256 BLOB NOT NULL",
        "records": (
            "seq INTEGER PRIMARY KEY, key TEXT NOT NULL, t INTEGER NOT NULL, c INTEGER NOT NULL, "
            "off INTEGER NOT NULL, len INTEGER NOT NULL, line INTEGER NOT NULL"
        ),
        "runs": (
            "key TEXT PRIMARY KEY, first_t INTEGER NOT NULL, first_seq INTEGER NOT NULL, "
            "last_t INTEGER NOT NULL, last_c INTEGER NOT NULL, last_seq INTEGER NOT NULL, "
            "n INTEGER NOT NULL, success INTEGER NOT NULL, failure INTEGER NOT NULL, "
            "unique_fail INTEGER NOT NULL, checks TEXT NOT NULL, gates TEXT NOT NULL, "
            f"override TEXT{lane_columns}"
        ),
        "relying": "seq INTEGER PRIMARY KEY, override TEXT NOT NULL",
        "skipped": "line INTEGER PRIMARY KEY, reason TEXT NOT NULL",
    }
    return {name: f"CREATE TABLE {name} ({held}){STRICT}" for name, held in columns.items()}


def is_shaped(db: sqlite3.Connection, spec: IndexSpec) -> bool:
    """Whether the sidecar's tables are those `tables` makes, to the letter (one replaced by
    hand, typed loosely or allowing NULL, is not: its values could be of any type)."""
    made = tables(len(spec.lanes))
    names = ", ".join("?" * len(made))
    sql = f"SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ({names})"
    return dict(db.execute(sql, tuple(made)).fetchall()) == made


def _reset(db: sqlite3.Connection, spec: IndexSpec) -> None:
    with transaction(db):
        for table, create in tables(len(spec.lanes)).items():
            db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute(create)
        db.execute("CREATE INDEX relying_override ON relying (override, seq)")
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
"""The B-tree indexes the queries use (none per lane: appends would pay more than queries save)."""


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
FROM temp.staged AS s CROSS JOIN temp.marks AS m ON m.m = s.m
WHERE true ORDER BY s.seq
ON CONFLICT (key) DO UPDATE SET
  n = n + 1,
  first_seq = CASE WHEN excluded.first_t < first_t THEN excluded.first_seq ELSE first_seq END,
  first_t = min(first_t, excluded.first_t){sets}
"""
MARKS = ("success", "failure", "unique_fail", "checks", "gates", "override")
"""The columns of a run's latest view `marks` gives, then its override."""
_LATEST = ("last_seq", *MARKS, "last_t", "last_c")
"""The columns of a run taken from its latest record."""


_RELYING = (
    "INSERT INTO relying SELECT s.seq, s.override FROM temp.staged AS s JOIN temp.marks AS m "
    "ON m.m = s.m WHERE s.override IS NOT NULL AND m.success AND m.unique_fail"
)
"""Every record (a superseded one too) that passed with a failed check and names an override."""


def fold_sql(spec: IndexSpec) -> str:
    """The statement folding staged records into their runs: earliest first, latest view last."""
    lanes = [f"l{i}" for i in range(len(spec.lanes))]
    return _FOLD.format(
        marks=", ".join(MARKS),
        lanes="".join(f", {lane}" for lane in lanes),
        held=", ".join(
            (*(f"m.{c}" for c in MARKS[:-1]), *(f"s.{c}" for c in ("override", *lanes)))
        ),
        sets="".join(
            f",\n  {c} = CASE WHEN {_LATER} THEN excluded.{c} ELSE {c} END"
            for c in (*_LATEST, *lanes)
        ),
    )


Row = tuple[Any, ...]
"""What the sidecar holds of one record: key, times, offset, length, line, then `Held`'s."""


class Held:
    """Each record's `marks` number, remembered by the values of the fields the marks read."""

    KEPT = 1 << 16
    """Combinations of values remembered at most (then it starts over)."""
    PLAIN = frozenset({str, type(None), object})

    def __init__(self, spec: IndexSpec) -> None:
        self.spec = spec
        fields = [c.field for p in (spec.success, spec.failure) if p for c in p.conditions]
        self.read = tuple(dict.fromkeys(fields))
        """The fields the predicates read."""
        self.absent: tuple[Any, ...] = (object(),) * len(self.read)
        """What `record.get` gives of an absent field (no JSON value is it)."""
        self.marks: list[tuple[Any, ...]] = []
        """Each `marks` found, once (a few dozen: the numbers a batch's rows hold)."""
        self.numbers: dict[tuple[Any, ...], int] = {}
        self.known: dict[tuple[Any, ...], int] = {}
        """The number of the `marks` of the values read (a few thousand combinations)."""

    def __call__(self, record: dict[str, Any]) -> int:
        read = tuple(map(record.get, self.read, self.absent))
        key = read if FAIL not in record.values() else (read, *failed_checks(record))
        try:
            found = self.known.get(key)
        except TypeError:  # a list or an object: asked anew
            found = None
        if found is None:
            found = self.number(marks(self.spec, record))
            # only strings and absences are remembered: a number can equal another type (True == 1)
            if self.PLAIN.issuperset(map(type, read)):
                if len(self.known) >= self.KEPT:
                    self.known.clear()
                self.known[key] = found
        return found

    def number(self, made: tuple[Any, ...]) -> int:
        """The number of `marks` `made` (a new one numbered next)."""
        found = self.numbers.setdefault(made, len(self.numbers))
        if found == len(self.marks):
            self.marks.append(made)
        return found


Columns = Sequence[Sequence[Any]]
"""Rows (`Row`) in columns."""


def add_columns(
    db: sqlite3.Connection,
    spec: IndexSpec,
    parts: Iterable[Columns],
    seq: int,
    marked: Sequence[tuple[Any, ...]],
) -> int:
    """Index `parts`' rows in log order inside the caller's transaction; the last seq."""
    lanes = [f"l{i}" for i in range(len(spec.lanes))]
    db.execute("DROP TABLE IF EXISTS temp.staged")
    db.execute("DROP TABLE IF EXISTS temp.marks")
    staged = ("seq INTEGER PRIMARY KEY", "key", "t", "c", "off", "len", "line", "m", "override")
    db.execute(f"CREATE TEMP TABLE staged ({', '.join((*staged, *lanes))})")
    db.execute(f"CREATE TEMP TABLE marks (m INTEGER PRIMARY KEY, {', '.join(MARKS[:-1])})")
    fold, known = fold_sql(spec), 0
    for part in parts:
        new = [(m, *found) for m, found in enumerate(marked[known:], known)]
        db.executemany(f"INSERT INTO temp.marks VALUES (?{', ?' * (len(MARKS) - 1)})", new)
        known += len(new)
        numbered = range(seq + 1, seq + 1 + len(part[0]))
        db.execute("DELETE FROM temp.staged")
        db.executemany(
            f"INSERT INTO temp.staged VALUES (?{', ?' * (len(staged) + len(lanes) - 1)})",
            zip(numbered, *part, strict=True),
        )
        db.execute("INSERT INTO records SELECT seq, key, t, c, off, len, line FROM temp.staged")
        db.execute(_RELYING)
        db.execute(fold)  # in seq order: a later record of a run updates the earlier
        seq += len(numbered)
    db.execute("DROP TABLE temp.staged")
    db.execute("DROP TABLE temp.marks")
    return seq


def _index_from(db: sqlite3.Connection, spec: IndexSpec, log: Path, start: int) -> None:
    """Index the complete lines of the log from byte `start` on, in one transaction."""
    with open_file(log, follow_symlinks=True) as handle:
        before = os.fstat(handle.fileno())
        seq, line = counters(db) if start else (0, 0)
        handle.seek(start)
        position = start

        def rows() -> Iterator[Row]:
            nonlocal line, position
            for _number, raw in jsonl.Lines(handle):
                if position + len(raw) + 1 > before.st_size:
                    return  # a torn last line, or one written since
                offset, position, line = position, position + len(raw) + 1, line + 1
                if not raw.strip():
                    continue
                record = indexed_record(spec, raw)
                if isinstance(record, str):
                    db.execute("INSERT OR REPLACE INTO skipped VALUES (?, ?)", (line, record))
                else:
                    at = (offset, len(raw), line, remembered(record), named_override(record))
                    lanes = (lane_value(record.get(lane)) for lane in spec.lanes)
                    yield (record[spec.key], *times(spec, record), *at, *lanes)

        remembered = Held(spec)
        with transaction(db):
            parts = (list(zip(*part, strict=True)) for part in batched(rows(), BATCH))
            seq = add_columns(db, spec, parts, seq, remembered.marks)
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
    """Record in the indexing transaction that the sidecar covers the log up to `position`."""
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


def indexed_record(spec: IndexSpec, raw: bytes) -> dict[str, Any] | str:
    """The record of one line (no newline) as the index reads it, or why it cannot be indexed."""
    try:
        record = parse_line(raw)
    except JSONDecodeProblem as exc:
        return f"does not parse: {exc.message}"
    problems = shape_problems(spec, 0, record)  # the build's rule: the line would fail it
    if not problems:
        return cast(dict[str, Any], record)
    return {
        "RECORD_NOT_OBJECT": "is not a JSON object",
        "KEY_MISSING": f"has no {spec.key}",
    }.get(problems[0].code, f"has no ISO 8601 UTC time in {spec.time}")


def marks(spec: IndexSpec, record: dict[str, Any]) -> tuple[int, int, int, str, str]:
    """What the sidecar holds of a record as a run's latest view (`MARKS`, the override apart)."""
    success = spec.success is not None and spec.success(record)
    checks = failed_checks(record)
    failure, holding = (False, []) if spec.failure is None else spec.failure.judged(record)
    gates = [field for field in holding if not is_check(field)]
    texts = listed(tuple(checks)), listed(tuple(gates))
    return int(success), int(failure), int(bool(checks)), *texts


list_text = json.JSONEncoder(ensure_ascii=False).encode
"""A list of fields as JSON, as `json.dumps` writes it (`runs failed --json` shows it so)."""


@functools.lru_cache(maxsize=1024)
def listed(fields: tuple[str, ...]) -> str:
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
    """The sidecar at `path` for writing, in rollback mode (under the index lock)."""
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


def misfits(path: Path) -> list[tuple[Path, str]]:
    """(place, what stands there) of the sidecar at `path` and the files SQLite keeps beside it
    that are not what SQLite may open: anything but a regular file (a FIFO, a device, a symlink,
    a folder), or a sidecar that is not a SQLite database. Nothing is opened but a regular file,
    without blocking; SQLite, which opens these paths itself, must never be given one of them."""
    found = []
    for place in (path, *(path.with_name(path.name + suffix) for suffix in BESIDE)):
        try:
            mode = os.lstat(place).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISREG(mode):
            found.append((place, _kind(place, mode)))
        elif place == path and not _is_sqlite(place):
            found.append((place, "not a SQLite database"))
    return found


def _kind(place: Path, mode: int) -> str:
    """`a FIFO (named pipe), not a regular file`; a symlink says where it points."""
    kind = file_kind(mode)
    if stat.S_ISLNK(mode):
        with suppress(OSError):
            kind = f"{kind} (to {os.readlink(place)})"
    return f"a {kind}, not a regular file"  # every kind `file_kind` names takes "a"


def _is_sqlite(path: Path) -> bool:
    """Whether the regular file at `path` is empty (SQLite makes it a database) or starts as
    one; True when it cannot be read now (SQLite says why, or it is gone: nothing to set aside)."""
    try:
        fd = open_regular(path)
    except OSError:
        return True
    try:
        header = os.pread(fd, len(_HEADER), 0)
    except OSError:
        return True
    finally:
        os.close(fd)
    return not header or header == _HEADER


def connect_readonly(path: Path) -> sqlite3.Connection | None:
    """The sidecar at `path` read-only, creating no file; None unless a rollback-mode SQLite
    (a FIFO, a device or a symlink there is never opened: check `misfits` for the rest)."""
    try:
        fd = open_regular(path)
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
    """Whether SQLite says the file itself is damaged (not a database, a corrupt page, a
    table of ours gone)."""
    missing = isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such table")
    return missing or _says(exc, set(), ("SQLITE_CORRUPT", "SQLITE_NOTADB"))


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
