"""Whether one log's bytes are an exact prefix of another's, compared in chunks (flat memory):
the append-only check of every JSONL log (the delta log, a run index)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1 << 20
MAX_RECORD = 1 << 16
"""At most this much of the differing record is read back to name it."""


@dataclass(frozen=True, slots=True)
class PrefixBreak:
    """Where the new log stops carrying the previous one."""

    offset: int
    """Byte offset of the first difference."""
    line: int
    """1-based line (of both logs: they agree before it) where the difference is."""
    record: bytes
    """The previous log's line there, without its newline (at most MAX_RECORD bytes)."""
    truncated: bool
    """True when the new log simply ends there (records dropped at the end)."""

    def describe(self, name: Callable[[bytes], str] | None = None) -> str:
        """One sentence naming the line and the previous record there (`name` says what a
        record is; default: a short quote)."""
        what = "is missing from" if self.truncated else "was altered, dropped or moved in"
        record = (name or quote)(self.record)
        return f"line {self.line} of the previous log ({record}) {what} the new log"


def quote(raw: bytes) -> str:
    """A short quote of a record line."""
    text = raw[:120].decode("utf-8", "replace")
    return repr(text) if text else "empty line"


def first_break(old: BinaryIO, new: BinaryIO, chunk: int = CHUNK) -> PrefixBreak | None:
    """None when `old`'s bytes are a prefix of `new`'s; else where they first differ."""
    offset, line, line_start = 0, 1, 0
    while True:
        before = old.read(chunk)
        if not before:
            return None
        after = _read_exactly(new, len(before))
        if before == after:
            line += before.count(b"\n")
            newline = before.rfind(b"\n")
            if newline >= 0:
                line_start = offset + newline + 1
            offset += len(before)
            continue
        index = _common_length(before, after)
        line += before.count(b"\n", 0, index)
        newline = before.rfind(b"\n", 0, index)
        if newline >= 0:
            line_start = offset + newline + 1
        old.seek(line_start)
        record = old.read(MAX_RECORD).split(b"\n", 1)[0]
        truncated = index == len(after) and after == before[:index]
        return PrefixBreak(offset + index, line, record, truncated)


def bytes_break(old: bytes, new: bytes) -> PrefixBreak | None:
    """`first_break` on in-memory logs (one `startswith` when all is well)."""
    if new.startswith(old):
        return None
    return first_break(io.BytesIO(old), io.BytesIO(new))


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _common_length(a: bytes, b: bytes) -> int:
    """Length of the common prefix of `a` and `b`, by bisection on slice comparisons."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
