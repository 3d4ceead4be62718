"""The spool of an append written to the log in a thread while the sidecar's rows are inserted
(`appended.index_rows`, which commits only once the write is done): appended at the log's end
and fsynced, all or none (on any failure the log is cut back to its size before and nothing is
appended), then the log's blocks from the one holding `previous` on hashed for the sidecar.

The write and the hashing are system calls and C (the GIL released), so they take the core the
checking workers left, not the indexing thread's time."""

from __future__ import annotations

import os
import threading
from typing import IO

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.run_index import sidecar

COPY_BLOCK = 1 << 20
"""Bytes of the spool written at a time (a crash between two writes leaves a prefix)."""


class LogWrite:
    """`start()` the write of `spool` at `start` of the log open as `fd`; `wait()` for it."""

    def __init__(
        self, log: str, spool: IO[bytes], fd: int, start: int, previous: int | None
    ) -> None:
        self.log = log
        self.spool = spool
        self.fd = fd
        self.start_at = start
        self.previous = previous
        """Bytes of the log the sidecar covered before (its blocks from this one's on are
        hashed; None: not known, none are)."""
        self.written = 0
        self._digests: list[bytes] | None = None
        self._failed: BaseException | None = None
        self._unhashed: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="log-write", daemon=True)

    def start(self) -> None:
        """Begin writing (in the thread)."""
        self._thread.start()

    def wait(self) -> int:
        """The bytes appended, once written and fsynced; the write's error when it failed:
        nothing was appended then (the log is cut back)."""
        self._thread.join()
        if self._failed is not None:
            raise self._failed
        return self.written

    def wait_quietly(self) -> None:
        """Wait for the thread to end (before the log's descriptor is closed)."""
        self._thread.join()

    def digests(self) -> list[bytes] | None:
        """The SHA-256 of each block of the log from the one holding `previous` (after `wait`;
        None without `previous`); OSError when they could not be read (the records stand: the
        sidecar's problem)."""
        self._thread.join()
        if self._unhashed is not None:
            raise self._unhashed
        return self._digests

    def _run(self) -> None:
        try:
            self.written = write_all(self.log, self.spool, self.fd, self.start_at)
        except BaseException as exc:  # raised by `wait`, in the appending thread
            self._failed = exc
            return
        if self.previous is None:
            return
        try:
            end = self.start_at + self.written
            self._digests = sidecar.block_digests(self.fd, self.previous, end)
        except OSError as exc:
            self._unhashed = exc


def write_all(log: str, spool: IO[bytes], fd: int, start: int) -> int:
    """Append the spool to the log at `start` and fsync it; on any failure cut the log back to
    `start` (all or none) and say that nothing was appended."""
    spool.seek(0)
    try:
        written = _copy(spool, fd)
        os.fsync(fd)
    except BaseException as exc:
        os.ftruncate(fd, start)
        os.fsync(fd)
        if isinstance(exc, OSError):
            raise RegistryError(
                f"cannot append to the log ({exc.strerror or exc}): nothing was appended (the "
                f"log is cut back to its {start} bytes)",
                code="IO_ERROR",
                path=log,
            ) from None
        raise
    return written


def _copy(spool: IO[bytes], fd: int) -> int:
    total = 0
    while True:
        block = spool.read(COPY_BLOCK)
        if not block:
            return total
        if total:
            crash_point("run_index_block")  # between two writes: the log holds a prefix
        view = memoryview(block)
        while view:
            count = os.write(fd, view)
            view = view[count:]
            total += count
