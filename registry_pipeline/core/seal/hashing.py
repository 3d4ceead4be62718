"""Files read in fixed blocks, memory flat whatever their size: their SHA-256 and records."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict

BLOCK_SIZE = 1 << 20
"""Bytes per read: large enough that hashing dominates, small enough to keep memory flat."""

SMALL_FILE = 1 << 20
"""Files up to this size are read whole so that they can be parsed without a second read."""


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Lowercase hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str] | int) -> tuple[str, int]:
    """Hex SHA-256 and byte count of a file (a path, or a descriptor it closes)."""
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK_SIZE)
    view = memoryview(buffer)
    total = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
            total += count
    return digest.hexdigest(), total


def jsonl_records(lines: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) per non-blank line; JSONDecodeProblem naming the line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, loads_strict(line)
        except JSONDecodeProblem as exc:
            raise JSONDecodeProblem(
                f"line {number}: {exc.message}", exc.code, line=number, column=exc.column
            ) from None
