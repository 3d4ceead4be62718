"""The journal's last line after a crash: completed or cut off, never anything before it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from registry_pipeline.core import jsonl
from registry_pipeline.core.pointers.journal import JournalFormatError, parse_record


def repair_tail(path: Path) -> None:
    """Make the journal end with a newline: a complete last record that only lost its newline
    (a tool stripped it) gets it back; an incomplete one (the process died mid-append, before
    the pointer file could change) is cut off. Earlier records are never touched."""
    jsonl.repair_tail(path, _complete_record)


def _complete_record(tail: bytes, previous: bytes | None) -> bool:
    try:
        record = parse_record(tail)
    except JournalFormatError:
        return False
    expected = hashlib.sha256(previous).hexdigest() if previous is not None else None
    return record.prev_sha256 == expected
