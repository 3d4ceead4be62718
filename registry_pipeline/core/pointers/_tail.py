"""The journal's last line after a crash: completed or cut off, never anything before it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from registry_pipeline.core.pointers.journal import TAIL_BLOCK, JournalFormatError, parse_record


def repair_tail(path: Path) -> None:
    """Make the journal end with a newline: a complete last record that only lost its newline
    (a tool stripped it) gets it back; an incomplete one (the process died mid-append, before
    the pointer file could change) is cut off. Earlier records are never touched."""
    try:
        handle = path.open("rb+")
    except FileNotFoundError:
        return
    with handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return
        handle.seek(end - 1)
        if handle.read(1) == b"\n":
            return
        start = _last_newline(handle, end) + 1
        handle.seek(start)
        tail = handle.read(end - start)
        previous = _line_before(handle, start)
        if _complete_record(tail, previous):
            handle.seek(end)
            handle.write(b"\n")
        else:
            handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())


def _last_newline(handle: Any, end: int) -> int:  # handle: a binary file
    """Offset of the last newline before `end`, scanning back block by block; -1 if none."""
    position = end
    while position > 0:
        start = max(0, position - TAIL_BLOCK)
        handle.seek(start)
        found: int = handle.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


def _line_before(handle: Any, start: int) -> bytes | None:
    """The complete line that ends just before offset `start`, None at the start of the file."""
    if start == 0:
        return None
    begin = _last_newline(handle, start - 1) + 1
    handle.seek(begin)
    return bytes(handle.read(start - 1 - begin))


def _complete_record(tail: bytes, previous: bytes | None) -> bool:
    try:
        record = parse_record(tail)
    except JournalFormatError:
        return False
    expected = hashlib.sha256(previous).hexdigest() if previous is not None else None
    return record.prev_sha256 == expected
