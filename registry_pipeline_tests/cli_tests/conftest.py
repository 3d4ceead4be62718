"""The CLI tests' fixtures (`cli`, `demo`) are the root conftest's, shared with the other
folders; `Run` is the type of `cli`; `ws` is a workspace made by `registry init` (a module that
needs another kind, such as the run index's, defines its own `ws`); `elsewhere` is a folder
outside it."""

from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run

__all__ = ["Run"]


@pytest.fixture
def ws(cli: Run, tmp_path: Path) -> Path:
    """A workspace made by `registry init` (no catalog)."""
    root = tmp_path / "ws"
    root.mkdir()
    assert cli("init", str(root))[0] == 0
    return root


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside every workspace with one file (a link target no command writes through)."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "theirs.txt").write_text("not the workspace's\n")
    return folder
