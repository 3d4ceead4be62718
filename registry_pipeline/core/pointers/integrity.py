"""`registry pointers verify` as one function (`verify_workspace`), and the rule that no pointer
moves while it fails (`require_intact`): a broken chain or a hand edit refuses every move, naming
its repair; a lost or changed target blocks nothing (moving that pointer is its repair)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from registry_pipeline.core.errors import Problem
from registry_pipeline.core.pointers.journal import (
    CHECKPOINT_RELPATH,
    VerifyReport,
    compare_with_pointers,
    finding,
    iter_lines,
    latest,
    load,
    problem_text,
    save,
    verify_journal,
)
from registry_pipeline.core.pointers.pointer_file import PointerFile, PointerRefused
from registry_pipeline.core.pointers.targets import target_folder
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot

TARGET_CODES = frozenset(
    {"TARGET_MISSING", "TARGET_CHANGED", "TARGET_WRONG_REGISTRY", "TARGET_NOT_IN_RUNS"}
)
GATE_CODES = frozenset({"CHECK_FAILED", "RECEIPT_INVALID"})
"""The gate's refusal of an active snapshot it never admitted (adopted while absent)."""
QUARANTINE_RELPATH = ".codex/JOURNAL_QUARANTINE"
"""Where a journal set aside is kept, byte for byte."""


def verify_workspace(
    workspace: Workspace,
    journal: Path,
    pointers: PointerFile,
    expect_head: str | None = None,
    *,
    checkpoint: bool = False,
) -> VerifyReport:
    """The journal's replay and every active target checked: here (TARGET_MISSING), with the
    root the pointer records (TARGET_CHANGED); one an `adopt` found absent stays a note.
    `checkpoint` (the check before a change): replay from, and keep, the checkpoint."""
    report = _replay(workspace.root, journal, pointers, expect_head, checkpoint)
    if expect_head is not None and report.expect_head_seq is None:
        _name_kept_head(workspace.root, report, expect_head)
    traces = [] if journal.exists() or not pointers.pointers else journal_traces(workspace.root)
    if traces:
        report.problems.append(
            finding(
                "JOURNAL_MISSING",
                f"the pointer journal {journal.name} is gone, but the workspace shows it existed "
                f"({', '.join(traces)}): the pointer file is no longer explained by any history",
            )
        )
    edited = {p.extra.get("registry_id") for p in report.problems if p.code == "POINTER_MISMATCH"}
    for registry_id in pointers.pointers:
        ref = pointers.active(registry_id)
        if ref is None or not ref.run_id or registry_id in edited:
            continue  # a hand-edited entry: POINTER_MISMATCH says it, and its repair
        if (ref.run_root or RUNS_RELPATH) != RUNS_RELPATH:
            continue  # a seed pointer into another run root: `adopt` recorded what it found
        last = report.last_records.get(registry_id)
        adopted_absent = (
            last is not None
            and last.action == "adopt"
            and (last.checks.get("as_found") or {}).get("target") == "absent"
        )
        problem = _target_problem(workspace, registry_id, ref.run_id, ref.root)
        if problem is None:
            if adopted_absent:
                report.returned.append(registry_id)
            continue
        if adopted_absent or (last is None and not report.records):
            report.notes.append(
                finding("TARGET_NOT_HERE", problem.message, registry_id=registry_id)
            )
        else:
            report.problems.append(problem)
    return report


def _name_kept_head(root: Path, report: VerifyReport, head: str) -> None:
    """HEAD_NOT_FOUND names the quarantined journal that holds the head, if one does."""
    folder = root / QUARANTINE_RELPATH
    if not folder.is_dir() or folder.is_symlink():
        return
    for kept in sorted(folder.iterdir()):
        if not kept.is_file() or kept.is_symlink():
            continue
        for number, line in iter_lines(kept):
            if hashlib.sha256(line).hexdigest() == head:
                where = f"{QUARANTINE_RELPATH}/{kept.name} line {number}"
                for index, problem in enumerate(report.problems):
                    if problem.code == "HEAD_NOT_FOUND":
                        message = f"{problem.message}; it is in the journal set aside at {where}"
                        report.problems[index] = replace(problem, message=message)
                return


def journal_traces(root: Path) -> list[str]:
    """What shows that a workspace's pointer journal existed (receipts do not: a first build
    writes them before its journal)."""
    found = []
    quarantine = root / QUARANTINE_RELPATH
    if quarantine.is_dir() and not quarantine.is_symlink() and any(quarantine.iterdir()):
        found.append(QUARANTINE_RELPATH)
    if (root / CHECKPOINT_RELPATH).is_file():
        found.append(CHECKPOINT_RELPATH)
    return found


def _replay(
    root: Path, journal: Path, pointers: PointerFile, expect_head: str | None, use: bool
) -> VerifyReport:
    if not use or expect_head is not None:
        return verify_journal(journal, pointers, expect_head)
    report = load(root, journal)
    if report is None:
        report = verify_journal(journal, pointers)
        save(root, journal, report)
        return report
    state = {registry_id: record.to_ref for registry_id, record in report.last_records.items()}
    compare_with_pointers(report, state, latest(report), pointers)
    return report


def _target_problem(
    workspace: Workspace, registry_id: str, run_id: str, recorded: str | None
) -> Problem | None:
    try:  # the name is checked before any filesystem call: never a folder outside RUNS/
        folder = target_folder(workspace, registry_id, run_id)
    except PointerRefused as exc:
        gone = exc.code == "TARGET_MISSING"
        return finding(
            exc.code,
            f"{registry_id}: the active snapshot {run_id} is gone ({exc.message}); promote or "
            "roll back to a snapshot that is here"
            if gone
            else f"{registry_id}: {exc.message}",
            registry_id=registry_id,
        )
    root = read_snapshot(folder, registry_id).root_sha256
    if root != recorded:
        return finding(
            "TARGET_CHANGED",
            f"{registry_id}: the active snapshot {folder.name} has root {root or '(none)'}, the "
            f"pointer records {recorded}: the sealed folder was changed; `registry validate "
            f"--active` says how, promote or roll back to a snapshot that validates",
            registry_id=registry_id,
        )
    return None


def require_intact(report: VerifyReport, registry_id: str | None, journal: Path) -> None:
    """Refuse every move while the journal or the pointer file is broken; exempt: a hand edit
    of `registry_id` itself (the store says it precisely, or this is its repair), lost targets."""
    for problem in report.problems:
        if problem.code in TARGET_CODES or problem.code == "HEAD_NOT_FOUND":
            continue
        repair = (
            "; `registry pointers repair --reason TEXT` sets the broken journal aside as evidence "
            "and starts a new one from the pointer file, as a journaled act"
        )
        if problem.code in ("POINTER_MISMATCH", *GATE_CODES):
            if problem.extra.get("registry_id") == registry_id:
                continue
            repair = ""
        raise PointerRefused(
            f"no pointer moves while `registry pointers verify` fails: {problem_text(problem)}"
            + repair,
            code=problem.code,
            path=str(journal),
        )
