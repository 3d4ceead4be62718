"""Git state for the run envelope: HEAD commit and clean/dirty, or nulls outside git."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    """`git_commit` and `working_tree_state` as recorded in run.json."""

    commit: str | None
    working_tree_state: str | None


NOT_INPUTS = (".codex/RECEIPTS", ".env")
"""What the pipeline itself writes during a build, before later snapshots are sealed (the gate's
promotion receipts; `.env`, naming this machine's Dagster home for `dagster dev`): never part of
the working tree's state the snapshots record."""
_STATUS = ("status", "--porcelain", "--", ":/", *(f":(exclude){path}" for path in NOT_INPUTS))


def read_git_state(root: Path) -> GitState:
    """HEAD and whether `git status --porcelain` is empty (`NOT_INPUTS` aside); nulls outside
    git or without git."""
    commit = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if commit is None:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
        if inside != "true":
            return GitState(None, None)
        status = _git(root, *_STATUS)
        return GitState(None, None if status is None else ("dirty" if status else "clean"))
    status = _git(root, *_STATUS)
    return GitState(commit, None if status is None else ("dirty" if status else "clean"))


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
