"""Whether the records given to `registry runs append` are in the log already: a retry of an
append that was killed, or whose outcome its caller never saw.

The first record given is looked up by its key and times in the sidecar; where the log holds its
exact bytes, the records given are compared with the log's lines from there, byte for byte. All
of them equal and the log's last lines: the append happened (`Overlap.retried`, "already
appended"). Only the first k: one PARTIAL_RETRY problem naming k (an append cut short when
those k are the log's last, else an overlap that differs), never one AUGMENT_NOT_LATER per
record. All of them equal but followed by other records is not a retry of the last append: the
records conflict (AUGMENT_NOT_LATER), and the refusal says where they are. Identical bytes mean
the same key and time, which the index refuses anyway, so a match is never a coincidence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

from registry_pipeline.core.run_index.index import LogIndex
from registry_pipeline.core.run_index.order import Order
from registry_pipeline.core.run_index.records import RecordProblem, RecordsError

BLOCK = 1 << 20
"""Bytes compared at a time."""
CANDIDATES = 16
"""Lines of the log holding the first record's key and time that are looked at (one, unless
the log was written by hand)."""


@dataclass(frozen=True)
class Overlap:
    """Where the records given are in the log, and how many of them."""

    matched: int
    """Records given, from the first, that the log holds in that order."""
    given: int
    first_line: int
    """The log's line holding the first record given."""
    at_end: bool
    """Whether the records matched are the log's last lines."""

    @property
    def complete(self) -> bool:
        """Whether every record given is in the log, in order."""
        return self.matched == self.given

    @property
    def retried(self) -> bool:
        """Whether the records given are the log's last records: the append happened, this is
        a retry ("already appended")."""
        return self.complete and self.at_end


@dataclass(frozen=True)
class RetryProblem(RecordProblem):
    """PARTIAL_RETRY: the first `matched` of the `given` records are in the log already."""

    matched: int = 0
    given: int = 0

    def as_json(self) -> dict[str, object]:
        """The object `--json` lists, with the counts."""
        return {**super().as_json(), "matched": self.matched, "given": self.given}


def find_overlap(index: LogIndex, order: Order, spool: IO[bytes], covered: int) -> Overlap | None:
    """Where the records spooled (their keys in `order`) are in the log's first `covered`
    bytes (after `index.sync`); None when the log does not hold the first of them."""
    _line, key, (created, updated) = order.first()
    spool.seek(0)
    head = spool.readline()
    rows = index.db.execute(
        "SELECT off, len, line FROM records WHERE key = ? AND t = ? AND c = ? ORDER BY seq LIMIT ?",
        (key, created, updated, CANDIDATES),
    ).fetchall()
    if not rows:
        return None
    best: Overlap | None = None
    fd = os.open(index.log, os.O_RDONLY)
    try:
        for off, length, line in rows:
            if length + 1 != len(head) or off + len(head) > covered:
                continue
            if os.pread(fd, len(head), off) != head:
                continue
            matched, size = _matching(fd, spool, off, covered)
            found = Overlap(matched, order.count, line, off + size == covered)
            if best is None or found.matched > best.matched:
                best = found
    finally:
        os.close(fd)
    return best


def partial_retry(found: Overlap, order: Order) -> RecordsError:
    """The refusal of a partial overlap: one problem, at the first record not matched."""
    k, n = found.matched, found.given
    last = found.first_line + k - 1
    lines = f"line {last}" if k == 1 else f"lines {found.first_line}..{last}"
    at = order.line_at(k) or 0
    if found.at_end:
        message = (
            f"the first {k} of the {n} records given are already the log's last {k} ({lines}): "
            f"an earlier append of these records stopped after {k} of them. Nothing was "
            f"written; append the other {n - k}, from input line {at} on"
        )
    else:
        message = (
            f"the first {k} of the {n} records given are the log's {lines}, but the record at "
            f"input line {at} differs from what the log holds next: these records overlap "
            "the log and differ from it. Nothing was written"
        )
    problem = RetryProblem(at, "", "PARTIAL_RETRY", message, matched=k, given=n)
    return RecordsError([problem], 1, code="PARTIAL_RETRY", refused=True, summary=message)


def followed_by_others(found: Overlap, conflicts: int) -> str:
    """The summary of a refusal of records the log holds, in order, before other records: not
    a retry of the last append, so each is a conflict (AUGMENT_NOT_LATER), said once here."""
    last = found.first_line + found.given - 1
    return (
        f"{conflicts} problem(s) in the records: all {found.given} records given are in the log "
        f"already, byte for byte and in order (lines {found.first_line}..{last}), but other "
        "records follow them, so this is not a retry of the last append; nothing was written"
    )


def _matching(fd: int, spool: IO[bytes], start: int, covered: int) -> tuple[int, int]:
    """(lines, bytes): the whole lines of the spool, from its first, that the log holds from
    byte `start` on, and the bytes they take."""
    spool.seek(0)
    lines = size = position = 0
    while True:
        mine = spool.read(BLOCK)
        if not mine:
            return lines, size
        room = max(0, min(len(mine), covered - start - position))
        theirs = os.pread(fd, room, start + position)
        same = _common_prefix(mine, theirs)
        cut = mine.rfind(b"\n", 0, same)
        if cut >= 0:
            lines += mine.count(b"\n", 0, cut + 1)
            size = position + cut + 1
        if same < len(mine):
            return lines, size
        position += len(mine)


def _common_prefix(mine: bytes, theirs: bytes) -> int:
    """How many first bytes the two have in common."""
    n = min(len(mine), len(theirs))
    a, b = memoryview(mine), memoryview(theirs)
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low]; a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low
