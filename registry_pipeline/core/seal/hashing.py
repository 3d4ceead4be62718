"""Streaming SHA-256 in fixed blocks, and hashing of in-memory bytes."""

from __future__ import annotations

import hashlib
import os

BLOCK_SIZE = 1 << 20
"""Bytes per read: large enough that hashing dominates, small enough to keep memory flat."""

SMALL_FILE = 1 << 20
"""Files up to this size are read whole so that they can be parsed without a second read."""


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Lowercase hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Hex SHA-256 and byte count of a file, read in fixed blocks (memory stays flat)."""
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
