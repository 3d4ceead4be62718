"""What the sidecar holds of the records an append writes, noted while they are checked and
indexed after the commit without reading the log again.

Each record's key, size, flags and lane values are noted in order (its times are the `Order`'s);
after the fsync they become the sidecar's rows exactly as indexing the written lines would make
them (`sidecar.refresh` reads lines back): one `records` row each, and per run
either one `runs` row (a run the index did not have: its first and latest record and its count,
the latter being its last, as the batch's records of a run come in order) or, for a run the index
had, the same upserts, record by record. The rows are fed to SQLite by iterators, not Python
loops, while the records are written to the log in another thread (`written`).
"""

from __future__ import annotations

import itertools
import operator
import os
import sqlite3
from array import array
from collections.abc import Callable, Iterator
from typing import Any

from registry_pipeline.core.run_index import sidecar
from registry_pipeline.core.run_index.checked import Checked
from registry_pipeline.core.run_index.order import Order
from registry_pipeline.core.run_index.spec import IndexSpec


class Rows:
    """Per record appended, in order: key, size in bytes (without the newline), what the sidecar
    holds of its latest view (`sidecar.marks`), lane values."""

    def __init__(self, spec: IndexSpec) -> None:
        self.keys: list[str] = []
        self.sizes = array("q")
        self.marks: list[sidecar.Column] = sidecar.new_marks()
        self.lanes: list[list[str | None]] = [[] for _ in spec.lanes]

    def extend(self, checked: Checked) -> None:
        """The rows of the valid records `checked` found."""
        self.keys.extend(checked.keys)
        self.sizes.extend(checked.sizes)
        for column, more in zip(self.marks, checked.marks, strict=True):
            column.extend(more)  # type: ignore[arg-type]  # a column and its like
        for lane, values in zip(self.lanes, checked.lanes, strict=True):
            lane.extend(values)  # each value once per batch (`checked`): a few hundred lanes

    @property
    def bytes(self) -> int:
        """The bytes the records take in the log, newlines included."""
        return sum(self.sizes) + len(self.sizes)


def index_rows(
    db: sqlite3.Connection,
    spec: IndexSpec,
    fd: int,
    start: int,
    order: Order,
    rows: Rows,
    written: Callable[[], list[bytes] | None],
) -> None:
    """Index the records an append writes at `start` through `fd` (the caller holds the lock, the
    sidecar covered exactly `start` bytes, and `order.against` found the runs it had). The rows
    are inserted while the records are written; `written()` waits for them to be fsynced and
    gives the digests of the log's blocks from the one holding what the sidecar covered (None:
    hashed here; its error, the write's, rolls the rows back): only then is the sidecar's
    transaction finished."""
    seq, line = sidecar.counters(db)
    end = start + rows.bytes
    with sidecar.transaction(db):
        rebuilt = order.count >= seq  # no fewer rows than the sidecar has: index them after
        if rebuilt:
            sidecar.drop_query_indexes(db)
        db.executemany(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)",
            _records(order, rows, seq, line, start),
        )
        if order.known:
            db.executemany(sidecar.upsert_sql(spec), _upserts(order, rows, seq))
        lanes = "".join(f", l{i}" for i in range(len(spec.lanes)))
        db.executemany(
            "INSERT INTO runs (key, first_t, first_seq, last_t, last_c, last_seq, n, "
            f"{', '.join(sidecar.MARKS)}{lanes}) VALUES "
            f"(?, ?, ?, ?, ?, ?, ?{', ?' * (len(sidecar.MARKS) + len(spec.lanes))})",
            _new_runs(order, rows, seq),
        )
        if rebuilt:
            sidecar.create_query_indexes(db)
        digests = written()
        before = os.fstat(fd)
        count = order.count
        sidecar.finish(db, fd, start, end, seq + count, line + count, before, digests)


def _records(
    order: Order, rows: Rows, seq: int, line: int, start: int
) -> Iterator[tuple[Any, ...]]:
    """(seq, key, created, updated, offset, size, line) of each record, by iterators only."""
    created, updated = order.places()
    offsets = itertools.accumulate(
        map(operator.add, rows.sizes, itertools.repeat(1)), initial=start
    )
    return zip(
        itertools.count(seq + 1),
        rows.keys,
        created,
        updated,
        offsets,
        rows.sizes,
        itertools.count(line + 1),
    )


def _new_runs(order: Order, rows: Rows, seq: int) -> Iterator[tuple[Any, ...]]:
    """One `runs` row per run the index did not have, in the order first given: its first
    record's time and seq, its latest record's times, seq, flags and lanes, its count."""
    keys, firsts, latests, counts = order.new_runs()
    created, updated = order.places()
    return zip(
        keys,
        map(created.__getitem__, firsts),
        map(operator.add, firsts, itertools.repeat(seq + 1)),
        map(created.__getitem__, latests),
        map(updated.__getitem__, latests),
        map(operator.add, latests, itertools.repeat(seq + 1)),
        counts,
        *(map(column.__getitem__, latests) for column in rows.marks),
        *(map(column.__getitem__, latests) for column in rows.lanes),
        strict=True,
    )


def _upserts(order: Order, rows: Rows, seq: int) -> Iterator[tuple[Any, ...]]:
    """The upsert of each record of a run the index had, in record order (as indexing the
    written lines does)."""
    created, updated = order.places()
    for at, key in enumerate(rows.keys):
        if key in order.known:
            yield (
                key,
                created[at],
                seq + at + 1,
                created[at],
                updated[at],
                seq + at + 1,
                *(column[at] for column in rows.marks),
                *(column[at] for column in rows.lanes),
            )
