"""Real git: `registry init`'s `-text` line keeps sealed folders valid through a clone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from registry_pipeline.core.errors import Hint
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, attributes_line

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not on PATH")

SOURCE_FILES = {
    "rows.csv": b"id,value\r\n1,a\r\n2,b\r\n",
    "notes.txt": b"CRLF line one\r\nCRLF line two\r\n",
    "sub/lf_only.txt": b"LF line one\nLF line two\n",
    "sub/report.json": b'{\r\n  "ok": true\r\n}\r\n',
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Subprocess environment: a committer identity and no global or system git config."""
    empty_config = tmp_path / "empty.gitconfig"
    empty_config.write_bytes(b"")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "REGISTRY_"))}
    return {
        **base,
        "GIT_AUTHOR_NAME": "Registry Tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "Registry Tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
        "GIT_CONFIG_GLOBAL": str(empty_config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }


def _git(env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _registry(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry_pipeline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    for relpath, data in SOURCE_FILES.items():
        (source / relpath).parent.mkdir(parents=True, exist_ok=True)
        (source / relpath).write_bytes(data)
    return source


def _repo_with_seal(
    tmp_path: Path,
    env: dict[str, str],
    autocrlf: str,
    attributes_before: str | None,
    attributes_after: str | None = None,
) -> tuple[Path, str]:
    """git init, `registry init`, seal, commit: the repo and run id."""
    repo = tmp_path / "repo"
    _git(env, "init", "-q", str(repo))
    _git(env, "config", "core.autocrlf", autocrlf, cwd=repo)
    if attributes_before is not None:
        (repo / ".gitattributes").write_text(attributes_before, encoding="utf-8")
    done = _registry(env, "init", str(repo))
    assert done.returncode == 0, done.stderr
    line = attributes_line(RUNS_RELPATH)
    assert line == "/.codex/RUNS/** -text"
    assert line in (repo / ".gitattributes").read_text(encoding="utf-8").splitlines()
    if attributes_after == "":
        (repo / ".gitattributes").unlink()
    elif attributes_after is not None:
        (repo / ".gitattributes").write_text(attributes_after, encoding="utf-8")
    done = _registry(
        env,
        "seal",
        str(_source(tmp_path)),
        "--registry-id",
        "eol",
        "--workspace",
        str(repo),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    assert inspect_run_folder(repo / ".codex" / "RUNS" / run_id).ok
    _git(env, "add", "-A", cwd=repo)
    _git(env, "commit", "-q", "-m", "seal a run", cwd=repo)
    return repo, run_id


def _clone(tmp_path: Path, env: dict[str, str], repo: Path, autocrlf: str) -> Path:
    clone = tmp_path / "clone"
    _git(env, "clone", "-q", "-c", f"core.autocrlf={autocrlf}", str(repo), str(clone))
    return clone


@pytest.mark.parametrize(
    "attributes_before",
    [None, "* text=auto eol=crlf\n"],
    ids=["no_prior_attributes", "prior_text_auto_eol_crlf"],
)
def test_sealed_folder_survives_commit_and_clone_with_autocrlf(
    tmp_path: Path, env: dict[str, str], attributes_before: str | None
) -> None:
    repo, run_id = _repo_with_seal(tmp_path, env, "true", attributes_before)
    clone = _clone(tmp_path, env, repo, "true")
    original = repo / ".codex" / "RUNS" / run_id
    cloned = clone / ".codex" / "RUNS" / run_id
    report = inspect_run_folder(cloned)
    assert report.ok, [str(problem) for problem in report.problems]
    for path in original.rglob("*"):
        if path.is_file():
            assert (cloned / path.relative_to(original)).read_bytes() == path.read_bytes(), path
    for relpath, data in SOURCE_FILES.items():
        assert (cloned / relpath).read_bytes() == data
    done = _registry(env, "validate", "--all", "--workspace", str(clone))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("autocrlf", "attributes", "converted"),
    [
        # checkout turns LF into CRLF: the LF files no longer match
        ("true", "", {"run.json", "manifest.json", "sub/lf_only.txt"}),
        # commit turns CRLF into LF and checkout keeps LF: the CRLF files no longer match
        ("false", "* text=auto\n", {"rows.csv", "notes.txt", "sub/report.json"}),
        ("true", "* text=auto\n", {"run.json", "manifest.json", "sub/lf_only.txt"}),
    ],
    ids=["autocrlf_without_attributes", "text_auto_only", "autocrlf_and_text_auto"],
)
def test_without_the_line_a_clone_fails_with_line_endings_hint(
    tmp_path: Path, env: dict[str, str], autocrlf: str, attributes: str, converted: set[str]
) -> None:
    repo, run_id = _repo_with_seal(tmp_path, env, autocrlf, None, attributes_after=attributes)
    clone = _clone(tmp_path, env, repo, autocrlf)
    report = inspect_run_folder(clone / ".codex" / "RUNS" / run_id)
    assert not report.ok
    diagnosed = {
        problem.path
        for problem in report.problems
        if problem.code == "HASH_MISMATCH" and problem.hint == Hint.LINE_ENDINGS_CONVERTED
    }
    assert diagnosed == converted, [str(problem) for problem in report.problems]
    done = _registry(env, "validate", "--all", "--json", "--workspace", str(clone))
    assert done.returncode == 1, done.stdout + done.stderr
    (folder,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert folder["status"] == "FAIL"
    assert any(
        error["code"] == "HASH_MISMATCH" and error.get("hint") == "LINE_ENDINGS_CONVERTED"
        for error in folder["errors"]
    )


def test_our_locks_and_caches_never_make_a_committed_workspace_dirty(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A build's `.codex/build.lock` is ignored by git: no snapshot records a dirty tree for it."""
    root = tmp_path / "ws"
    root.mkdir()
    _git(env, "init", "-q", cwd=root)
    (root / ".codex").mkdir()
    (root / ".codex" / ".gitignore").write_text("# older\n.staging/\ndagster_home/")
    done = _registry(env, "init", str(root))
    assert done.returncode == 0, done.stderr
    assert "anchored 2 and appended 2 line(s) of .codex/.gitignore (kept the rest)" in done.stdout
    assert (root / ".codex" / ".gitignore").read_text().startswith("# older\n")
    _git(env, "add", "-A", cwd=root)
    _git(env, "commit", "-qm", "init", cwd=root)
    for relpath in ("build.lock", "REGISTRY_WRITE.lock", "cache/verdicts/a", "dagster_home/x"):
        (root / ".codex" / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / ".codex" / relpath).write_text("state\n")
    assert _git(env, "status", "--porcelain", cwd=root) == ""
    sealed = root / ".codex" / "RUNS" / "2026-11-23__000000__deps_build"  # files a seal lists
    for relpath in ("uv.lock", "cache/a.json", "dagster_home/b", ".staging/c"):
        (sealed / relpath).parent.mkdir(parents=True, exist_ok=True)
        (sealed / relpath).write_text("sealed\n")
    untracked = _git(env, "status", "--porcelain", "-uall", cwd=root).split()[1::2]
    assert sorted(untracked) == sorted(
        f".codex/RUNS/2026-11-23__000000__deps_build/{relpath}"
        for relpath in ("uv.lock", "cache/a.json", "dagster_home/b", ".staging/c")
    )  # nothing a seal lists is ever ignored
    assert _registry(env, "init", str(root)).stdout.count(".codex/.gitignore") == 0  # idempotent
