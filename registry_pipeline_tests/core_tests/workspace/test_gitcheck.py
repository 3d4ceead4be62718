"""What a real git says of run roots and pointer targets: ignore rules, line endings, tracking."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from registry_pipeline.core.workspace.gitcheck import (
    converted,
    ignore_rules,
    pointer_targets,
    workspace_git_findings,
)
from registry_pipeline.core.workspace.layout import init_workspace


def _repo(root: Path, ignore: str = "", attributes: str = "") -> Path:
    root.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / ".gitignore").write_text(ignore)
    (root / ".gitattributes").write_text(attributes)
    return root


def workspace_git_warnings(root: Path, run_roots: Sequence[str], pointer_file: str) -> list[str]:
    return [found.message for found in workspace_git_findings(root, run_roots, pointer_file)]


def test_ignore_rules_name_the_file_line_and_pattern(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r", "build/\n.codex/RUNS/\n*.log\n!keep.log\n")
    rules = ignore_rules(root, [".codex/RUNS/x/manifest.json", "r/keep.log", "src/a.py"])
    assert rules == {".codex/RUNS/x/manifest.json": ".gitignore:2 .codex/RUNS/"}


def test_outside_git_nothing_is_reported(tmp_path: Path) -> None:
    """Rule files outside a git work tree govern nothing: git decides, not a parser of ours."""
    (tmp_path / ".gitignore").write_text(".codex/RUNS/\n")
    (tmp_path / ".gitattributes").write_text("* text=auto\n")
    pointer = {"registry_id": "a", "active_ref": {"run_id": "r1", "run_root": ".codex/RUNS"}}
    (tmp_path / "p.json").write_text(json.dumps({"pointers": [pointer]}))
    assert pointer_targets(tmp_path / "p.json") == [("a", ".codex/RUNS", "r1")]
    assert workspace_git_findings(tmp_path, [".codex/RUNS"], "p.json") == []


@pytest.mark.parametrize(
    ("attributes", "converts"),
    [
        ("* text=auto eol=lf\n", True),
        ("*.json text\n", True),
        ("* eol=crlf\n", True),
        ("* text=auto eol=lf\n/.codex/RUNS/** -text\n", False),
        ("* -text\n", False),
        ("", False),
    ],
)
def test_line_ending_conversion_as_git_decides(
    tmp_path: Path, attributes: str, converts: bool
) -> None:
    root = _repo(tmp_path / "r", attributes=attributes)
    probe = ".codex/RUNS/x/manifest.json"
    assert converted(root, [probe]) == ([probe] if converts else [])


def test_init_covers_every_run_root_and_then_git_converts_none(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r", attributes="* text=auto eol=lf\n")
    roots = (".codex/RUNS", "reports/path1/evidence/runs")
    assert len(workspace_git_warnings(root, roots, "p.json")) == 2
    changed = init_workspace(root, roots)
    assert "appended 4 lines to .gitattributes (kept what was there)" in changed
    assert workspace_git_warnings(root, roots, "p.json") == []
    assert init_workspace(root, roots) == []  # idempotent


def test_a_committed_pointer_file_naming_ignored_folders_is_warned(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r", ignore=".codex/RUNS/\n")
    pointers = {"pointers": [
        {"registry_id": "a", "active_ref": {"run_id": "r1", "run_root": ".codex/RUNS"}},
        {"registry_id": "b", "active_ref": None},
        {"registry_id": "c", "active_ref": {"run_id": "r3", "run_root": "kept"}},
    ]}  # fmt: skip
    (root / "p.json").write_text(json.dumps(pointers))
    assert pointer_targets(root / "p.json") == [("a", ".codex/RUNS", "r1"), ("c", "kept", "r3")]
    before = workspace_git_warnings(root, [".codex/RUNS"], "p.json")
    assert not any("pointer file" in w for w in before)  # not committed: no clone sees it
    subprocess.run(["git", "add", "p.json"], cwd=root, check=True)
    (warning,) = [w for w in workspace_git_warnings(root, [".codex/RUNS"], "p.json")
                  if "pointer file" in w]  # fmt: skip
    assert "names 1 sealed folder(s) that git ignores (a -> r1)" in warning
    assert "a fresh clone" in warning


def test_any_name_reaches_git_intact(tmp_path: Path) -> None:
    """Names with a newline or non-ASCII are passed NUL-separated: each finding has its own path."""
    root = _repo(tmp_path / "r", ignore=".codex/RUNS/\n", attributes="* text=auto\n")
    odd = ".codex/RUNS/x\ny é/manifest.json"
    rules = ignore_rules(root, [odd, "kept/a"])
    assert rules == {odd: ".gitignore:1 .codex/RUNS/"}
    assert converted(root, [odd, "kept/a"]) == [odd, "kept/a"]


def test_a_target_outside_the_work_tree_does_not_silence_the_others(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r", ignore=".codex/RUNS/\n")
    (root / "p.json").write_text(json.dumps({"pointers": [
        {"registry_id": "a", "active_ref": {"run_id": "r1", "run_root": "../elsewhere"}},
        {"registry_id": "b", "active_ref": {"run_id": "r2", "run_root": ".codex/RUNS"}},
    ]}))  # fmt: skip
    subprocess.run(["git", "add", "p.json"], cwd=root, check=True)
    warnings = workspace_git_warnings(root, [".codex/RUNS", "/abs"], "p.json")
    assert not any("is git-ignored" in w for w in warnings)  # a choice, not a finding
    assert any("names 1 sealed folder(s) that git ignores (b -> r2)" in w for w in warnings)
    codes = [found.code for found in workspace_git_findings(root, [".codex/RUNS"], "p.json")]
    assert codes == ["POINTER_TARGETS_GIT_IGNORED"]
