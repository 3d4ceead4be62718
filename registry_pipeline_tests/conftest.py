"""Shared fixtures: a fresh workspace per test, `registry` in this process, a copy of the demo
workspace before and after one green build, that build served by the webserver, our own fixture
folders, the seed system's data."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline_tests._helpers import (
    BUILD_ENV,
    Run,
    build_demo,
    copy_built,
    copy_demo,
    copy_example,
    environment_kept,
)
from registry_pipeline_tests._webserver import Served, reap, webserver

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "ovc-infra"
ASSETS = Path(__file__).resolve().parent / "assets"


def pytest_configure(config: pytest.Config) -> None:
    """Every child a test starts gets Ctrl-C's default action, even when the suite was started
    in the background by a shell (which ignores SIGINT for it; an ignored signal stays ignored
    across exec): tests send `registry build` Ctrl-C, and `dagster dev` stops on SIGTERM only
    through its SIGINT handling (it waited out each test's 30-60 s before SIGKILL)."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _temporary_folders_in_memory()


MEMORY_FOLDER = "/dev/shm"
"""Where the tests' temporary folders go when $TMPDIR is unset and this is a tmpfs."""
MEMORY_FREE = 2 * 1024**3
"""Free bytes the tmpfs must have (a container's default /dev/shm of 64 MiB does not)."""


def _temporary_folders_in_memory() -> None:
    """The suite's temporary folders (`tmp_path`, `tempfile`, and those of every process a test
    starts: Dagster's SQLite history, PostgreSQL's and the S3 server's data) on a tmpfs: the
    seals, the journal and the databases still call fsync, which there costs nothing instead of
    a wait on the disk. Only when $TMPDIR is unset (a developer's own choice is kept), set by
    the first process (xdist's workers inherit it). pytest keeps the folders of failed tests
    only (`tmp_path_retention_policy`), so memory holds little more than the running tests'."""
    import os
    import tempfile

    if "TMPDIR" in os.environ or not _is_tmpfs(MEMORY_FOLDER):
        return
    os.environ["TMPDIR"] = MEMORY_FOLDER
    tempfile.tempdir = None  # gettempdir() reads $TMPDIR again


def _is_tmpfs(folder: str) -> bool:
    """Whether `folder` is a writable tmpfs mount point (Linux's /proc/mounts says) with
    `MEMORY_FREE` bytes free."""
    import os

    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            found = any(line.split()[1:3] == [folder, "tmpfs"] for line in mounts)
        space = os.statvfs(folder)
    except OSError:
        return False
    free = space.f_bavail * space.f_frsize
    return found and free >= MEMORY_FREE and os.access(folder, os.W_OK | os.X_OK)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The Dagster servers the tests told to stop have ended before the test process does."""
    reap()


@pytest.fixture(scope="session", autouse=True)
def _default_run_links() -> Iterator[None]:
    """The run links builds print have the default base, whatever the developer's environment
    says."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DAGSTER_WEBSERVER_URL", raising=False)
        yield


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An initialized, empty workspace outside git."""
    root = tmp_path / "ws"
    root.mkdir()
    init_workspace(root)
    return Workspace(root)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo workspace (catalog, sources, schemas) with no runs yet."""
    return copy_demo(tmp_path)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of examples/module-registries (the seed's layout) with no runs."""
    return copy_example(tmp_path)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run `registry ARGS...` in-process; returns (exit code, stdout, stderr); never a traceback."""
    from registry_pipeline.cli import main

    for name in ("DAGSTER_HOME", "REGISTRY_WORKSPACE"):  # unset, and so again after the test
        monkeypatch.setenv(name, "")  # recorded even when unset (a build sets DAGSTER_HOME)
        monkeypatch.delenv(name)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return code, captured.out, captured.err

    return run


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


@pytest.fixture(scope="session")
def built_demo_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The demo workspace after one green `registry build` (SQLite instance) and the build's
    `--json` document, built once per test process: tests never change it, they take a copy
    (`built`) or look at it served (`served_demo`)."""
    from registry_pipeline.lib.instance import POSTGRES_URL_ENV  # Dagster: only when asked

    with environment_kept(*BUILD_ENV, POSTGRES_URL_ENV):  # a test's settings are not the demo's
        return build_demo(tmp_path_factory.mktemp("built_demo"))


@pytest.fixture
def built(built_demo_once: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """A private copy of the demo workspace after one green build (`tmp_path/demo`): for tests
    whose first build is only the way to that state, not what they look at."""
    return copy_built(built_demo_once[0], tmp_path)


@pytest.fixture
def built_entries(built_demo_once: tuple[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The entries of the build that `built` is a copy of (its `--json` document's
    `registries`), by registry id: for tests of what that first build wrote."""
    entries = copy.deepcopy(built_demo_once[1]["registries"])  # the session's stay as built
    return {entry["registry_id"]: entry for entry in entries}


@pytest.fixture(scope="session")
def served_demo(built_demo_once: tuple[Path, dict[str, Any]]) -> Iterator[Served]:
    """`built_demo_once` served by the real `dagster-webserver` for the rest of the test
    process: the GraphQL and browser tests read what the UI shows of it and change nothing but
    Dagster's note that the first-visit dialog was seen (`.nux/` in the instance's home)."""
    root, document = built_demo_once
    with webserver(root) as base_url:
        yield Served(base_url, root, document)


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
