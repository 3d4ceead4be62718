"""The one lock: one holder, its note naming it, a waiter told once who holds it, folders too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.lock import (
    FileLock,
    describe_lock,
    exclusive_lock,
    lock_state,
    read_note,
)


def test_the_note_names_the_holder_and_the_file_goes_with_it(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with exclusive_lock(path, holder="registry pointers promote"):
        note = read_note(path)
        assert note is not None and note["holder"] == "registry pointers promote"
        assert note["pid"] == os.getpid() and {"host", "since"} <= note.keys()
        assert lock_state(path) == "held"
        assert describe_lock(path).startswith(f"the lock is held by pid {os.getpid()} since ")
        with pytest.raises(RegistryError) as refused, exclusive_lock(path, timeout=0):
            pass
        assert refused.value.code == "LOCKED" and refused.value.path == str(path)
    assert not path.exists() and lock_state(path) is None


def test_a_folder_is_locked_as_itself_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "staging"
    folder.mkdir()
    held, other = FileLock(folder, keep=True), FileLock(folder, keep=True)
    assert held.try_take(None) and lock_state(folder) == "held"
    assert not other.try_take(None)
    held.release()
    assert folder.is_dir() and lock_state(folder) is None
