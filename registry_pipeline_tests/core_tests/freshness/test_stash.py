"""What a build read, kept until its promotion records it: never written through a link out."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness import (
    drop_stashed,
    stash_inputs,
    stashed_inputs,
    stashed_runs,
)
from registry_pipeline.core.freshness.state import PENDING_RELPATH
from registry_pipeline.core.workspace.layout import Workspace

READ = {"started_utc": "2026-11-27T00:00:00Z", "inputs": {}, "folders": {}, "before": {}}


def test_a_kept_read_is_listed_read_back_and_dropped(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    stash_inputs(workspace, "run-a", READ)
    assert stashed_runs(workspace) == ["run-a"]
    assert stashed_inputs(workspace, "run-a") == READ
    drop_stashed(workspace, ["run-a"])
    assert stashed_runs(workspace) == [] and stashed_inputs(workspace, "run-a") is None


@pytest.mark.parametrize(
    "planted",
    [
        lambda path: path.write_bytes(b"{not json"),
        lambda path: path.write_bytes(b"[" * 200_000),  # was RecursionError
        lambda path: path.write_text('{"folders": {"runs": ["not", "a", "listing"]}}'),
        lambda path: path.write_text('{"folders": {}, "inputs": []}'),
        os.mkfifo,
    ],
    ids=["torn", "deep", "shape", "inputs", "fifo"],
)
def test_a_garbage_kept_read_is_none_not_an_error(
    tmp_path: Path, planted: Callable[[Path], object]
) -> None:
    folder = tmp_path / PENDING_RELPATH
    folder.mkdir(parents=True)
    planted(folder / "run-a.json")
    assert stashed_inputs(Workspace(tmp_path), "run-a") is None


def test_the_folder_linked_out_of_the_workspace_is_neither_written_nor_emptied(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "ws", tmp_path / "theirs"
    outside.mkdir()
    (outside / "keep.json").write_bytes(b"{}")
    (root / PENDING_RELPATH).parent.mkdir(parents=True)
    (root / PENDING_RELPATH).symlink_to(outside)
    workspace = Workspace(root)
    with pytest.raises(RegistryError) as refused:
        stash_inputs(workspace, "run-a", READ)
    assert refused.value.code == "UNSAFE_PATH"
    with pytest.raises(RegistryError) as refused:
        drop_stashed(workspace, stashed_runs(workspace))
    assert refused.value.code == "UNSAFE_PATH"
    assert (outside / "keep.json").read_bytes() == b"{}" and len(list(outside.iterdir())) == 1
