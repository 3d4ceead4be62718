"""What `registry adopt` tells git of our own files (not the pointer file), so state stays clean."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.adopt.plan import adopt_warning
from registry_pipeline.core.errors import Problem
from registry_pipeline.core.gate.receipts import RECEIPTS_RELPATH
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME, NOT_CANON, ask_git, canon_changes
from registry_pipeline.core.workspace.gitcheck import PROBE, ignore_rules, is_tracked, some
from registry_pipeline.core.workspace.layout import (
    DOTENV_RELPATH,
    RUNS_RELPATH,
    read_existing,
)

CODEX_GITIGNORE = ".codex/.gitignore"
JOURNAL = f".codex/{JOURNAL_NAME}"
RECEIPTS = f"{RECEIPTS_RELPATH}/"
HISTORY = (
    (f"/{JOURNAL_NAME}", JOURNAL, "the pointer journal"),
    (f"/{RECEIPTS.removeprefix('.codex/')}", RECEIPTS, RECEIPTS),
)
"""(`.codex/.gitignore` line, path it ignores, name) for what names the run root's folders."""
LOCAL = (
    (f"/{DOTENV_RELPATH}", DOTENV_RELPATH, DOTENV_RELPATH),
    ("/.tmp_dagster_home_*/", ".tmp_dagster_home_x/", ".tmp_dagster_home_*/"),
)
"""The same for this machine's Dagster home, in `.git/info/exclude` (never committed)."""
SHOWN_NEXT = 8
"""Uncommitted paths named in adopt's `next:` line; the rest are counted."""


@dataclass(frozen=True)
class Append:
    """Lines to add to an ignore file, and why."""

    target: Path
    shown: str
    """How the output names the file (`.codex/.gitignore`, `.git/info/exclude`)."""
    lines: tuple[str, ...]
    why: str
    comment: str | None = None
    """A `# ...` line written before them, saying why to a reader of the file."""

    def text(self) -> str:
        """What is appended: the comment, then one line each."""
        head = [self.comment] if self.comment else []
        return "".join(f"{line}\n" for line in [*head, *self.lines])


@dataclass(frozen=True)
class GitPlan:
    """What adopt tells git about the layer's own files, and what it says about them."""

    work_tree: bool
    """Whether git answered for the workspace (git present, inside a work tree)."""
    appends: tuple[Append, ...]
    advice: tuple[str, ...]
    """What to commit with what, where adopt leaves it to the user."""
    not_canon: tuple[str, ...]
    """The pointer file, then `gitstate.NOT_CANON`: never counted in the recorded state."""
    warnings: tuple[Problem, ...]

    def not_canon_line(self) -> str:
        """The layer's own files in one line, the ones a person sees first named."""
        named = ", ".join([*self.not_canon[:2], RECEIPTS, f"{RUNS_RELPATH}/"])
        return (
            f"not canon (never makes the state dirty): {named} and the rest of the tool's "
            ".codex/ state (caches, locks, staging, its Dagster home) and .env"
        )


def plan_git(root: Path, pointer_file: str) -> GitPlan:
    """Ask git what it ignores and tracks of the layer's own files, and plan what to add."""
    not_canon = (pointer_file, *NOT_CANON)
    if canon_changes(root) is None:
        warning = adopt_warning("GIT_STATE_UNKNOWN", ".")
        return GitPlan(False, (), (), not_canon, (warning,))
    runs_rule = ignore_rules(root, [f"{RUNS_RELPATH}/{PROBE}"])
    advice: tuple[str, ...] = ()
    if not runs_rule:
        advice = (
            f"git does not ignore {RUNS_RELPATH}/: commit its new run folders together with "
            f"{pointer_file}, {JOURNAL} and {RECEIPTS} after a build (they name those folders)",
        )
    appends = (*_history_appends(root, runs_rule), *_local_appends(root))
    return GitPlan(True, appends, advice, not_canon, ())


def _history_appends(root: Path, runs_rule: dict[str, str]) -> list[Append]:
    """The lines `.codex/.gitignore` lacks for the journal and receipts, where git ignores RUNS/."""
    needed = _not_yet_ignored(root, root / CODEX_GITIGNORE, HISTORY) if runs_rule else []
    if not needed:
        return []
    names = " and ".join(name for _, _, name in needed)
    rule = next(iter(runs_rule.values()))
    why = f"git ignores {names} as it ignores {RUNS_RELPATH}/ ({rule}), whose folders they name"
    comment = f"# registry-pipeline: {names} name folders of {RUNS_RELPATH}/, which git ignores"
    lines = tuple(line for line, _, _ in needed)
    return [Append(root / CODEX_GITIGNORE, CODEX_GITIGNORE, lines, why, comment)]


def _local_appends(root: Path) -> list[Append]:
    """The lines `.git/info/exclude` lacks for this machine's Dagster home."""
    found = ask_git(root, "rev-parse", "--git-path", "info/exclude")  # wherever git keeps it
    exclude = root / found if found else None
    needed = _not_yet_ignored(root, exclude, LOCAL) if exclude is not None else []
    if exclude is None or not needed:
        return []
    why = (
        "this machine's Dagster home, never committed (.env names it; dagster dev makes its "
        "own where .env names none)"
    )
    return [Append(exclude, ".git/info/exclude", tuple(line for line, _, _ in needed), why)]


def next_step(root: Path) -> str:
    """`next: registry build`, after committing what is uncommitted of the canon, if any."""
    uncommitted = sorted(canon_changes(root) or ())
    if not uncommitted:
        return "next: registry build"
    said = "(until then every build records the state dirty), then registry build"
    return f"next: commit {some(uncommitted, SHOWN_NEXT, ', ')} {said}"


def _not_yet_ignored(
    root: Path, ignore_file: Path, wanted: tuple[tuple[str, str, str], ...]
) -> list[tuple[str, str, str]]:
    """Those of `wanted` git neither ignores nor tracks and whose line `ignore_file` lacks."""
    probes = {path: f"{path}{PROBE}" if path.endswith("/") else path for _, path, _ in wanted}
    ignored = ignore_rules(root, probes.values())
    text = (read_existing(ignore_file) or b"").decode("utf-8", "replace")
    present = {line.strip() for line in text.splitlines()}
    return [
        (line, path, name)
        for line, path, name in wanted
        if probes[path] not in ignored and line not in present and not is_tracked(root, path)
    ]
