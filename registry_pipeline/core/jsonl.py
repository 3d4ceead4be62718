"""The one JSONL log, behind every append-only log: fsynced appends, all or none; torn tails."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from registry_pipeline.core.errors import RegistryError, naming
from registry_pipeline.core.fs import NotRegularFile, fsync_dir, open_file
from registry_pipeline.core.fs import write_all as write_all

CHUNK = 1 << 20
MAX_RECORD = 1 << 16
"""At most this much of the differing record is read back to name it."""
TAIL_BLOCK = 1 << 16
"""The tail is scanned back in blocks of this size."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def torn(path: Path) -> RegistryError:
    """LOG_TORN: the log's last line has no newline (an interrupted append, or an edit by hand)."""
    return RegistryError(
        "the log's last line is incomplete (an interrupted append?): look at it, then "
        "complete or remove that line by hand; nothing was written",
        code="LOG_TORN",
        path=str(path),
    )


def append(path: Path, lines: Sequence[bytes], *, create: bool = True) -> int:
    """Append `lines` in one fsynced write, all or none; the prior size. LOG_TORN if torn; an
    OSError names `path` (a full disk fails the write, which names no file)."""
    with naming(path):
        flags = os.O_RDWR | os.O_APPEND | _NOFOLLOW | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o644)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise NotRegularFile(mode=info.st_mode, path=str(path))
            size = info.st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                raise torn(path)
            try:
                write_all(fd, b"".join(lines))
                os.fsync(fd)
            except OSError:
                cut(fd, size)
                raise
        finally:
            os.close(fd)
        if create and size == 0:
            fsync_dir(path.parent)
    return size


def cut(fd: int, size: int) -> bool:
    """Cut an open log back to `size` bytes, fsynced; False when it cannot be."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        return False
    return True


def take_back(path: Path, size: int) -> bool:
    """Cut the log back to `size` bytes (a change that did not happen); False if it cannot."""
    try:
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW)
    except OSError:
        return False
    try:
        return cut(fd, size)
    finally:
        os.close(fd)


def ends_cleanly(path: Path) -> bool:
    """Whether the log is absent, empty or ends with a newline (no torn tail)."""
    try:
        with open_file(path, follow_symlinks=True) as handle:  # a FIFO: an error, never a wait
            size = handle.seek(0, os.SEEK_END)
            if not size:
                return True
            handle.seek(size - 1)
            return handle.read(1) == b"\n"
    except FileNotFoundError:
        return True


def torn_line(data: bytes) -> int | None:
    """The 1-based number of an incomplete last line of `data`, None when it ends cleanly."""
    if not data or data.endswith(b"\n"):
        return None
    return data.count(b"\n") + 1


def lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Each line of an open log with its 1-based number, no newline, in flat memory."""
    for number, line in enumerate(handle, start=1):
        yield number, line[:-1] if line.endswith(b"\n") else line


def repair_tail(path: Path, complete: Callable[[bytes, bytes | None], bool]) -> bool:
    """End the log with a newline: restore one `complete` accepts, else cut; True if changed."""
    try:
        handle = path.open("rb+")
    except FileNotFoundError:
        return False
    with handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return False
        handle.seek(end - 1)
        if handle.read(1) == b"\n":
            return False
        start = last_newline(handle, end) + 1
        handle.seek(start)
        tail = handle.read(end - start)
        if complete(tail, _line_before(handle, start)):
            handle.seek(end)
            handle.write(b"\n")
        else:
            handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def lines_backwards(handle: BinaryIO) -> Iterator[bytes]:
    """The log's non-empty lines, last first, each byte read once."""
    position = handle.seek(0, os.SEEK_END)
    pieces: list[bytes] = []  # the end of a line whose start is not read yet, last piece first
    while position > 0:
        start = max(0, position - TAIL_BLOCK)
        handle.seek(start)
        block = handle.read(position - start)
        position = start
        parts = block.split(b"\n")
        if len(parts) == 1 and start > 0:
            pieces.append(block)
            continue
        lines = parts[1:] if start > 0 else parts
        lines[-1] += b"".join(reversed(pieces))
        pieces = [parts[0]] if start > 0 else []
        yield from (line for line in reversed(lines) if line)


def last_newline(handle: BinaryIO, end: int) -> int:
    """Offset of the last newline before `end`, scanning back block by block; -1 if none."""
    position = end
    while position > 0:
        start = max(0, position - TAIL_BLOCK)
        handle.seek(start)
        found = handle.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


def _line_before(handle: BinaryIO, start: int) -> bytes | None:
    """The complete line that ends just before offset `start`, None at the start of the file."""
    if start == 0:
        return None
    begin = last_newline(handle, start - 1) + 1
    handle.seek(begin)
    return bytes(handle.read(start - 1 - begin))


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
        """One sentence naming the line and the previous record there (`name` names a record)."""
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
        index = common_length(before, after)  # all of `before` only when they are the same
        line += before.count(b"\n", 0, index)
        newline = before.rfind(b"\n", 0, index)
        if newline >= 0:
            line_start = offset + newline + 1
        if index == len(before):
            offset += index
            continue
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


def common_length(a: bytes, b: bytes) -> int:
    """Length of the common prefix of `a` and `b`, by bisection on slice comparisons."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
