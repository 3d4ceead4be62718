"""The one JSONL log, behind every append-only log: fsynced appends, all or none; the one line
reader; each log's torn-tail policy (`TornTail`) and the one wording of LOG_TORN."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from registry_pipeline.core.errors import RegistryError, naming
from registry_pipeline.core.fs import NotRegularFile, fsync_dir, open_file
from registry_pipeline.core.fs import write_all as write_all

CHUNK = 1 << 20
MAX_RECORD = 1 << 16
"""At most this much of the differing record is read back to name it."""
MAX_LINE = 64 << 20
"""The longest line read (the largest file parsed whole): a longer one is INPUT_TOO_LARGE."""
TAIL_BLOCK = 1 << 16
"""The tail is scanned back in blocks of this size."""


class TornTail(StrEnum):
    """What a log does with an incomplete last line (an append cut short): each log declares
    one, passed to `Lines` and `append` (docs/OPERATIONS.md lists which log does what, and why)."""

    REFUSE = "refuse"
    """Readers and writers stop at it (LOG_TORN) until a person completes or removes it."""
    REPAIR = "repair"
    """Readers skip it; the next writer completes it when whole, else cuts it (`repair_tail`)."""
    QUARANTINE = "quarantine"
    """Readers skip it, writers refuse it (LOG_TORN); `repair` moves it to the quarantine."""


_REMEDY = {
    TornTail.REFUSE: "complete or remove it (`registry runs repair` does it for a run index)",
    TornTail.REPAIR: "the next change completes or removes it",
    TornTail.QUARANTINE: "`registry runs repair` moves it to .codex/quarantine/",
}


def torn(path: str | os.PathLike[str], line: int | None = None,
         policy: TornTail = TornTail.REFUSE) -> RegistryError:  # fmt: skip
    """LOG_TORN, its one wording: the log's last line has no newline (an interrupted append);
    what to do is the log's `policy`'s."""
    return RegistryError.of("LOG_TORN", path=path, line=line, remedy=_REMEDY[policy])


class Lines:
    """The one line reader: each line of a JSONL file (a path, an open file or bytes) with its
    1-based number, without its newline, streamed in flat memory; a line over `max_line` bytes
    is INPUT_TOO_LARGE naming it. A log's (`torn_tail`: its policy) incomplete last line is never
    given: REFUSE raises LOG_TORN once the lines before it are read, REPAIR and QUARANTINE leave
    it to their writer, its number in `torn_at`. A file that is no log (no policy) ends with a
    line, newline or not."""

    def __init__(
        self,
        source: Path | BinaryIO | bytes,
        torn_tail: TornTail | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        max_line: int = MAX_LINE,
    ) -> None:
        self.source, self.policy, self.max_line = source, torn_tail, max_line
        named = source if isinstance(source, Path) else getattr(source, "name", "")  # int: an fd
        self.path = os.fspath(path if path is not None else named if isinstance(named, str) else "")
        self.torn_at: int | None = None
        """The number of the incomplete last line of a log, once read to it."""

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        with self._open() as handle:
            read, limit, number = handle.readline, self.max_line + 1, 0
            while line := read(limit):
                number += 1
                if line[-1:] == b"\n":
                    yield number, line[:-1]
                elif len(line) == limit:
                    most, what = f"{self.max_line} bytes", f"line {number}"
                    raise RegistryError.of("INPUT_TOO_LARGE", path=self.path, line=number,
                                           what=what, limit=most)  # fmt: skip
                elif self.policy is None:
                    yield number, line
                else:
                    self.torn_at = number
                    if self.policy is TornTail.REFUSE:
                        raise torn(self.path, number)

    def _open(self) -> contextlib.AbstractContextManager[BinaryIO]:
        if isinstance(self.source, bytes):
            return io.BytesIO(self.source)
        if isinstance(self.source, Path):  # a FIFO, a device: refused, never waited on
            return open_file(self.source, follow_symlinks=True)
        return contextlib.nullcontext(self.source)


def append(path: Path, chunks: Iterable[bytes], *, create: bool = True,
           torn_tail: TornTail = TornTail.REFUSE) -> int:  # fmt: skip
    """Append `chunks` (whole lines: one, or a spool read a block at a time), written in turn
    and fsynced once, all or none: the log is cut back to its prior size on any failure; that
    size. LOG_TORN (worded by the log's `torn_tail`) if torn; an OSError names `path` (a full
    disk fails the write, which names no file)."""
    with naming(path):
        flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o644)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise NotRegularFile(mode=info.st_mode, path=str(path))
            size = info.st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                raise torn(path, policy=torn_tail)
            try:
                for chunk in chunks:
                    write_all(fd, chunk)
                os.fsync(fd)
            except BaseException:  # a failed read of the chunks too
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
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return cut(fd, size)
    finally:
        os.close(fd)


def ends_cleanly(path: Path | bytes) -> bool:
    """Whether the log (a path, or its bytes) is absent, empty or ends with a newline."""
    if isinstance(path, bytes):
        return path[-1:] in (b"", b"\n")
    try:
        with open_file(path, follow_symlinks=True) as handle:  # a FIFO: an error, never a wait
            return _last_byte(handle)[1] in (b"", b"\n")
    except FileNotFoundError:
        return True


def _last_byte(handle: BinaryIO) -> tuple[int, bytes]:
    """The file's size and its last byte (empty for an empty file)."""
    end = handle.seek(0, os.SEEK_END)
    handle.seek(max(end - 1, 0))
    return end, handle.read(1)


def repair_tail(path: Path, complete: Callable[[bytes, bytes | None], bool]) -> bool:
    """End the log with a newline: restore one `complete` accepts, else cut; True if changed."""
    try:
        handle = path.open("rb+")
    except FileNotFoundError:
        return False
    with handle:
        end, last = _last_byte(handle)
        if last in (b"", b"\n"):
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
