"""Files outside our control, read safely: regular files only, never blocking, up to a limit."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.fs import (
    NotRegularFile,
    TooLarge,
    file_kind,
    open_regular,
    read_regular,
)
from registry_pipeline.core.seal.gitstate import MAX_CATALOG_BYTES

MAX_RECORD_FILE_BYTES = 1 << 30
"""Largest `registry runs append --record-file` (1 GiB): bounds a runaway input, not memory."""
MAX_ENTRY_FILE_BYTES = 16 << 20
"""Largest `registry add-entry --entry-file` (16 MiB): one entry, parsed whole."""
MAX_CATALOG_FILE_BYTES = MAX_CATALOG_BYTES
"""Largest file read whole and parsed (64 MiB): catalog, coordination rules, pointer file."""
STDIN = "-"
"""The name that means standard input."""
UNREADABLE, TOO_LARGE = "UNREADABLE", "INPUT_TOO_LARGE"
"""The refusals of an input by default; a command may say its own (the same fields)."""


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
    unreadable: str = UNREADABLE,
    too_large: str = TOO_LARGE,
) -> InputFile:
    """The input `path` (`-`: standard input) for streaming; exit 2 at once when unusable."""
    if path == STDIN:
        return InputFile(sys.stdin.buffer, path, limit, what, too_large)
    try:
        raw = open_regular_file(
            path, limit=limit, what=what, unreadable=unreadable, too_large=too_large
        )
    except OSError as exc:
        raise cannot_read(path, what, exc, unreadable) from None
    return InputFile(raw, path, limit, what, too_large)


def open_regular_file(
    path: str | os.PathLike[str],
    *,
    limit: int,
    what: str,
    unreadable: str = UNREADABLE,
    too_large: str = TOO_LARGE,
) -> BinaryIO:
    """`path` opened once its non-blocking descriptor is a regular file of at most `limit` bytes."""
    with worded(path, what, unreadable, too_large):
        return os.fdopen(open_regular(path, follow_symlinks=True, limit=limit), "rb")


def read_regular_file(path: str | os.PathLike[str], *, limit: int, what: str) -> bytes:
    """The whole of `path` (`fs.read_regular`), refused as `worded`; an OSError is the caller's."""
    with worded(path, what):
        return read_regular(path, limit, follow_symlinks=True)


@contextlib.contextmanager
def worded(
    path: str | os.PathLike[str],
    what: str,
    unreadable: str = UNREADABLE,
    too_large: str = TOO_LARGE,
) -> Iterator[None]:
    """The safe reader's refusals of `path` (not a regular file, over its limit) as a command
    says them of the `what` it reads."""
    try:
        yield
    except NotRegularFile as exc:
        raise not_regular(exc.mode, os.fspath(path), what, unreadable) from None
    except TooLarge as exc:
        raise input_too_large(os.fspath(path), what, exc.limit, too_large) from None


def read_input_file(
    path: str,
    *,
    limit: int,
    what: str,
    unreadable: str = UNREADABLE,
    too_large: str = TOO_LARGE,
) -> bytes:
    """The whole input `path` (see `open_input_file`): at most `limit` bytes."""
    with open_input_file(
        path, limit=limit, what=what, unreadable=unreadable, too_large=too_large
    ) as given:
        try:
            return given.read()
        except OSError as exc:
            raise cannot_read(path, what, exc, unreadable) from None


def cannot_read(path: str, what: str, why: OSError | str, code: str = UNREADABLE) -> UsageError:
    """The refusal of an input that cannot be read (`code`: a template of `what` and `reason`)."""
    reason = why if isinstance(why, str) else why.strerror or str(why)
    return UsageError.of(code, path=path, what=f"the {what}", reason=reason)


def input_too_large(path: str, what: str, limit: int, code: str = TOO_LARGE) -> UsageError:
    """The refusal of an input over its limit (`code`: a template of `what`, `limit`, `size`)."""
    shown, size = f"{human_size(limit)} ({limit} bytes)", f"more than {limit}"
    return UsageError.of(code, path=path, what=f"the {what}", limit=shown, size=size)


def not_regular(mode: int, path: str, what: str, unreadable: str = UNREADABLE) -> UsageError:
    """The refusal of a non-regular file: a folder (`unreadable`), else NOT_A_REGULAR_FILE."""
    if stat.S_ISDIR(mode):
        return cannot_read(path, what, "it is a folder", unreadable)
    return UsageError.of("NOT_A_REGULAR_FILE", path=path, kind=f"a {file_kind(mode)}")


def human_size(limit: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift} {unit}"
    return f"{limit} bytes"
