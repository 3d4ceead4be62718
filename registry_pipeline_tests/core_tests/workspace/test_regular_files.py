"""`input_files.read_regular_file` / `open_regular_file`, the one reader of files outside our
control, and the readers of the workspace's own files that call it: the catalog, the
coordination rules, the pointer file and the journal. A FIFO or a device is NOT_A_REGULAR_FILE
naming it, at once; a file over its limit INPUT_TOO_LARGE before it is read; a missing file is
the caller's to say.

A FIFO here always has a writer waiting to open it (`_fifo`): a reader that opens it the
blocking way then gets end of file instead of waiting forever, so a regression fails the test
rather than hanging it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.pointers.journal import iter_lines, last_record, records_of
from registry_pipeline.core.pointers.pointer_file import read_pointer_file
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.input_files import (
    MAX_CATALOG_FILE_BYTES,
    open_regular_file,
    read_regular_file,
)
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path.rules import load_coordination
from registry_pipeline_tests._helpers import copy_demo

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
CATALOG = "registries/REGISTRY_CATALOG_v0_2.json"
COORDINATION = "registries/COORDINATION_v0_1.yaml"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "file.fifo"
    with _fifo(path):
        yield path


@contextmanager
def _fifo(path: Path) -> Iterator[Path]:
    """A FIFO at `path` (replacing what is there) and a thread waiting to open it for writing,
    which it closes at once. At the end the FIFO is held open for reading (opened without
    blocking) until the writer is done: its open returns once a reader is there, whether it
    began before or after."""
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    writer = threading.Thread(target=lambda: os.close(os.open(path, os.O_WRONLY)), daemon=True)
    writer.start()
    try:
        yield path
    finally:
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            writer.join()
        finally:
            os.close(reader)


def _refused(read: Callable[[], Any], path: Path, kind: str = "FIFO") -> None:
    with pytest.raises(UsageError) as caught:
        read()
    assert (caught.value.code, caught.value.path) == ("NOT_A_REGULAR_FILE", str(path))
    assert kind in caught.value.message


def test_a_fifo_is_refused_at_once(fifo: Path) -> None:
    _refused(lambda: read_regular_file(fifo, limit=10, what="file"), fifo)
    _refused(lambda: open_regular_file(fifo, limit=10, what="file"), fifo)


def test_a_device_is_refused(tmp_path: Path) -> None:
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null here")
    link = tmp_path / "link"
    link.symlink_to("/dev/null")
    _refused(lambda: read_regular_file(link, limit=10, what="file"), link, "device")


def test_a_file_over_its_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 11)
    with pytest.raises(UsageError) as caught:
        open_regular_file(path, limit=10, what="file")
    assert (caught.value.code, caught.value.path) == ("INPUT_TOO_LARGE", str(path))
    assert read_regular_file(path, limit=11, what="file") == b"x" * 11


def test_a_missing_file_is_the_callers_to_say(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "absent", limit=10, what="file")


def test_the_journal_readers_refuse_a_fifo(fifo: Path) -> None:
    _refused(lambda: list(iter_lines(fifo)), fifo)
    _refused(lambda: last_record(fifo), fifo)
    _refused(lambda: list(records_of(fifo, "rolepack")), fifo)


def test_the_pointer_file_reader_refuses_a_fifo(fifo: Path) -> None:
    _refused(lambda: read_pointer_file(fifo, SchemaCatalog.for_workspace(None)), fifo)


def test_the_catalog_and_coordination_readers_refuse_a_fifo(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    types = ("expected_versions",)
    with _fifo(root / COORDINATION) as coordination:
        _refused(lambda: load_coordination(root, COORDINATION, types), coordination)
    with _fifo(root / CATALOG) as catalog:
        _refused(lambda: load_catalog(Workspace(root)), catalog)


def test_the_catalogs_limit_is_that_of_every_file_read_whole(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    catalog = root / CATALOG
    with catalog.open("r+b") as handle:  # a hole past the limit: no room taken on disk
        handle.truncate(MAX_CATALOG_FILE_BYTES + 1)
    with pytest.raises(UsageError) as caught:
        load_catalog(Workspace(root))
    assert (caught.value.code, caught.value.path) == ("INPUT_TOO_LARGE", str(catalog))
