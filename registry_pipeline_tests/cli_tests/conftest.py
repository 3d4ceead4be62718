"""The CLI tests' fixtures (`cli`, `demo`) are the root conftest's, shared with the other
folders (`Run`, the type of `cli`, is in `_helpers.py`); `ws` is a workspace made by `registry
init` (a module that needs another kind defines its own `ws`); `runs_ws` is the run index's small
workspace and `runs_cli` the `registry` command on it; `elsewhere` is a folder outside them."""

from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run
from registry_pipeline_tests.cli_tests._seed_layout import make_seed_repo
from registry_pipeline_tests.core_tests.run_index._support import Cli, make_workspace


@pytest.fixture
def ws(cli: Run, tmp_path: Path) -> Path:
    """A workspace made by `registry init` (no catalog)."""
    root = tmp_path / "ws"
    root.mkdir()
    assert cli("init", str(root))[0] == 0
    return root


@pytest.fixture
def runs_ws(tmp_path: Path) -> Path:
    """A workspace holding only the run index and the overrides log, both empty."""
    return make_workspace(tmp_path)


@pytest.fixture
def runs_cli(
    runs_ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """`registry ...` in-process on `runs_ws`, none of the variables it would read set."""
    for name in ("REGISTRY_WORKSPACE", "DAGSTER_HOME", "REGISTRY_PIPELINE_CRASH_AT"):
        monkeypatch.delenv(name, raising=False)
    return Cli(runs_ws, capsys)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside every workspace with one file (a link target no command writes through)."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "theirs.txt").write_text("not the workspace's\n")
    return folder


@pytest.fixture
def seed_repo(tmp_path: Path) -> Path:
    """A git repository in the seed system's layout, committed (`_seed_layout`)."""
    return make_seed_repo(tmp_path / "ovc")
