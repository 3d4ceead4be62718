"""Files read in fixed blocks, memory flat whatever their size: their SHA-256 and records."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from registry_pipeline.core.fs import REGULAR_ONLY
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


def file_stamp(path: str | os.PathLike[str]) -> tuple[int, int, int, int] | None:
    """Size, mtime, ctime and inode (None: no stat): a parse kept per stamp is never stale."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


_FIRST_READ = 1 << 13
"""Most small files fit in one read of this size; a one-byte read then confirms the end."""
_CHUNK = 1 << 16


def read_small(path: str) -> tuple[bytes | None, int]:
    """(bytes, size) of a file up to SMALL_FILE bytes, no symlink followed; (None, size) if over."""
    fd = os.open(path, REGULAR_ONLY)
    try:
        parts = [os.read(fd, _FIRST_READ)]
        total = len(parts[0])
        if total == _FIRST_READ and (size := os.fstat(fd).st_size) > SMALL_FILE:
            return None, size  # a large file: never read here
        while total <= SMALL_FILE and (
            chunk := os.read(fd, 1 if total < _FIRST_READ else _CHUNK)  # 1: the end, surely
        ):
            parts.append(chunk)
            total += len(chunk)
        if total > SMALL_FILE:
            return None, os.fstat(fd).st_size
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts), total
