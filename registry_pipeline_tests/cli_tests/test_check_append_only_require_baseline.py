"""`--require-baseline`: a CI job or a hook that cannot see the published version fails, naming
the ref, instead of passing as a first publish; the documented configurations use it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from registry_pipeline.core.append_only.example import example_pack
from registry_pipeline_tests.cli_tests.conftest import Run

REPO = Path(__file__).resolve().parents[2]
NAME = "atelier_rolepack_v1.json"
GIT = [
    "git",
    "-c",
    "user.email=t@example.org",
    "-c",
    "user.name=t",
    "-c",
    "init.defaultBranch=main",
]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, check=True)


def _write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def _upstream(tmp_path: Path) -> Path:
    """A repository whose main publishes the pack, and a branch `feature` beside it."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    _git(upstream, "init", "-q")
    _write(upstream / NAME, example_pack())
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-qm", "publish")
    _git(upstream, "branch", "feature")
    return upstream


def _single_branch_clone(tmp_path: Path) -> Path:
    """What a CI checkout of a pull request often is: one branch, no main, no origin/main."""
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", "--depth", "1", "--single-branch", "--branch", "feature",
         f"file://{_upstream(tmp_path)}", str(clone))  # fmt: skip
    return clone


def _check(cli: Run, path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = cli("check-append-only", str(path), "--rules", "rolepack", "--json", *extra)
    return code, json.loads(out), err


def test_a_shallow_clone_without_the_ref_passes_only_as_a_warned_first_publish(
    cli: Run, tmp_path: Path
) -> None:
    clone = _single_branch_clone(tmp_path)
    pack = clone / NAME
    document = example_pack()
    document["roles"].pop(0)  # a removal no check can see without the published version
    _write(pack, document)
    code, out, err = _check(cli, pack, "--baseline-git", "main")
    assert code == 0 and out["baseline"]["first_publish"] is True
    assert "warning" in err and "--require-baseline" in err and "main" in err


def test_require_baseline_refuses_an_unresolvable_ref_naming_it(cli: Run, tmp_path: Path) -> None:
    clone = _single_branch_clone(tmp_path)
    code, out, _ = _check(cli, clone / NAME, "--baseline-git", "main", "--require-baseline")
    assert code == 2
    error = out["error"]
    assert error["code"] == "BASELINE_REF_UNRESOLVABLE"
    assert "main" in error["message"] and "origin/main" in error["message"]
    assert error["path"] == str(clone / NAME)


def test_require_baseline_refuses_a_file_missing_at_the_ref(cli: Run, tmp_path: Path) -> None:
    upstream = _upstream(tmp_path)
    moved = _write(upstream / "assets" / NAME, example_pack())  # not where main has it
    code, out, _ = _check(cli, moved, "--baseline-git", "main", "--require-baseline")
    assert code == 2
    assert out["error"]["code"] == "BASELINE_MISSING"
    assert f"main:assets/{NAME}" in out["error"]["message"]


def test_require_baseline_passes_when_the_baseline_is_there(cli: Run, tmp_path: Path) -> None:
    upstream = _upstream(tmp_path)
    code, out, _ = _check(cli, upstream / NAME, "--baseline-git", "main", "--require-baseline")
    assert code == 0 and out["baseline"]["source"] == f"main:{NAME}"


def test_require_baseline_without_a_baseline_option_outside_a_workspace(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pack = _write(tmp_path / NAME, example_pack())
    code, out, _ = _check(cli, pack, "--require-baseline")
    assert code == 2 and out["error"]["code"] == "BASELINE_MISSING"


def test_require_baseline_with_no_published_snapshot_in_a_workspace(cli: Run, demo: Path) -> None:
    pack = demo / "registries" / "rolepack" / NAME
    code, out, err = cli("check-append-only", str(pack), "--workspace", str(demo), "--json",
                         "--require-baseline")  # fmt: skip
    assert code == 2, out + err
    assert json.loads(out)["error"]["code"] == "BASELINE_MISSING"


def test_a_ref_that_looks_like_an_option_is_refused_before_git_runs(
    cli: Run, tmp_path: Path
) -> None:
    upstream = _upstream(tmp_path)
    target = tmp_path / "written"
    code, out, _ = _check(cli, upstream / NAME, f"--baseline-git=--output={target}")
    assert code == 2 and out["error"]["code"] == "BASELINE_REF_INVALID"
    assert not list(tmp_path.glob("written*"))  # git never ran with it


# --- the documented configurations use it ------------------------------------------------------


def test_the_pre_commit_hooks_require_a_baseline() -> None:
    hooks = YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hooks
    for hook in hooks:
        assert "--require-baseline" in hook["entry"].split(), hook["id"]


def test_the_documented_ci_job_requires_a_baseline() -> None:
    docs = (REPO / "docs" / "APPEND_ONLY.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", docs, flags=re.S)
    ci = [b for b in blocks if "registry check-append-only" in b]
    assert ci, "docs/APPEND_ONLY.md documents a CI job"
    for block in ci:
        YAML(typ="safe").load(block)  # valid YAML
        for line in block.splitlines():
            if "registry check-append-only" in line:
                assert "--require-baseline" in line, line
