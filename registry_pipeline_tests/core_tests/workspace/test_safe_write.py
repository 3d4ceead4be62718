"""`require_safe`: a write stays inside the workspace or is UNSAFE_PATH before it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.fs import require_safe, require_safe_all, write_atomic
from registry_pipeline.core.seal import validate
from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.workspace.build_slot import BUILD_SLOT_RELPATH, build_slot
from registry_pipeline.core.workspace.layout import Workspace, init_workspace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    (folder / ".codex" / "RUNS").mkdir(parents=True)
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "file.txt").write_text("theirs\n")
    return folder


def _refusal(root: Path, target: Path) -> UsageError:
    with pytest.raises(UsageError) as raised:
        require_safe(root, target)
    assert raised.value.code == "UNSAFE_PATH" and raised.value.exit_code == 2
    assert "\n" not in raised.value.message
    return raised.value


def test_a_place_inside_is_allowed_whether_or_not_it_exists(root: Path) -> None:
    assert require_safe(root, root / ".codex" / "RUNS") == root / ".codex" / "RUNS"
    assert (
        require_safe(root, root / "new" / "deeper" / "file.json") == root / "new/deeper/file.json"
    )
    assert require_safe(root, root) == root


def test_a_symlinked_folder_in_the_middle_is_refused_naming_it(root: Path, outside: Path) -> None:
    (root / ".codex" / "cache").symlink_to(outside)
    error = _refusal(root, root / ".codex" / "cache" / "write_path" / "x.json")
    assert error.path == str(root / ".codex" / "cache")
    assert ".codex/cache is a symlink" in error.message and str(outside) in error.message


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlink_as_the_final_component_is_refused(
    root: Path, outside: Path, dangling: bool
) -> None:
    link = root / ".gitattributes"
    link.symlink_to(outside / ("missing.txt" if dangling else "file.txt"))
    assert _refusal(root, link).path == str(link)


def test_a_link_that_points_inside_the_workspace_is_refused_too(root: Path) -> None:
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real")
    assert _refusal(root, root / "alias" / "file.txt").path == str(root / "alias")


@pytest.mark.parametrize("relpath", ["../outside/file.txt", "a/../../outside", "a/../b"])
def test_dotdot_below_the_root_is_refused(root: Path, outside: Path, relpath: str) -> None:
    """After a link `..` is the link's parent, which the spelling does not show: never allowed."""
    error = _refusal(root, root / relpath)
    assert "`..`" in error.message and error.path == str(root / relpath)
    assert (outside / "file.txt").read_text() == "theirs\n"


def test_a_target_outside_the_root_is_refused(root: Path, outside: Path) -> None:
    error = _refusal(root, outside / "file.txt")
    assert "outside the workspace" in error.message and error.path == str(outside / "file.txt")


def test_the_root_itself_may_be_a_link(root: Path, tmp_path: Path) -> None:
    """The user chose it (`--workspace LINK`); below it, no link is followed."""
    link = tmp_path / "link"
    link.symlink_to(root)
    assert require_safe(link, link / ".codex" / "RUNS" / "x") == link / ".codex" / "RUNS" / "x"


def test_a_root_spelled_with_dotdot_is_its_folder(root: Path) -> None:
    """`--workspace ../ws` keeps its `..` in the root's spelling; that is the user's choice."""
    spelled = root / ".." / root.name
    assert require_safe(spelled, spelled / ".codex" / "RUNS") == spelled / ".codex" / "RUNS"


def test_require_safe_all_checks_every_target(root: Path, outside: Path) -> None:
    (root / "schemas").symlink_to(outside)
    targets = [root / "registries" / "catalog.json", root / "schemas" / "a.schema.json"]
    with pytest.raises(UsageError) as raised:
        require_safe_all(root, targets)
    assert raised.value.path == str(root / "schemas")


def test_init_writes_nothing_when_one_target_is_a_link(root: Path, outside: Path) -> None:
    (root / ".gitattributes").symlink_to(outside / "file.txt")
    with pytest.raises(UsageError) as raised:
        init_workspace(root)
    assert raised.value.code == "UNSAFE_PATH"
    assert sorted(p.name for p in root.iterdir()) == [".codex", ".gitattributes"]
    assert sorted(p.name for p in (root / ".codex").iterdir()) == ["RUNS"]
    assert (outside / "file.txt").read_text() == "theirs\n"


def test_the_build_slot_is_never_taken_through_a_symlinked_runs_folder(
    root: Path, outside: Path
) -> None:
    (root / ".codex" / "RUNS").rmdir()
    (root / ".codex" / "RUNS").symlink_to(outside)
    with pytest.raises(UsageError) as raised, build_slot(Workspace(root), "test", wait=0):
        pass
    assert raised.value.path == str(root / ".codex" / "RUNS")
    assert not (root / BUILD_SLOT_RELPATH).exists()


def test_the_verdict_cache_is_never_read_or_written_through_a_link(
    root: Path, outside: Path
) -> None:
    """A verdict read from elsewhere would be trusted: a PASS forged there."""
    (root / ".codex" / "cache").symlink_to(outside)
    with pytest.raises(UsageError) as raised, inspection_cache(Workspace(root).root):
        pass
    assert raised.value.code == "UNSAFE_PATH"
    assert raised.value.path == str(root / ".codex" / "cache")
    assert list(outside.iterdir()) == [outside / "file.txt"]
    assert validate._CACHE is None and validate._VERDICTS is None  # no block left open


def test_write_atomic_replaces_a_link_and_never_writes_through_one(
    root: Path, outside: Path
) -> None:
    link = root / "cache.json"
    link.symlink_to(outside / "file.txt")
    write_atomic(link, b"ours\n", durable=False)
    assert not link.is_symlink() and link.read_bytes() == b"ours\n"
    assert (outside / "file.txt").read_text() == "theirs\n"
    planted = root / f".cache.json.{os.getpid()}.tmp"
    planted.symlink_to(outside / "file.txt")
    with pytest.raises(OSError):
        write_atomic(link, b"again\n", durable=False)
    assert (outside / "file.txt").read_text() == "theirs\n" and link.read_bytes() == b"ours\n"
