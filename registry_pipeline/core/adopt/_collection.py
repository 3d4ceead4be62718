"""Collection registries: files produced elsewhere, one folder or file per run, which the v0.1
catalog names by a path with a `<placeholder>` (`artifacts/derived_validation/<uuid>/...`).

Adoption turns that path into a glob (each placeholder one `*`; a path ending in `/`, a folder
per run, every file below that folder at any depth) and the registry into a `collection` entry:
all its members are sealed together as one snapshot, a new one whenever a member is added or
changed. A collection whose glob matches no file has nothing to snapshot and is excluded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.workspace.layout import escape_problem
from registry_pipeline.core.workspace.sources import is_pattern, pattern_base, pattern_matches

PLACEHOLDER = re.compile(r"<[^>]+>")
"""A v0.1 path's per-run part: `<uuid>`, `<run_id>`."""


@dataclass(frozen=True)
class CollectionPlan:
    """What adoption makes of a collection: its globs and their members now (no glob with a
    member: excluded, with `reason`)."""

    reason: str
    sources: tuple[str, ...]
    """The globs that match at least one file now (empty: excluded)."""
    artifacts: tuple[str, ...]
    """Each glob as the relpaths of its members inside a snapshot (the catalog's artifacts)."""


def collection_glob(path: str) -> str:
    """The glob of a placeholder path: `runs/<run_id>/out/` -> `runs/*/out/**/*`; glob
    characters of the path itself match only themselves (`[` -> `[[]`)."""
    literal = [re.sub(r"[*?[]", lambda found: f"[{found[0]}]", part)
               for part in PLACEHOLDER.split(path)]  # fmt: skip
    glob = "*".join(literal)
    return glob.rstrip("/") + "/**/*" if glob.endswith("/") else glob


def member_pattern(glob: str, several: bool) -> str:
    """Where a glob's members lie in a snapshot: relative to the glob's folder, under that
    folder's name when a collection has several globs (as `read_source_files` seals them)."""
    if not is_pattern(glob):
        return Path(glob).name
    base = pattern_base(glob)
    relative = glob[len(base) + 1 :] if base != "." else glob
    return f"{Path(base).name}/{relative}" if several and base != "." else relative


def plan_collection(root: Path, primary: list[str]) -> CollectionPlan:
    """The collection of the repository at `root` whose primary paths are `primary`."""
    globs = [collection_glob(path) for path in primary]
    for glob in globs:
        folder = pattern_base(glob) if is_pattern(glob) else str(Path(glob).parent)
        escape = None if relpath_problem(glob) else escape_problem(root, folder)
        problem = relpath_problem(glob) or (escape[0] if escape else None)
        if problem is not None:  # never listed: the repository's own files only
            return CollectionPlan(f"collection: {glob} {problem}; nothing to snapshot", (), ())
    found = {glob: _members(root, glob) for glob in globs}
    matched = [glob for glob in globs if found[glob]]
    empty = [glob for glob in globs if not found[glob]]
    if not matched:
        return CollectionPlan(
            f"collection: no file matches {', '.join(empty)}; nothing to snapshot", (), ()
        )
    count = sum(len(found[glob]) for glob in matched)
    per_run = "a folder" if all(glob.endswith("/**/*") for glob in matched) else "a file"
    now = "1 file now matches" if count == 1 else f"{count} files now match"
    reason = (
        f"{per_run} per run: {now} {', '.join(matched)}; all sealed together as one snapshot, "
        "a new one when a member is added or changed"
    )
    if empty:
        reason += f"; no file matches {', '.join(empty)} yet: left out"
    several = len(matched) > 1
    return CollectionPlan(
        reason, tuple(matched), tuple(member_pattern(glob, several) for glob in matched)
    )


def _members(root: Path, glob: str) -> list[str]:
    if is_pattern(glob):
        return pattern_matches(root, glob)
    return [glob] if (root / glob).is_file() else []
