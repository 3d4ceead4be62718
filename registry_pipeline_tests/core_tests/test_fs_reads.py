"""`core.fs`'s readers of files that must be regular: what stands there is named in words, a
FIFO never blocks, and a file is read whole up to any limit (`sys.maxsize` included)."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

from registry_pipeline.core.fs import (
    NotRegularFile,
    TooLarge,
    file_kind,
    open_file,
    read_file,
    read_regular,
)


def test_a_file_is_read_whole_under_the_largest_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 70_000)
    assert read_regular(path, sys.maxsize) == b"x" * 70_000  # was OverflowError
    assert read_file(path) == b"x" * 70_000
    assert read_regular(path, 70_000) == b"x" * 70_000
    with pytest.raises(TooLarge, match="larger than 69999 bytes"):
        read_regular(path, 69_999)


def test_a_fifo_is_named_and_never_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for read in (read_file, open_file, lambda p: read_regular(p, 10)):
        with pytest.raises(NotRegularFile) as caught:
            read(fifo)
        assert str(caught.value) == f"{fifo}: is a FIFO (named pipe), not a regular file"
        assert caught.value.code == "NOT_A_REGULAR_FILE"


def test_a_folder_keeps_the_systems_words(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile) as caught:
        read_file(tmp_path)
    assert caught.value.errno == errno.EISDIR
    assert str(caught.value) == f"{tmp_path}: Is a directory"


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError) as caught:
        read_file(tmp_path / "link")
    assert caught.value.errno == errno.ELOOP
    assert read_regular(tmp_path / "link", 1, follow_symlinks=True) == b"x"


def test_kinds_are_named_once() -> None:
    import stat

    assert file_kind(stat.S_IFIFO) == "FIFO (named pipe)"
    assert file_kind(stat.S_IFCHR) == "character device"
    assert file_kind(stat.S_IFDIR) == "folder"
    assert file_kind(stat.S_IFREG) == "regular file"
