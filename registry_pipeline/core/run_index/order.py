"""The order of a run's records (seed 004: "append a newer RUN record with same `run_id` and later
`created_utc` or add `last_updated_utc`").

Records of one run are ordered by (`created_utc`, `last_updated_utc`), lexicographically: a record
created later is later whatever either record's `last_updated_utc` says; with equal
`created_utc`, the one updated later is later (an absent `last_updated_utc` counts as equal to
`created_utc`). So a record created earlier than the run's latest is never later, even when
updated after it (AUGMENT_NOT_LATER); equal in both: not later.

`Order` keeps each key's records of a batch or a log in that order, on disk.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from registry_pipeline.core.run_index.spec import EARLIEST, IndexSpec, parse_time

_BIAS = 1 << 63
"""Added to a signed time so that the packed bytes sort as the times do."""


def times(spec: IndexSpec, record: dict[str, Any]) -> tuple[int, int]:
    """(created, updated) of a record in microseconds since the epoch, its place among its run's
    records: updated is `last_updated_utc`, else (absent or unparsable) the created time (a
    created time that does not parse sorts first)."""
    created = parse_time(record.get(spec.time))
    if created is None:
        created = EARLIEST
    updated = parse_time(record.get(spec.updated)) if record.get(spec.updated) else None
    return created, (created if updated is None else updated)


def packed(first: int, second: int) -> bytes:
    """A place (`times`) as 16 bytes that compare (memcmp: SQLite's BLOB order) as the pair."""
    return struct.pack(">QQ", first + _BIAS, second + _BIAS)


def unpacked(value: bytes) -> tuple[int, int]:
    """The place (`times`) of `packed` bytes."""
    first, second = struct.unpack(">QQ", value)
    return first - _BIAS, second - _BIAS


def sort_key(spec: IndexSpec, record: dict[str, Any]) -> bytes:
    """A record's place among its run's records, as `packed` bytes."""
    return packed(*times(spec, record))


class Order:
    """Each key's records in the order given, kept on disk (a temporary SQLite file): a
    million keys never sit in memory."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(
            "CREATE TABLE batch (line INTEGER PRIMARY KEY, key TEXT NOT NULL, o BLOB NOT NULL)"
        )
        self.db.execute("BEGIN")
        self.count = 0
        self.new_keys = 0
        """Keys of the batch the index did not have (counted by `against`)."""

    def add(self, rows: Iterable[tuple[int, str, bytes]]) -> None:
        """(line, key, `sort_key`) of records, in line order."""
        before = self.db.total_changes
        self.db.executemany("INSERT INTO batch VALUES (?, ?, ?)", rows)
        self.count += self.db.total_changes - before

    def not_later(self) -> Iterator[tuple[int, str]]:
        """(line, key) of each record whose key had a record at an equal or later place before
        it."""
        self.db.execute("CREATE INDEX IF NOT EXISTS batch_key ON batch (key, line)")
        yield from self.db.execute(
            "SELECT line, key FROM (SELECT line, key, o, max(o) OVER (PARTITION BY key "
            "ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before "
            "FROM batch) WHERE before >= o ORDER BY line"
        )

    def against(self, index: sqlite3.Connection) -> Iterator[tuple[int, str]]:
        """(line, key) of the first record of each key whose run the sidecar `index` already
        has at an equal or later place."""
        self.db.execute("CREATE INDEX IF NOT EXISTS batch_key ON batch (key, line)")
        firsts = self.db.execute(
            "SELECT key, min(line), o FROM batch GROUP BY key ORDER BY min(line)"
        )
        self.new_keys = 0
        while rows := firsts.fetchmany(500):
            marks = ", ".join("?" * len(rows))
            latest = {
                key: packed(first, second)
                for key, first, second in index.execute(
                    f"SELECT key, last_t, last_c FROM runs WHERE key IN ({marks})",
                    [r[0] for r in rows],
                )
            }
            for key, line, o in rows:
                if key not in latest:
                    self.new_keys += 1
                elif o <= latest[key]:
                    yield line, key

    def line_at(self, position: int) -> int | None:
        """The input line of the record at `position` (0: the first) in the order given."""
        found = self.db.execute(
            "SELECT line FROM batch ORDER BY line LIMIT 1 OFFSET ?", (position,)
        ).fetchone()
        return None if found is None else int(found[0])

    def first(self) -> tuple[int, str, bytes]:
        """(line, key, `sort_key`) of the first record given (after `add`)."""
        line, key, o = self.db.execute(
            "SELECT line, key, o FROM batch ORDER BY line LIMIT 1"
        ).fetchone()
        return int(line), str(key), bytes(o)

    def latest_lines(self) -> set[int]:
        """The line of each key's latest record (the greatest place; ties: the later line)."""
        return {
            line
            for (line,) in self.db.execute(
                "SELECT max(line) FROM (SELECT line, key, o, max(o) OVER (PARTITION BY key) "
                "AS top FROM batch) WHERE o = top GROUP BY key"
            )
        }

    def close(self) -> None:
        """Drop the temporary file."""
        self.db.close()
