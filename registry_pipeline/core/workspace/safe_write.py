"""The one rule every write of ours obeys: it stays a real place inside the workspace.

A write is refused (`UNSAFE_PATH`, naming the link) when any component of its target below
the workspace root is a symlink, or the target leaves the root; the check runs before anything
is written, so nothing is written first. The root itself may be a link (the user chose it).
A `..` below the root is refused too: after a link it means the link's parent, which no
spelling of the path shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from registry_pipeline.core.errors import UsageError

HOW_TO_FIX = "registry-pipeline writes only real folders and files inside the workspace"


def escape_problem(root: Path, relpath: str) -> tuple[str, Path] | None:
    """Why the workspace-relative `relpath` does not stay a real place inside the workspace at
    `root`, and where: a folder on the way that is a symlink, or a path resolving outside.
    None when it stays inside (whether or not it exists)."""
    current = root
    for part in Path(relpath).parts:
        current = current / part
        if current.is_symlink():
            return f"goes through a symlink ({current.name} -> {os.readlink(current)})", current
    resolved = (root / relpath).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return f"resolves outside the workspace ({resolved})", root / relpath
    return None


def require_safe(root: Path, target: Path) -> Path:
    """`target`, after checking that writing it stays inside the workspace at `root`.

    Raises UsageError(UNSAFE_PATH) naming the first symlink on the way (or the target itself
    when it is one), or the place outside the root. Missing components are fine: we create
    them as real folders.
    """
    root = root.absolute()
    relpath = _relpath(root, target)
    if relpath == ".":
        return target
    problem = escape_problem(root, relpath)
    if problem is None:
        return target
    reason, where = problem
    if not where.is_symlink():  # a root whose own spelling means another place once resolved
        raise _outside(root, target, reason)
    raise UsageError(
        f"refusing to write {relpath}: {where.relative_to(root).as_posix()} is a symlink (to "
        f"{os.readlink(where)}); {HOW_TO_FIX}",
        code="UNSAFE_PATH",
        path=str(where),
    )


def require_safe_all(root: Path, targets: Iterable[Path]) -> None:
    """`require_safe` for each target, all before the first write."""
    for target in targets:
        require_safe(root, target)


def _relpath(root: Path, target: Path) -> str:
    """`target` relative to the absolute `root` (`.` for the root), or UNSAFE_PATH when it is
    elsewhere or climbs with `..`. `root` is compared as spelled first (a `--workspace ../ws`
    keeps its `..`), then normalized when the target names it another way."""
    absolute = target.absolute()
    if not absolute.is_relative_to(root) and ".." not in absolute.parts:
        root = Path(os.path.normpath(root))
    if not absolute.is_relative_to(root):
        raise _outside(root, target, "it is outside the workspace")
    tail = absolute.relative_to(root)
    if ".." in tail.parts:
        raise _outside(root, target, "it climbs out with `..`")
    return tail.as_posix()


def _outside(root: Path, target: Path, reason: str) -> UsageError:
    return UsageError(
        f"refusing to write {target}: {reason} ({root}); {HOW_TO_FIX}",
        code="UNSAFE_PATH",
        path=str(target),
    )
