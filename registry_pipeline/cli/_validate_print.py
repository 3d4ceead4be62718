"""`registry validate`'s output: one verdict per folder (text or JSON lines), and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_pipeline.cli._commands import _relative
from registry_pipeline.cli._output import err, json_line, out
from registry_pipeline.core.errors import UsageError, problem_object
from registry_pipeline.core.seal.paths import printable
from registry_pipeline.core.workspace.layout import Workspace


def shown(path: str) -> str:
    """A path on one line of output: undecodable bytes as \\xNN (`printable`), line breaks
    and tabs escaped, so a run folder's name cannot forge a line (other control characters are
    escaped by `out`/`err`)."""
    return printable(path).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def print_report(
    report: Any,
    verdict: Any,
    as_json: bool,
    workspace: Workspace,
    own: bool = False,
    dated: str | None = None,
) -> None:
    """One folder's verdict; `own`: a CONVERTED folder in the workspace's own run root, which
    counts as a failure (its seals must hold: init and adopt keep git from converting there);
    `dated`: why the folder is dated in the future, which fails it whatever its seal says."""
    from registry_pipeline.core.workspace.snapshots import FUTURE_DATED

    if as_json:
        row = {
            **report.as_json(),
            "run_folder": printable(report.run_folder),
            "verdict": "FAIL" if dated else verdict.status,
            "older_format": verdict.older_format,
        }
        if dated:
            future = problem_object(FUTURE_DATED, dated)  # the folder itself: `run_folder`
            row.update(status="FAIL", errors=[*row["errors"], future])
        json_line(row)
        return
    where = shown(_relative(Path(report.run_folder), workspace))
    if dated:
        out(f"FAIL  {where}  ({len(report.problems) + 1} problem(s))")
        _problems(report)
        out(f"      {FUTURE_DATED:<22} -: {dated}")
        return
    if report.ok:
        root = f"root {report.root_sha256[:12]}" if report.root_sha256 else ""
        out(f"PASS  {where}  ({report.files} files, {root})")
        return
    if verdict.status == "UNSEALED":
        out(f"UNSEALED  {where}  (no seal files: nothing claims anything about its content)")
        return
    if verdict.status == "INTACT_OLDER_FORMAT":
        checked = (
            "every line verifies"
            if verdict.hashed
            else "every listed file present; fast: NOT hash-checked"
        )
        out(f"INTACT  {where}  (older format: {verdict.older_format}, {checked})")
        return
    if verdict.status == "CONVERTED":
        failing = "; a failure in the workspace's own run root" if own else ""
        out(
            f"CONVERTED  {where}  ({len(report.problems)} problem(s), each a file that matches "
            f"its seal once its line endings are converted back{failing})"
        )
    else:
        out(f"FAIL  {where}  ({len(report.problems)} problem(s))")
    _problems(report)


def _problems(report: Any) -> None:
    for problem in report.problems:
        path = shown(problem.path) if problem.path else "-"
        out(f"      {problem.code.value:<22} {path}: {problem.message}")
        if problem.expected is not None or problem.found is not None:
            out(f"      {'':<22} expected {problem.expected}, found {problem.found}")


def print_unreadable(error: UsageError, as_json: bool) -> None:
    if as_json:
        where = None if error.path is None else printable(error.path)
        json_line(
            {
                "run_folder": where,
                "run_id": None,
                "status": "ERROR",
                "errors": [problem_object(error.code, error.message, path=where)],
            }
        )
    else:
        where = f" {shown(error.path)}:" if error.path else ""
        err(f"error: {error.code}{where} {error.message}")


def summary(counts: dict[str, int], fast: bool, advice: bool) -> None:
    from registry_pipeline.core.seal.verdicts import ADVICE, describe

    total = sum(counts.values())
    line = f"checked {total} run folder(s): {describe(counts)}"
    if counts["ERROR"]:
        line += f", {counts['ERROR']} unreadable"
    if fast:
        line += " (fast: structure and sizes only; hashes and artifact schemas were NOT checked)"
    out(line)  # the verdict: on stdout, after the folders' own
    if advice:
        err(f"hint: {ADVICE}")
