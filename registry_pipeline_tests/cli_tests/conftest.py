"""The CLI tests' fixtures (`cli`, `demo`) are the root conftest's, shared with the other
folders; `Run` is the type of `cli`; `ws` is a workspace made by `registry init` (a module that
needs another kind defines its own `ws`); `runs_ws` is the run index's small workspace and
`runs_cli` the `registry` command on it; `elsewhere` is a folder outside them."""

import subprocess
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run, child_env
from registry_pipeline_tests.cli_tests._seed_layout import make_seed_repo
from registry_pipeline_tests.core_tests.run_index._support import Cli, make_workspace

__all__ = ["Run", "guarded"]


def guarded(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`command` (a `registry` or a Python child) in a process of its own, stdin closed; the
    test fails if it still runs after `timeout` s (far more than it needs: it waits on a FIFO)."""
    try:
        return subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command[1:4]} still ran after {timeout:.0f} s: it hangs")


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
