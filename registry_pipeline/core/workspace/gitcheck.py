"""What git will do to sealed folders: ignore them or convert their line endings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.seal.gitstate import git_output as git_output
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.workspace.input_files import MAX_CATALOG_FILE_BYTES, read_regular_file

PROBE = "probe__/manifest.json"
"""A file name inside a run root, as a sealed folder would hold one."""


def _git(root: Path, args: Sequence[str], paths: Sequence[str]) -> list[str] | None:
    """The NUL-separated fields git prints for `paths`; None outside a work tree or without git."""
    stdin = "".join(f"{path}\0" for path in paths).encode("utf-8", "surrogateescape")
    out = git_output(root, *args, "-z", "--stdin", stdin=stdin, ok=(0, 1))
    return None if out is None else out.decode("utf-8", "surrogateescape").split("\0")[:-1]


def ignore_rules(root: Path, relpaths: Iterable[str]) -> dict[str, str]:
    """For each of `relpaths` that git ignores: the rule, as `.gitignore:275 .codex/RUNS/`."""
    fields = _git(root, ["check-ignore", "-v", "-n"], list(relpaths)) or []
    rules: dict[str, str] = {}
    for source, line, pattern, path in zip(*[iter(fields)] * 4, strict=False):
        if source and not pattern.startswith("!"):  # empty: not ignored; `!`: re-included
            rules[path] = f"{source}:{line} {pattern}"
    return rules


def converted(root: Path, relpaths: Iterable[str]) -> list[str]:
    """Those of `relpaths` whose line endings git may convert (`core.autocrlf` is not seen here)."""
    paths = list(relpaths)
    fields = _git(root, ["check-attr", "text", "eol"], paths) or []
    values: dict[str, dict[str, str]] = {}
    for path, attribute, value in zip(*[iter(fields)] * 3, strict=False):
        values.setdefault(path, {})[attribute] = value
    found = []
    for path in paths:
        text, eol = values.get(path, {}).get("text"), values.get(path, {}).get("eol")
        if text in ("set", "auto") or (text == "unspecified" and eol not in (None, "unspecified")):
            found.append(path)
    return found


def is_tracked(root: Path, relpath: str) -> bool:
    """Whether git tracks the file (it is committed, or staged)."""
    return bool(git_output(root, "ls-files", "-z", "--", relpath))


def some(items: Sequence[str], shown: int = 3, sep: str = "; ") -> str:
    """`a; b; c and 5 more`: a list said in one line."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return sep.join(items[:shown]) + more


def pointer_targets(path: Path) -> list[tuple[str, str, str]]:
    """`(registry_id, run_root, run_id)` of each pointer file entry naming a snapshot (lenient)."""
    try:
        data = read_regular_file(path, limit=MAX_CATALOG_FILE_BYTES, what="pointer file")
        document = json.loads(data.decode("utf-8"))
    except (OSError, ValueError, RegistryError):  # a FIFO there too: never a hang
        return []
    entries = document.get("pointers", []) if isinstance(document, dict) else []
    found = []
    for entry in entries if isinstance(entries, list) else []:
        ref = entry.get("active_ref") if isinstance(entry, dict) else None
        if isinstance(ref, dict) and isinstance(ref.get("run_id"), str):
            run_root = ref.get("run_root") if isinstance(ref.get("run_root"), str) else None
            found.append((str(entry.get("registry_id")), run_root or ".codex/RUNS", ref["run_id"]))
    return found


def workspace_git_findings(
    root: Path, run_roots: Sequence[str], pointer_file: str
) -> list[Problem]:
    """What git does to the run roots and the pointer file's folders, one finding each."""
    # a path git would refuse (outside the work tree, `..`) is not asked: git stops at the
    # first one and would answer nothing for the others
    probes = {f"{r}/{PROBE}": r for r in run_roots if relpath_problem(f"{r}/{PROBE}") is None}
    target_probes = {
        f"{r}/{run_id}/manifest.json": f"{i} -> {run_id}"
        for i, r, run_id in pointer_targets(root / pointer_file)
        if relpath_problem(f"{r}/{run_id}/manifest.json") is None
    }
    rules = ignore_rules(root, target_probes)
    ignored = [name for probe, name in target_probes.items() if probe in rules]
    found = []
    if ignored and is_tracked(root, pointer_file):
        found.append(Problem.of("POINTER_TARGETS_GIT_IGNORED", path=pointer_file,
                                count=len(ignored), folders=some(ignored)))  # fmt: skip
    for run_root in (probes[probe] for probe in converted(root, probes)):
        found.append(Problem.of("LINE_ENDINGS_CONVERTIBLE", path=f"{run_root}/"))
    return found
