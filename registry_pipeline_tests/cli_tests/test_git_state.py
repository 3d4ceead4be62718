"""Honest git state: our files never dirty a committed repository; without git it is unknown."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.gate.receipts import RECEIPTS_RELPATH
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline_tests._helpers import Entries, Run, child_env, commit_all
from registry_pipeline_tests.cli_tests._seed_layout import PHASE, make_seed_repo

POINTER_FILE = (PHASE / "ACTIVE_REGISTRY_POINTERS_v0_1.json").as_posix()
JOURNAL = f".codex/{JOURNAL_NAME}"
UNKNOWN_NOTE = "note: git state unknown"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def _status(root: Path) -> list[str]:
    return _git(root, "status", "--porcelain").splitlines()


def _check_ignore(root: Path, *paths: str) -> list[str]:
    """Those of `paths` git ignores (exit 1, none: not an error)."""
    done = subprocess.run(["git", "check-ignore", *paths], cwd=root, capture_output=True,
                          text=True, check=False)  # fmt: skip
    return done.stdout.split()


def _newest(root: Path, suffix: str, name: str) -> Any:
    folders = sorted((root / ".codex" / "RUNS").glob(f"*__{suffix}"))
    assert folders, f"no {suffix} folder under {root}"
    text = (folders[-1] / name).read_text(encoding="utf-8")
    return text if name.endswith(".md") else json.loads(text)


def _drift(root: Path) -> dict[str, Any]:
    return dict(_newest(root, "drift_signals_build", "DRIFT_SIGNALS_v0_1.json"))


def _report(root: Path) -> str:
    return str(_newest(root, "system_health_report_build", "SYSTEM_HEALTH_REPORT_v0_1.md"))


def _states(root: Path) -> set[str | None]:
    return {
        json.loads(path.read_text())["working_tree_state"]
        for path in (root / ".codex" / "RUNS").glob("*/run.json")
    }


def _without_git(tmp_path: Path) -> dict[str, str]:
    """This environment with no git on PATH (`registry` is called by its full path)."""
    empty = tmp_path / "bin-without-git"
    empty.mkdir(exist_ok=True)
    return child_env(PATH=str(empty))


def _registry(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`registry ARGS...` as its own process; never a traceback."""
    command = str(Path(sys.executable).with_name("registry"))
    done = subprocess.run(
        [command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


@pytest.fixture
def adopted(cli: Run, tmp_path: Path) -> Path:
    """The seed-layout fixture (its .gitignore ignores .codex/RUNS/), adopted and committed."""
    root = make_seed_repo(tmp_path / "ovc")
    code, _, err = cli("adopt", str(root))
    assert code == 0, err
    commit_all(root, "adopt registry-pipeline")
    return root


def test_builds_of_a_committed_adoption_stay_clean(cli: Run, adopted: Path) -> None:
    """The first build rewrites the pointer file and starts the journal: no build makes it dirty."""
    for args in ((), ("--force",), ("--force",)):
        code, out, err = cli("build", "--workspace", str(adopted), *args)
        assert code == 0, out + err
        assert UNKNOWN_NOTE not in out
        drift = _drift(adopted)
        assert drift["system_drift"]["canon_dirty"] is False
        assert drift["system_drift"]["canon_state"] == "clean"
        assert drift["git_commit"] == _git(adopted, "rev-parse", "HEAD").strip()
        assert "canon_dirty: no" in _report(adopted)
    assert _states(adopted) == {"clean"}
    # what git shows a user: only their pointer file, which the builds moved
    assert _status(adopted) == [f" M {POINTER_FILE}"]


def test_a_change_of_theirs_still_makes_it_dirty(cli: Run, adopted: Path) -> None:
    (adopted / "docs" / "notes.md").write_text("uncommitted\n")
    code, out, err = cli("build", "--workspace", str(adopted))
    assert code == 0, out + err
    assert _drift(adopted)["system_drift"]["canon_state"] == "dirty"
    assert "canon_dirty: yes" in _report(adopted)


def test_adopt_tells_git_to_ignore_the_journal_and_receipts_as_it_ignores_the_run_root(
    cli: Run, tmp_path: Path
) -> None:
    root = make_seed_repo(tmp_path / "ovc")
    exclude = root / ".git" / "info" / "exclude"
    before = exclude.read_bytes()
    code, out, err = cli("adopt", str(root), "--dry-run")
    assert code == 0, err
    assert "would append 3 lines to .codex/.gitignore" in out
    assert exclude.read_bytes() == before  # a dry run tells git nothing
    code, out, err = cli("adopt", str(root))
    assert code == 0, err
    assert (
        "appended 3 lines to .codex/.gitignore: git ignores the pointer journal and "
        ".codex/RECEIPTS/ as it ignores .codex/RUNS/ (.gitignore:2 .codex/RUNS/), whose "
        "folders they name"
    ) in out
    assert (
        "appended 2 lines to .git/info/exclude: this machine's Dagster home, never committed "
        "(.env names it; dagster dev makes its own where .env names none)"
    ) in out
    assert f"not canon (never makes the state dirty): {POINTER_FILE}, {JOURNAL}" in out
    [next_step] = [line for line in out.splitlines() if line.startswith("next: ")]
    assert next_step.startswith("next: commit .codex/, .gitattributes, dg.toml, registries/, ")
    assert next_step.endswith(
        " (until then every build records the state dirty), then registry build"
    )
    dagster_tmp = ".tmp_dagster_home_abc/x"
    ignored = _check_ignore(root, JOURNAL, f"{RECEIPTS_RELPATH}/x", ".env", dagster_tmp)
    assert ignored == [JOURNAL, f"{RECEIPTS_RELPATH}/x", ".env", dagster_tmp]
    lines = (root / ".codex" / ".gitignore").read_text().splitlines()
    assert f"/{JOURNAL_NAME}" in lines and "/RECEIPTS/" in lines
    code, out, _ = cli("adopt", str(root), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["workspace_changes"] == []  # told once
    assert result["git"]["work_tree"] is True
    assert result["git"]["not_canon"][:2] == [POINTER_FILE, JOURNAL]
    assert ".codex/" in result["git"]["uncommitted"]  # a new folder: its .gitignore
    commit_all(root, "adopt")
    code, out, _ = cli("adopt", str(root))
    assert code == 0 and out.splitlines()[-1] == "next: registry build"


def test_a_committed_run_root_leaves_its_journal_and_receipts_to_be_committed_with_it(
    cli: Run, tmp_path: Path
) -> None:
    root = make_seed_repo(tmp_path / "ovc", {".gitignore": "__pycache__/\n"})
    code, out, err = cli("adopt", str(root), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert not any(".codex/.gitignore:" in change for change in result["workspace_changes"])
    assert _check_ignore(root, JOURNAL, f"{RECEIPTS_RELPATH}/x") == []
    assert result["git"]["advice"] == [
        "git does not ignore .codex/RUNS/: commit its new run folders together with "
        f"{POINTER_FILE}, {JOURNAL} and {RECEIPTS_RELPATH}/ after a build (they name those "
        "folders)"
    ]


def test_adopt_outside_a_repository_warns_that_builds_will_not_know_the_state(
    cli: Run, tmp_path: Path
) -> None:
    root = make_seed_repo(tmp_path / "ovc")
    shutil.rmtree(root / ".git")
    code, out, err = cli("adopt", str(root), "--json")
    assert code == 0, err
    by_code = {w["code"]: w for w in json.loads(out)["warnings"]}
    unknown = by_code["GIT_STATE_UNKNOWN"]
    assert "the workspace is not inside a git work tree" in str(unknown["message"])
    assert "git_commit null" in str(unknown["message"])
    git = json.loads(out)["git"]
    assert git["work_tree"] is False and git["uncommitted"] is None and git["advice"] == []


def test_adopt_without_git_on_path_warns_the_same(tmp_path: Path) -> None:
    root = make_seed_repo(tmp_path / "ovc")
    done = _registry(_without_git(tmp_path), root, "adopt")
    assert done.returncode == 0, done.stderr
    assert "warning: git cannot tell this workspace's state (git is not on PATH, " in done.stderr
    assert "next: registry build" in done.stdout


def test_without_git_on_path_the_build_says_the_state_is_unknown(
    adopted: Path, tmp_path: Path
) -> None:
    """No git to ask: the build said `canon_dirty: no`; now it and every document say unknown."""
    done = _registry(_without_git(tmp_path), adopted, "build")
    assert done.returncode == 0, done.stdout + done.stderr
    [note] = [line.strip() for line in done.stdout.splitlines() if UNKNOWN_NOTE in line]
    assert "git_commit null" in note and "not known to be clean" in note
    drift = _drift(adopted)
    assert drift["git_commit"] is None and drift["working_tree_state"] is None
    assert drift["system_drift"]["canon_state"] == "unknown"
    assert drift["system_drift"]["canon_dirty"] is True  # never clean
    assert "canon_state:unknown" in drift["warnings"]
    assert "canon_dirty: unknown (git state unknown" in _report(adopted)
    assert _states(adopted) == {None}


def test_a_workspace_outside_a_repository_builds_with_an_unknown_state(
    built: Path, built_entries: Entries
) -> None:
    """The session's green build (exit 0) of a demo copy outside git; `built` a copy of it."""
    demo = built
    drift_entry = built_entries["drift_signals"]
    assert [n for n in drift_entry["notes"] if n.startswith("git state unknown")]
    assert _drift(demo)["system_drift"]["canon_state"] == "unknown"
    assert "canon_dirty: unknown (git state unknown" in _report(demo)


def test_an_ignore_file_adopt_cannot_read_is_a_clear_error_before_any_write(
    cli: Run, tmp_path: Path
) -> None:
    root = make_seed_repo(tmp_path / "ovc")
    (root / ".codex" / ".gitignore").mkdir(parents=True)
    code, out, err = cli("adopt", str(root), "--json")
    assert code == 2, out + err
    problem = json.loads(out)["error"]  # with --json, one problem object on stdout
    assert problem["code"] == "UNREADABLE" and "it is a folder" in problem["message"]
    assert problem["path"] == str(root / ".codex" / ".gitignore")
    assert not (root / "registries").exists()  # refused before anything was written


def test_a_repository_where_git_fails_is_an_unknown_state_said_as_such(
    cli: Run, tmp_path: Path
) -> None:
    """git cannot list the tree (info/exclude a folder): neither clean nor dirty; adopt says so."""
    root = make_seed_repo(tmp_path / "ovc")
    exclude = root / ".git" / "info" / "exclude"
    exclude.unlink()
    exclude.mkdir()
    code, out, err = cli("adopt", str(root), "--json")
    assert code == 0, err
    by_code = {w["code"]: w for w in json.loads(out)["warnings"]}
    assert "`git status` fails there" in str(by_code["GIT_STATE_UNKNOWN"]["message"])
