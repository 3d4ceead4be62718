"""Shared fixtures: a fresh workspace per test, our own fixture folders, the seed system's data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.workspace.layout import Workspace, init_workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "ovc-infra"
ASSETS = Path(__file__).resolve().parent / "assets"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An initialized, empty workspace outside git."""
    root = tmp_path / "ws"
    root.mkdir()
    init_workspace(root)
    return Workspace(root)


@pytest.fixture
def store(workspace: Workspace) -> RunStore:
    """A run store on the fresh workspace."""
    return RunStore(workspace)


@pytest.fixture
def make_run(store: RunStore) -> Callable[..., SealedRun]:
    """Seal in-memory files as a new run folder: `make_run({"a.txt": b"x"}, registry_id="r")`."""

    def make(files: dict[str, bytes] | None = None, registry_id: str = "demo") -> SealedRun:
        payload = (
            files
            if files is not None
            else {
                "REPORT.json": b'{"ok": true}\n',
                "data/rows.csv": b"id,value\r\n1,a\r\n2,b\r\n",
                "notes.txt": b"line one\nline two\n",
            }
        )
        return seal_files(store, RunSpec(registry_id=registry_id), payload)

    return make


@pytest.fixture
def reference() -> Path:
    """The seed system's data (../shared/reference/ovc-infra); skipped in a user's clone."""
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference/ovc-infra is absent (only present beside the dev repo)")
    return REFERENCE


@pytest.fixture
def assets() -> Path:
    """Golden vectors written by us, under registry_pipeline_tests/assets/."""
    return ASSETS
