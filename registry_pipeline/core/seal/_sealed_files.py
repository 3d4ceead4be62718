"""The files of a run folder as the seal writes them: each written once, fsynced and made
read-only (0444), copies hashed as they are written, subfolders fsynced and read-only (0555)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from registry_pipeline.core import fs
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.seal.hashing import BLOCK_SIZE
from registry_pipeline.core.seal.manifest import ManifestEntry

FILE_MODE = 0o444
DIR_MODE = 0o555


def write_all(fd: int, data: memoryview | bytes) -> None:
    """All of `data` to `fd` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_file(target: Path, relpath: str, data: bytes) -> ManifestEntry:
    """`data` as the new file `target` (never an existing one), fsynced, read-only."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return ManifestEntry(relpath, len(data), hashlib.sha256(data).hexdigest())


def copy_hashing(source: Path, target: Path, relpath: str) -> ManifestEntry:
    """Copy `source` to `target` reading each byte once: hash and write the same buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK_SIZE)
    view = memoryview(buffer)
    total = 0
    try:
        # O_NONBLOCK: a FIFO swapped in must not hang the open (refused just below)
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(
            f"cannot read source: {exc.strerror}", code="SOURCE_UNREADABLE", path=str(source)
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            raise UsageError("not a regular file", code="NOT_A_REGULAR_FILE", path=str(source))
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            while count := os.readv(src, [buffer]):
                chunk = view[:count]
                digest.update(chunk)
                write_all(dst, chunk)
                fs.start_writeback(dst, total, count)
                total += count
                crash_point("copy_block")
            os.fsync(dst)
            os.fchmod(dst, FILE_MODE)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return ManifestEntry(relpath, total, digest.hexdigest())


def seal_subdirs(root: Path) -> None:
    """fsync and make read-only every subfolder, deepest first (the root stays writable)."""
    folders = [Path(d) for d, _subdirs, _files in os.walk(root) if Path(d) != root]
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        fs.fsync_dir(folder)
        os.chmod(folder, DIR_MODE)
