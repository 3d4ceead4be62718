"""The git state run.json records: our own mutable files never make it dirty; no git is unknown."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.gate.receipts import RECEIPTS_RELPATH
from registry_pipeline.core.pointers.journal import OLD_QUARANTINE, QUARANTINE_RELPATH
from registry_pipeline.core.run_index.index import QUARANTINE_RELPATH as INDEX_QUARANTINE
from registry_pipeline.core.seal.gitstate import (
    CATALOG_RELPATH,
    DEFAULT_POINTER_FILE,
    JOURNAL_NAME,
    NOT_CANON,
    GitState,
    canon_changes,
    not_canon,
    read_git_state,
)
from registry_pipeline.core.workspace.catalog import pointer_file_path
from registry_pipeline.core.workspace.layout import (
    DAGSTER_HOME_RELPATH,
    DOTENV_RELPATH,
    RUNS_RELPATH,
    VERDICTS_RELPATH,
    Workspace,
)
from registry_pipeline_tests._helpers import REPO

GIT = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
POINTER_FILE = "docs/phase_2_2/ACTIVE_REGISTRY_POINTERS_v0_1.json"
JOURNAL = f".codex/{JOURNAL_NAME}"


def _write(root: Path, relpath: str, text: str = "x\n") -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _repo(root: Path, catalog: dict[str, object] | None) -> Path:
    """A committed repo: a catalog, its pointer file, their file in `.codex/`, a document."""
    if catalog is not None:
        _write(root, CATALOG_RELPATH, json.dumps(catalog))
    pointer = str((catalog or {}).get("pointer_file", DEFAULT_POINTER_FILE))
    _write(root, pointer, '{"pointers": []}\n')
    _write(root, ".codex/CHECKS/coverage_audit.py", "print('theirs')\n")
    _write(root, "docs/README.md", "# theirs\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A", "-f"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "seed"], cwd=root, check=True)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repo with the pointer file outside `.codex/` and no .gitignore."""
    return _repo(tmp_path / "repo", {"pointer_file": POINTER_FILE})


OWN_WRITES: dict[str, Callable[[Path], None]] = {
    "the pointer file, rewritten": lambda r: _write(r, POINTER_FILE, '{"pointers": [1]}\n'),
    "the pointer file's temp file": lambda r: _write(
        r, "docs/phase_2_2/.ACTIVE_REGISTRY_POINTERS_v0_1.json.123.tmp"
    ),
    "the journal": lambda r: _write(r, JOURNAL, "{}\n"),
    "the journal's temp file": lambda r: _write(r, f".codex/.{JOURNAL_NAME}.123.tmp"),
    "a receipt": lambda r: _write(r, f"{RECEIPTS_RELPATH}/x/receipt.json"),
    "a sealed folder": lambda r: _write(r, f"{RUNS_RELPATH}/2026-01-01__000000__x/run.json"),
    "staging": lambda r: _write(r, ".codex/.staging/abc/file.json"),
    "the verdict cache": lambda r: _write(r, VERDICTS_RELPATH),
    "the Dagster home": lambda r: _write(r, f"{DAGSTER_HOME_RELPATH}/dagster.yaml"),
    "the build lock": lambda r: _write(r, ".codex/build.lock"),
    "a run index lock": lambda r: _write(r, ".codex/RUN_INDEX_run_index.lock"),
    "the pointer lock": lambda r: _write(r, ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json.lock"),
    "a journal set aside": lambda r: _write(r, f"{QUARANTINE_RELPATH}/journal-2026.jsonl"),
    "a journal an older release set aside": lambda r: _write(r, f"{OLD_QUARANTINE}/2026__j.jsonl"),
    "run index lines set aside": lambda r: _write(r, f"{INDEX_QUARANTINE}/lines.jsonl"),
    ".env": lambda r: _write(r, DOTENV_RELPATH, "DAGSTER_HOME=/x\n"),
    "dagster dev's own instance": lambda r: _write(r, ".tmp_dagster_home_abc/runs.db"),
}


@pytest.mark.parametrize("write", list(OWN_WRITES.values()), ids=list(OWN_WRITES))
def test_the_registry_layers_own_files_never_make_the_state_dirty(
    repo: Path, write: Callable[[Path], None]
) -> None:
    write(repo)
    state = read_git_state(repo)
    assert state.working_tree_state == "clean", canon_changes(repo)
    assert state.commit is not None and len(state.commit) == 40
    assert canon_changes(repo) == ()


def test_all_of_them_at_once_leave_the_state_clean(repo: Path) -> None:
    for write in OWN_WRITES.values():
        write(repo)
    assert read_git_state(repo).working_tree_state == "clean"


CANON_WRITES: dict[str, tuple[Callable[[Path], None], str]] = {
    "their committed file under .codex/": (
        lambda r: _write(r, ".codex/CHECKS/coverage_audit.py", "print('changed')\n"),
        ".codex/CHECKS/coverage_audit.py",
    ),
    "a new file of theirs": (lambda r: _write(r, "docs/new.md"), "docs/new.md"),
    "the catalog": (lambda r: _write(r, CATALOG_RELPATH, "{}"), CATALOG_RELPATH),
    "a folder beside the run root": (lambda r: _write(r, ".codex/RUNS2/x"), ".codex/RUNS2/"),
}


@pytest.mark.parametrize(("write", "named"), list(CANON_WRITES.values()), ids=list(CANON_WRITES))
def test_any_other_change_makes_it_dirty_and_is_named(
    repo: Path, write: Callable[[Path], None], named: str
) -> None:
    OWN_WRITES["the journal"](repo)
    write(repo)
    assert read_git_state(repo).working_tree_state == "dirty"
    assert canon_changes(repo) == (named,)


def test_without_a_catalog_the_pointer_file_is_in_its_default_place(tmp_path: Path) -> None:
    root = _repo(tmp_path / "repo", None)
    _write(root, DEFAULT_POINTER_FILE, '{"pointers": [1]}\n')
    assert read_git_state(root).working_tree_state == "clean"
    assert DEFAULT_POINTER_FILE in not_canon(root)


@pytest.mark.parametrize(
    "catalog",
    [b"not json", b"[1, 2]", b'{"pointer_file": 7}', b'{"pointer_file": "../outside.json"}'],
    ids=["not JSON", "not an object", "not a string", "outside the workspace"],
)
def test_a_catalog_it_cannot_use_leaves_the_default_place(tmp_path: Path, catalog: bytes) -> None:
    """The catalog's own checks are the build's; here it is read leniently, never a crash."""
    root = _repo(tmp_path / "repo", None)
    (root / CATALOG_RELPATH).parent.mkdir(parents=True, exist_ok=True)
    (root / CATALOG_RELPATH).write_bytes(catalog)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "catalog"], cwd=root, check=True)
    _write(root, DEFAULT_POINTER_FILE, '{"pointers": [1]}\n')
    assert read_git_state(root).working_tree_state == "clean"


def test_a_catalog_that_is_a_fifo_is_not_waited_on(tmp_path: Path) -> None:
    """A FIFO as the catalog is skipped at once (the pointer file taken from its default place)."""
    root = _repo(tmp_path / "repo", None)
    (root / CATALOG_RELPATH).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(root / CATALOG_RELPATH)
    assert DEFAULT_POINTER_FILE in not_canon(root)


def test_the_pointer_file_is_where_the_workspace_finds_it(tmp_path: Path) -> None:
    """Our reading of the catalog's `pointer_file` agrees with the workspace's own, named or not."""
    demo = json.loads((REPO / CATALOG_RELPATH).read_text(encoding="utf-8"))
    for catalog in (demo, {**demo, "pointer_file": POINTER_FILE}):
        root = tmp_path / str(len(catalog))
        shutil.copytree(REPO / "registries", root / "registries")  # the sources it names
        _repo(root, catalog)
        found = pointer_file_path(Workspace(root)).relative_to(root).as_posix()
        assert found == catalog.get("pointer_file", DEFAULT_POINTER_FILE)
        assert not_canon(root)[0] == found


def test_not_canon_names_every_place_the_layer_writes_under_codex(workspace: Workspace) -> None:
    """Every place the rooms above `seal/` keep state is listed, spelled as theirs."""
    from registry_pipeline.core.pointers.store import PointerStore

    listed = set(NOT_CANON)
    journal = PointerStore(workspace).journal_path.relative_to(workspace.root).as_posix()
    for place in (
        RUNS_RELPATH,
        RECEIPTS_RELPATH,
        journal,
        QUARANTINE_RELPATH,
        OLD_QUARANTINE,
        INDEX_QUARANTINE,
        DAGSTER_HOME_RELPATH,
        DOTENV_RELPATH,
        str(Path(VERDICTS_RELPATH).parent),
    ):
        assert place in listed, place


def test_a_workspace_inside_a_larger_repository_is_read_from_its_own_root(tmp_path: Path) -> None:
    """A workspace in a subfolder: its files found under it; changes elsewhere count."""
    outer = tmp_path / "outer"
    _write(outer, "top.txt")
    root = _repo(outer / "ws", {"pointer_file": POINTER_FILE})
    shutil.rmtree(root / ".git")  # `ws` is a folder of the outer repository, not one itself
    subprocess.run(["git", "init", "-q"], cwd=outer, check=True)
    subprocess.run(["git", "add", "-A", "-f"], cwd=outer, check=True)
    subprocess.run([*GIT, "commit", "-qm", "outer"], cwd=outer, check=True)
    OWN_WRITES["the pointer file, rewritten"](root)
    OWN_WRITES["the journal"](root)
    assert read_git_state(root).working_tree_state == "clean"
    _write(outer, "top.txt", "changed\n")
    assert read_git_state(root).working_tree_state == "dirty"
    assert canon_changes(root) == ("top.txt",)  # as git names it: from the repository's top


def test_outside_a_repository_the_state_is_unknown(tmp_path: Path) -> None:
    _write(tmp_path / "ws", DEFAULT_POINTER_FILE)
    assert read_git_state(tmp_path / "ws") == GitState(None, None)
    assert canon_changes(tmp_path / "ws") is None


def test_without_git_on_path_the_state_is_unknown(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert read_git_state(repo) == GitState(None, None)
    assert canon_changes(repo) is None
