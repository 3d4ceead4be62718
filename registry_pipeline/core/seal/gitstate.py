"""Git state for the run envelope: HEAD and clean/dirty of the canon, or nulls (never clean)."""

from __future__ import annotations

import glob
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from registry_pipeline.core.fs import QUARANTINE_RELPATH, NotRegularFile, TooLarge, read_regular
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.paths import relpath_problem


@dataclass(frozen=True)
class GitState:
    """`git_commit` and `working_tree_state` as recorded in run.json."""

    commit: str | None
    """HEAD, or None outside git, without git, or before the first commit."""
    working_tree_state: str | None
    """`clean` or `dirty` (the canon only), or None when git could not say."""


CATALOG_RELPATH = "registries/REGISTRY_CATALOG_v0_2.json"
"""Where a workspace keeps its registry catalog (defined here, the lowest layer that reads it)."""
DEFAULT_POINTER_FILE = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
"""Where the pointer file is when the catalog names no other place (`core.workspace.catalog`)."""
JOURNAL_NAME = "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
"""The pointer journal's file name in `.codex/`, named here to keep it out of the canon."""
NOT_CANON = (
    f".codex/{JOURNAL_NAME}",
    ".codex/RECEIPTS",
    ".codex/RUNS",
    ".codex/JOURNAL_QUARANTINE",
    QUARANTINE_RELPATH,
    ".codex/cache",
    ".codex/.staging",
    ".codex/dagster_home",
    ".env",
)
"""The registry layer's own files and folders (workspace relpaths): never part of the canon."""
NOT_CANON_PATTERNS = (".codex/*.lock", ".codex/.*.tmp", ".tmp_dagster_home_*/**")
"""Locks and atomic writes' temp files in `.codex/`, and the instance `dagster dev` makes."""
MAX_CATALOG_BYTES = 64 << 20
"""The largest catalog read for its `pointer_file` (the workspace's own limit)."""


def read_git_state(root: Path) -> GitState:
    """HEAD, and whether the canon has uncommitted changes; nulls when git cannot say."""
    changes = canon_changes(root)
    if changes is None:
        return GitState(None, None)
    commit = ask_git(root, "rev-parse", "--verify", "-q", "HEAD")  # None before the first commit
    return GitState(commit or None, "dirty" if changes else "clean")


def canon_changes(root: Path) -> tuple[str, ...] | None:
    """What `git status` lists outside `not_canon(root)`; None when git cannot say."""
    if ask_git(root, "rev-parse", "--is-inside-work-tree") != "true":
        return None
    names = not_canon(root)
    excludes = [f":(exclude,literal){path}" for path in names]
    globs = (*NOT_CANON_PATTERNS, _temp_files(names[0]))
    excludes += [f":(exclude,glob){pattern}" for pattern in globs]
    listed = ask_git(root, "status", "--porcelain", "-z", "--", ":/", *excludes, strip=False)
    if listed is None:
        return None
    return tuple(_porcelain_paths(listed))


def not_canon(root: Path) -> tuple[str, ...]:
    """The pointer file (where the workspace's catalog keeps it), then `NOT_CANON`."""
    return (pointer_file_relpath(root), *NOT_CANON)


def pointer_file_relpath(root: Path) -> str:
    """The catalog's `pointer_file`, read leniently (the build checks it): else the default."""
    try:
        document = catalog_document(root)
    except OSError:  # not a regular file, or too large: the build refuses it
        return DEFAULT_POINTER_FILE
    relpath = document.get("pointer_file") if document is not None else None
    if not isinstance(relpath, str) or relpath_problem(relpath) is not None:
        return DEFAULT_POINTER_FILE
    return relpath


def catalog_document(root: Path) -> dict[str, Any] | None:
    """The catalog as a JSON object, or None; a non-regular or too large file raises, never read."""
    try:
        data = read_regular(root / CATALOG_RELPATH, MAX_CATALOG_BYTES, follow_symlinks=True)
    except (NotRegularFile, TooLarge):
        raise
    except OSError:
        return None
    try:
        document = loads_strict(data)
    except JSONDecodeProblem:
        return None
    return document if isinstance(document, dict) else None


def _temp_files(pointer_file: str) -> str:
    """The glob of the pointer file's temp files beside it (`.<name>.<pid>.tmp`)."""
    path = PurePosixPath(pointer_file)
    folder = "" if str(path.parent) == "." else f"{glob.escape(str(path.parent))}/"
    return f"{folder}.{glob.escape(path.name)}.*.tmp"  # a safe relpath holds no backslash


def _porcelain_paths(listed: str) -> list[str]:
    """The paths of `git status --porcelain -z` (a rename's source, the entry after, skipped)."""
    fields = iter(listed.split("\0"))
    paths: list[str] = []
    for entry in fields:
        if len(entry) >= 4:
            paths.append(entry[3:])
            if entry[0] in "RC":
                next(fields, None)
    return paths


def ask_git(root: Path, *args: str, strip: bool = True) -> str | None:
    """What `git -C root ARGS...` prints (stripped); None without git or when it fails."""
    out = git_output(root, *args)
    text = None if out is None else out.decode("utf-8", "surrogateescape")
    return text.strip() if strip and text is not None else text


def git_output(
    root: Path, *args: str, stdin: bytes = b"", ok: tuple[int, ...] = (0,)
) -> bytes | None:
    """What `git -C root ARGS...` prints, as bytes; None without git, or on a status not in `ok`."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True,
                              timeout=60, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode in ok else None
