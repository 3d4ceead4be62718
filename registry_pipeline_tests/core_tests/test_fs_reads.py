"""The one safe reader (`core.fs`, `input_files` codes), the one stat stamp, the one quarantine."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.fs import (
    QUARANTINE_RELPATH,
    NotRegularFile,
    TooLarge,
    file_kind,
    file_stamp,
    open_file,
    quarantine,
    read_regular,
)
from registry_pipeline.core.workspace.input_files import open_regular_file, read_regular_file


def test_a_file_is_read_whole_under_the_largest_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 70_000)
    assert read_regular(path, sys.maxsize) == b"x" * 70_000  # was OverflowError
    assert read_regular(path) == b"x" * 70_000
    assert read_regular(path, 70_000) == b"x" * 70_000
    with pytest.raises(TooLarge) as caught:
        read_regular(path, 69_999)
    refused = caught.value
    assert (refused.code, refused.filename, refused.size) == ("INPUT_TOO_LARGE", str(path), 70_000)


def test_a_fifo_is_named_and_never_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for read in (read_regular, open_file, lambda p: read_regular(p, 10)):
        with pytest.raises(NotRegularFile) as caught:
            read(fifo)
        assert str(caught.value) == f"{fifo}: is a FIFO (named pipe), not a regular file"
        assert caught.value.code == "NOT_A_REGULAR_FILE"


def test_a_folder_keeps_the_systems_words(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile) as caught:
        read_regular(tmp_path)
    assert caught.value.errno == errno.EISDIR
    assert str(caught.value) == f"{tmp_path}: Is a directory"


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError) as caught:
        read_regular(tmp_path / "link")
    assert caught.value.errno == errno.ELOOP
    assert read_regular(tmp_path / "link", 1, follow_symlinks=True) == b"x"


def test_an_input_is_refused_with_a_reason_code_naming_it(tmp_path: Path) -> None:
    """`input_files`: the reader's refusals as (code, path); a missing file is the caller's."""
    fifo, big, device = tmp_path / "pipe", tmp_path / "big", tmp_path / "link"
    os.mkfifo(fifo)
    big.write_bytes(b"x" * 11)
    device.symlink_to("/dev/null")
    refused = (fifo, "NOT_A_REGULAR_FILE", "FIFO"), (device, "NOT_A_REGULAR_FILE", "device")
    for read in (read_regular_file, open_regular_file):
        for path, code, word in (*refused, (big, "INPUT_TOO_LARGE", "10 bytes")):
            with pytest.raises(UsageError) as caught:
                read(path, limit=10, what="file")
            assert (caught.value.code, caught.value.path) == (code, str(path))
            assert word in caught.value.message, caught.value.message
    assert read_regular_file(big, limit=11, what="file") == b"x" * 11
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "absent", limit=10, what="file")


def test_kinds_are_named_once() -> None:
    assert file_kind(stat.S_IFIFO) == "FIFO (named pipe)"
    assert file_kind(stat.S_IFCHR) == "character device"
    assert file_kind(stat.S_IFDIR) == "folder"
    assert file_kind(stat.S_IFREG) == "regular file"


def test_the_stamp_changes_when_the_file_is_written_again(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    before = file_stamp(path)
    assert before == file_stamp(os.stat(path)) and file_stamp(tmp_path / "absent") is None
    path.write_bytes(b"two")  # the same size: the ctime (and mtime) differ
    assert file_stamp(path) != before
    (tmp_path / "link").symlink_to(path)
    assert file_stamp(tmp_path / "link") == file_stamp(path)
    assert file_stamp(tmp_path / "link", follow_symlinks=False) != file_stamp(path)


def test_quarantine_keeps_each_thing_under_its_own_name(tmp_path: Path) -> None:
    fifo = tmp_path / "cache.json"
    os.mkfifo(fifo)
    moved = quarantine(tmp_path, fifo, fifo.name)  # moved as it is, never opened
    kept = [quarantine(tmp_path, b"tail", "run_index.torn") for _ in range(3)]
    assert moved.parent == tmp_path / QUARANTINE_RELPATH and not os.path.lexists(fifo)
    assert moved.name.startswith("cache-") and moved.name.endswith(".json")
    assert stat.S_ISFIFO(os.lstat(moved).st_mode)
    assert len(set(kept)) == 3 and all(path.read_bytes() == b"tail" for path in kept)
    assert all(p.name.startswith("run_index-") and p.name.endswith(".torn") for p in kept)


def test_quarantine_never_goes_through_a_link(tmp_path: Path) -> None:
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "quarantine").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError) as caught:
        quarantine(tmp_path, b"x", "x.torn")
    assert caught.value.code == "UNSAFE_PATH" and not (tmp_path / "elsewhere").exists()
