"""The sidecar index: a SQLite file beside the log that answers queries without reading it.

The JSONL log is the source of truth; the sidecar (`.codex/cache/run_index/<id>.sqlite3`) is
derived from it and rebuilt from it when missing, unreadable or made for other settings. It
records how many bytes of the log it covers, the log's stat stamp (device, inode, size, mtime,
ctime: any write changes ctime) and a SHA-256 per MiB of the covered bytes. When the stamp
matches, the sidecar is current (git's index trusts the same stamp). When it does not, every
covered block is hashed again: all equal, only the bytes after are indexed; otherwise it is
rebuilt. So a log rewritten in place is never answered from a stale index, and a log that
grew (an append by hand, a `git pull`, a crash between the log's fsync and the index's commit)
costs only its new lines.

Per record: its key, when it was created and updated (`order`), byte offset and line. Per run
(key): its first record (whose `created_utc` is the run's date) and latest record, record count,
lane values, and `marks` of the latest view (the record latest in `order`; ties: the later
line): the success and failure predicates, the uniqueness checks that FAILed, the gates, the
override named.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.json_strict import (
    NOT_COMPACT,
    JSONDecodeProblem,
    loads_compact,
    loads_strict,
)
from registry_pipeline.core.run_index.order import times
from registry_pipeline.core.run_index.spec import IndexSpec
from registry_pipeline.core.run_index.uniqueness import failed_checks, is_check, named_override

FORMAT = "run-index-sidecar-4"
BLOCK = 1 << 20
"""Bytes per hashed block of the covered log."""
CHUNK = 8 << 20
"""Bytes read at a time while indexing."""
BATCH = 10_000
"""Rows written to SQLite at a time while indexing."""
CACHE_RELPATH = ".codex/cache/run_index"


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
    if info.st_size < covered or not _blocks_match(db, log, covered):
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
"""The B-tree indexes the queries use: a run's records by key, runs in time order, and the
failed ones. A lane's runs are read along the time index: a B-tree per lane, kept in lane order,
would cost every append more than it saves a query (a million records appended: seconds)."""


def create_query_indexes(db: sqlite3.Connection) -> None:
    """`QUERY_INDEXES` (created after a bulk load: sorting once is faster than keeping them
    in order row by row)."""
    for name, on in QUERY_INDEXES.items():
        db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")


def drop_query_indexes(db: sqlite3.Connection) -> None:
    """Drop `QUERY_INDEXES` before a bulk load (inside its transaction: readers keep them)."""
    for name in QUERY_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")


_LATER = "(excluded.last_t, excluded.last_c) >= (last_t, last_c)"
"""Whether the record upserted is the run's latest (`order`; ties: the later line)."""

_UPSERT = """
INSERT INTO runs (key, first_t, first_seq, last_t, last_c, last_seq, n, {marks}{lanes})
VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?{places})
ON CONFLICT (key) DO UPDATE SET
  n = n + 1,
  first_seq = CASE WHEN excluded.first_t < first_t THEN excluded.first_seq ELSE first_seq END,
  first_t = min(first_t, excluded.first_t){sets}
"""
MARKS = ("success", "failure", "unique_fail", "checks", "gates", "override")
"""The columns of a run's latest view `marks` gives."""
_LATEST = ("last_seq", *MARKS, "last_t", "last_c")
"""The columns of a run taken from its latest record."""


def upsert_sql(spec: IndexSpec) -> str:
    """The statement that adds one record to its run (`runs`), in record order."""
    n = len(spec.lanes)
    columns = [*_LATEST, *(f"l{i}" for i in range(n))]
    return _UPSERT.format(
        marks=", ".join(MARKS),
        lanes="".join(f", l{i}" for i in range(n)),
        places=", ?" * n,
        sets="".join(
            f",\n  {c} = CASE WHEN {_LATER} THEN excluded.{c} ELSE {c} END" for c in columns
        ),
    )


def _index_from(
    db: sqlite3.Connection, spec: IndexSpec, log: Path, start: int, fd: int | None = None
) -> None:
    """Index the complete lines of the log from byte `start` on, in one transaction; the
    stamp is recorded only when nobody wrote the log meanwhile."""
    own = fd is None
    if own:
        fd = os.open(log, os.O_RDONLY)
    assert fd is not None
    try:
        before = os.fstat(fd)
        seq, line = counters(db)
        if start == 0:
            seq, line = 0, 0
        upsert = upsert_sql(spec)
        with transaction(db):
            position = start
            records: list[tuple[Any, ...]] = []
            runs: list[tuple[Any, ...]] = []
            for offset, raw in _complete_lines(fd, start, before.st_size):
                line += 1
                position = offset + len(raw) + 1
                if not raw.strip():
                    continue
                row = _row(spec, raw)
                if isinstance(row, str):
                    db.execute("INSERT OR REPLACE INTO skipped VALUES (?, ?)", (line, row))
                    continue
                seq += 1
                key, (t, c), record = row
                records.append((seq, key, t, c, offset, len(raw), line))
                lanes = [lane_value(record.get(field)) for field in spec.lanes]
                runs.append((key, t, seq, t, c, seq, *marks(spec, record), *lanes))
                if len(records) >= BATCH:
                    _flush(db, upsert, records, runs)
            _flush(db, upsert, records, runs)
            finish(db, fd, start, position, seq, line, before)
        if start == 0:
            create_query_indexes(db)
    finally:
        if own:
            os.close(fd)


def finish(
    db: sqlite3.Connection,
    fd: int,
    start: int,
    position: int,
    seq: int,
    line: int,
    before: os.stat_result,
    digests: list[bytes] | None = None,
) -> None:
    """Record (inside the indexing transaction) that the sidecar covers the log up to
    `position`: the hashes of its blocks (`digests` of those from the one holding `start` on,
    when computed already), the counters, and the stat stamp only when nobody wrote the log
    since `before`."""
    previous = int(meta(db).get("covered", "0")) if start else 0
    if digests is None:
        digests = block_digests(fd, previous, position)
    db.execute("DELETE FROM blocks WHERE i >= ?", (previous // BLOCK,))
    db.executemany("INSERT INTO blocks VALUES (?, ?)", enumerate(digests, start=previous // BLOCK))
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


def _flush(
    db: sqlite3.Connection,
    upsert: str,
    records: list[tuple[Any, ...]],
    runs: list[tuple[Any, ...]],
) -> None:
    db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", records)
    db.executemany(upsert, runs)  # in order: a later record of a run updates the earlier
    records.clear()
    runs.clear()


def counters(db: sqlite3.Connection) -> tuple[int, int]:
    """(records, lines) the sidecar has indexed."""
    known = meta(db)
    return int(known.get("seq", "0")), int(known.get("line", "0"))


def _row(spec: IndexSpec, raw: bytes) -> tuple[str, tuple[int, int], Any] | str:
    """(key, place (`order.times`), record) of one line, or why it cannot be indexed."""
    try:
        record = loads_compact(raw.decode("utf-8"))
    except UnicodeDecodeError:
        record = NOT_COMPACT
    if record is NOT_COMPACT:
        try:
            record = loads_strict(raw)
        except JSONDecodeProblem as exc:
            return f"does not parse: {exc.message}"
    if not isinstance(record, dict):
        return "is not a JSON object"
    key = record.get(spec.key)
    if not isinstance(key, str) or not key:
        return f"has no {spec.key}"
    return key, times(spec, record), record


Marks = tuple[int, int, int, str, str, str | None]
"""`marks` of a record."""
Column = bytearray | list[str | None]
"""One of `MARKS`, per record: 0 or 1 each (a bytearray), or texts."""


def new_marks() -> list[Column]:
    """Empty columns for `MARKS`: three flags, then three texts."""
    return [bytearray(), bytearray(), bytearray(), [], [], []]


def marks(spec: IndexSpec, record: dict[str, Any]) -> Marks:
    """What the sidecar holds of a record as a run's latest view (`MARKS`): whether it meets
    the success and the failure predicates, whether a uniqueness check FAILed, the checks that
    FAILed and the failure predicate's other fields that hold (as JSON lists), the override it
    names: all `runs failed` says of a run (`failed.mark`) but whether the override covers it."""
    success = spec.success is not None and spec.success(record)
    checks = failed_checks(record)
    failure, holding = (False, []) if spec.failure is None else spec.failure.judged(record)
    gates = [field for field in holding if not is_check(field)]
    return (
        int(success),
        int(failure),
        int(bool(checks)),
        list_text(checks) if checks else "[]",
        list_text(gates) if gates else "[]",
        named_override(record),
    )


list_text = json.JSONEncoder(ensure_ascii=False).encode
"""A list of fields as JSON, as `json.dumps` writes it (`runs failed --json` shows it so)."""


def lane_value(value: Any) -> str | None:
    """A lane field's value as the sidecar holds it (a string; None when absent)."""
    return value if isinstance(value, str) else None if value is None else str(value)


def _complete_lines(fd: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes without the newline) of each complete line in [start, end)."""
    position, pending = start, b""
    while position < end:
        chunk = os.pread(fd, min(CHUNK, end - position), position)
        if not chunk:
            break
        base = position - len(pending)
        data = pending + chunk
        position += len(chunk)
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        at = 0
        for raw in data[:cut].split(b"\n"):
            yield base + at, raw
            at += len(raw) + 1
        pending = data[cut + 1 :]


def block_digests(fd: int, previous: int, covered: int) -> list[bytes]:
    """SHA-256 of each BLOCK of [0, covered): from the block holding `previous` on."""
    return [
        hashlib.sha256(os.pread(fd, min(BLOCK, covered - i * BLOCK), i * BLOCK)).digest()
        for i in range(previous // BLOCK, (covered + BLOCK - 1) // BLOCK)
    ]


def _blocks_match(db: sqlite3.Connection, log: Path, covered: int) -> bool:
    """Whether the log's first `covered` bytes are those the sidecar indexed."""
    stored = dict(db.execute("SELECT i, sha256 FROM blocks").fetchall())
    if len(stored) != (covered + BLOCK - 1) // BLOCK:
        return False
    with closing(_open_fd(log)) as handle:
        for i, digest in stored.items():
            size = min(BLOCK, covered - i * BLOCK)
            if hashlib.sha256(os.pread(handle.fileno(), size, i * BLOCK)).digest() != digest:
                return False
    return True


def _open_fd(path: Path) -> Any:
    return path.open("rb")
