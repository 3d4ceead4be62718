"""A symlink on the way to any write of ours is UNSAFE_PATH, exit 2, before anything is written."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import REPO, Run, link_state, replace_with_link

MIGRATION = {
    "file": "sql/099_unsafe.sql",
    "description": "A migration the write path must not write",
    "applied_at": "2026-09-20T08:00:00Z",
    "applied_by": "ops-bot",
    "status": "VERIFIED",
}


def _refused(result: tuple[int, str, str], link: Path, reason: str = "UNSAFE_PATH") -> None:
    """Exit 2, one line on stderr: `reason` naming `link`, no traceback (the fixture)."""
    code, out, err = result
    assert code == 2, err
    assert out == ""
    assert err.startswith(f"error: {reason} {link}: ") and err.count("\n") == 1, err
    assert "symlink" in err


# --- init and adopt ------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", [".codex", "registries"])
def test_init_refuses_a_symlinked_folder(
    cli: Run, tmp_path: Path, elsewhere: Path, relpath: str
) -> None:
    """`registries/` holds the catalog init reads its run roots from, and add-entry writes."""
    shutil.copytree(REPO / "registries", elsewhere, dirs_exist_ok=True)
    root = tmp_path / "ws"
    root.mkdir()
    link = replace_with_link(root / relpath, elsewhere)
    before, outside = link_state(root), link_state(elsewhere)
    _refused(cli("init", str(root)), link)
    assert link_state(root) == before and link_state(elsewhere) == outside


@pytest.mark.parametrize(
    ("relpath", "extra"),
    [(".codex", ()), (".codex", ("--dry-run",)), (".gitattributes", ()), ("schemas", ())],
)
def test_adopt_refuses_a_symlink_on_any_of_its_places_before_writing(
    cli: Run, seed_repo: Path, elsewhere: Path, relpath: str, extra: tuple[str, ...]
) -> None:
    """Not even our catalog is written first; a dry run says what the real run would refuse."""
    target = elsewhere / "theirs.txt" if relpath == ".gitattributes" else elsewhere
    link = replace_with_link(seed_repo / relpath, target)
    before, outside = link_state(seed_repo), link_state(elsewhere)
    _refused(cli("adopt", str(seed_repo), *extra), link)
    assert link_state(seed_repo) == before and link_state(elsewhere) == outside


def test_adopt_refuses_a_symlinked_codex_folder_as_json(
    cli: Run, seed_repo: Path, elsewhere: Path
) -> None:
    link = replace_with_link(seed_repo / ".codex", elsewhere)
    before = link_state(seed_repo)
    code, out, err = cli("adopt", str(seed_repo), "--json")
    assert code == 2 and err == ""
    error = json.loads(out)["error"]
    assert error["code"] == "UNSAFE_PATH" and error["path"] == str(link)
    assert ".codex" in error["message"] and "\n" not in error["message"]
    assert link_state(seed_repo) == before


# --- seal and build -------------------------------------------------------------------------


def _source(tmp_path: Path) -> str:
    path = tmp_path / "in" / "notes.txt"
    path.parent.mkdir()
    path.write_text("sealed notes\n")
    return str(path)


@pytest.mark.parametrize("relpath", [".codex/RUNS", ".codex/.staging"])
def test_seal_refuses_a_symlinked_runs_or_staging_folder(
    cli: Run, demo: Path, tmp_path: Path, elsewhere: Path, relpath: str
) -> None:
    """No staging folder either; staging leftovers past their grace period are never removed
    through a link (another folder's)."""
    old = elsewhere / "old_leftover"
    old.mkdir()
    os.utime(old, (0, 0))
    link = replace_with_link(demo / relpath, elsewhere)
    before, outside = link_state(demo), link_state(elsewhere)
    result = cli("seal", _source(tmp_path), "--registry-id", "notes", "--workspace", str(demo))
    _refused(result, link)
    assert link_state(demo) == before and link_state(elsewhere) == outside


@pytest.mark.parametrize(
    "relpath",
    [".codex/RUNS", ".codex/.staging", ".codex/build.lock", ".codex/cache", ".codex/dagster_home"],
)
def test_build_refuses_a_symlink_on_any_of_its_places_before_writing(
    cli: Run, demo: Path, elsewhere: Path, relpath: str
) -> None:
    """Every place is checked before the build lock (the build's first write) is taken."""
    target = elsewhere / "theirs.txt" if relpath.endswith(".lock") else elsewhere
    link = replace_with_link(demo / relpath, target)
    before, outside = link_state(demo), link_state(elsewhere)
    reason = "UNSAFE_RUN_ROOT" if relpath == ".codex/RUNS" else "UNSAFE_PATH"
    _refused(cli("build", "--workspace", str(demo)), link, reason)
    assert link_state(demo) == before and link_state(elsewhere) == outside


def test_the_run_store_refuses_a_symlinked_runs_folder_for_every_caller(
    tmp_path: Path, elsewhere: Path
) -> None:
    """The sealing IO manager seals through the run store, which checks for itself."""
    from registry_pipeline.core.errors import UsageError

    root = tmp_path / "ws"
    (root / ".codex").mkdir(parents=True)
    link = replace_with_link(root / ".codex" / "RUNS", elsewhere)
    with pytest.raises(UsageError) as raised:
        seal_files(RunStore(Workspace(root)), RunSpec(registry_id="notes"), {"a.txt": b"a\n"})
    assert raised.value.code == "UNSAFE_PATH" and raised.value.path == str(link)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["theirs.txt"]
    assert sorted(p.name for p in (root / ".codex").iterdir()) == ["RUNS"]


# --- caches ---------------------------------------------------------------------------------


def test_add_entry_refuses_a_symlinked_parse_cache(
    cli: Run, demo: Path, tmp_path: Path, elsewhere: Path
) -> None:
    """The parse cache stands for a file's parse: from elsewhere, not ours to trust or write."""
    ledger = demo / "registries" / "migration_ledger" / "applied_migrations.json"
    mine = ledger.read_bytes()
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps(MIGRATION))
    link = replace_with_link(demo / ".codex" / "cache", elsewhere)
    outside = link_state(elsewhere)
    result = cli("add-entry", "--workspace", str(demo), "--type", "migration_ledger",
                 "--entry-file", str(entry))  # fmt: skip
    _refused(result, link)
    assert ledger.read_bytes() == mine and link_state(elsewhere) == outside


# --- restore --------------------------------------------------------------------------------


def test_restore_never_writes_through_a_link_below_its_dest(
    cli: Run, demo: Path, tmp_path: Path, elsewhere: Path
) -> None:
    """DEST is the user's choice; a link planted below it is refused, never followed."""
    sealed = seal_files(RunStore(Workspace(demo)), RunSpec(registry_id="notes"), {"a": b"a\n"})
    dest = tmp_path / "dest"
    link = replace_with_link(dest / sealed.run_id, elsewhere)
    outside = link_state(elsewhere)
    code, _out, err = cli("restore-line-endings", str(sealed.path), str(dest))
    assert code == 2 and "DEST_EXISTS" in err and str(link) in err
    assert link_state(elsewhere) == outside
