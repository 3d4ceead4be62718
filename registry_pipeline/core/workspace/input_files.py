"""Files outside our control, read safely: regular files only, never blocking, up to a limit."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import sys
from typing import BinaryIO

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.fs import NotRegularFile, file_kind, open_regular
from registry_pipeline.core.seal.gitstate import MAX_CATALOG_BYTES

MAX_RECORD_FILE_BYTES = 1 << 30
"""Largest `registry runs append --record-file` (1 GiB): bounds a runaway input, not memory."""
MAX_ENTRY_FILE_BYTES = 16 << 20
"""Largest `registry add-entry --entry-file` (16 MiB): one entry, parsed whole."""
MAX_CATALOG_FILE_BYTES = MAX_CATALOG_BYTES
"""Largest file read whole and parsed (64 MiB): catalog, coordination rules, pointer file."""
STDIN = "-"
"""The name that means standard input."""


class InputFile(contextlib.AbstractContextManager["InputFile"]):
    """A binary input whose `read` raises `too_large` once more than `limit` bytes were read."""

    def __init__(self, raw: BinaryIO, path: str, limit: int, what: str, too_large: str) -> None:
        self._raw = raw
        self.path = path
        self.limit = limit
        self.what = what
        self.too_large = too_large
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative), never past the limit."""
        allowed = self.limit + 1 - self.total
        data = self._raw.read(allowed if size < 0 else min(size, allowed))
        self.total += len(data)
        if self.total > self.limit:
            raise input_too_large(self.path, self.what, self.limit, self.too_large)
        return data

    def close(self) -> None:
        """Close the file (standard input stays open)."""
        if self._raw is not sys.stdin.buffer:
            self._raw.close()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_input_file(
    path: str,
    *,
    limit: int,
    what: str,
    unreadable: str = "UNREADABLE",
    too_large: str = "INPUT_TOO_LARGE",
) -> InputFile:
    """The input `path` (`-`: standard input) for streaming; exit 2 at once when unusable."""
    if path == STDIN:
        return InputFile(sys.stdin.buffer, path, limit, what, too_large)
    try:
        raw = open_regular_file(
            path, limit=limit, what=what, unreadable=unreadable, too_large=too_large
        )
    except OSError as exc:
        raise UsageError(
            f"cannot read the {what}: {exc.strerror or exc}", code=unreadable, path=path
        ) from None
    return InputFile(raw, path, limit, what, too_large)


def open_regular_file(
    path: str | os.PathLike[str],
    *,
    limit: int,
    what: str,
    unreadable: str = "UNREADABLE",
    too_large: str = "INPUT_TOO_LARGE",
) -> BinaryIO:
    """`path` opened once its non-blocking descriptor is a regular file of at most `limit` bytes."""
    where = os.fspath(path)
    try:
        fd = open_regular(where, follow_symlinks=True)
    except NotRegularFile as exc:
        raise not_regular(exc.mode, where, what, unreadable) from None
    try:
        if os.fstat(fd).st_size > limit:
            raise input_too_large(where, what, limit, too_large)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def read_regular_file(path: str | os.PathLike[str], *, limit: int, what: str) -> bytes:
    """The whole of `path`, never over `limit` bytes; an OSError is the caller's to say."""
    raw = open_regular_file(path, limit=limit, what=what)
    with InputFile(raw, os.fspath(path), limit, what, "INPUT_TOO_LARGE") as handle:
        return handle.read()


def read_input_file(
    path: str,
    *,
    limit: int,
    what: str,
    unreadable: str = "UNREADABLE",
    too_large: str = "INPUT_TOO_LARGE",
) -> bytes:
    """The whole input `path` (see `open_input_file`): at most `limit` bytes."""
    with open_input_file(
        path, limit=limit, what=what, unreadable=unreadable, too_large=too_large
    ) as given:
        try:
            return given.read()
        except OSError as exc:
            raise UsageError(
                f"cannot read the {what}: {exc.strerror or exc}", code=unreadable, path=path
            ) from None


def input_too_large(path: str, what: str, limit: int, code: str = "INPUT_TOO_LARGE") -> UsageError:
    """The refusal of an input over its limit."""
    return UsageError(
        f"the {what} is larger than {human_size(limit)} ({limit} bytes), the most this "
        "command reads; split it",
        code=code,
        path=path,
    )


def not_regular(mode: int, path: str, what: str, unreadable: str = "UNREADABLE") -> UsageError:
    """The refusal of a non-regular file: a folder (`unreadable`), else NOT_A_REGULAR_FILE."""
    if stat.S_ISDIR(mode):
        return UsageError(f"cannot read the {what}: it is a folder", code=unreadable, path=path)
    return UsageError(
        f"the {what} is a {file_kind(mode)}, not a regular file: it is refused rather than "
        "read (it could block or never end)",
        code="NOT_A_REGULAR_FILE",
        path=path,
    )


def human_size(limit: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift} {unit}"
    return f"{limit} bytes"
