"""`registry validate`: one seal-contract verdict per run folder (text or JSON lines), a summary."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from registry_pipeline.cli._args import bounded_int, command, common, examples
from registry_pipeline.cli._commands import _relative
from registry_pipeline.cli._output import err, json_line, out, progress, safe
from registry_pipeline.core.errors import (
    Hint,
    Problem,
    RegistryError,
    UsageError,
    problem_object,
    problem_text,
    render,
)
from registry_pipeline.core.seal.paths import printable
from registry_pipeline.core.workspace.catalog import catalog_or_none
from registry_pipeline.core.workspace.layout import Workspace, resolve_workspace

if TYPE_CHECKING:
    from datetime import datetime

    from registry_pipeline.core.seal.folder_report import FolderReport

_F = TypeVar("_F", str, Path)
CHANGED = "TARGET_CHANGED"
"""The code of an active folder whose root is not the one its pointer records."""


def add_validate(commands: Any) -> None:
    parser = command(
        commands,
        "validate",
        "validate run folders against the seal contract",
        "Check hashes, sizes, the root hash, required and unlisted files, safe "
        "paths, run.json and artifact schemas. Every problem is reported with its "
        "reason code. One verdict per folder: PASS, FAIL (damaged), INTACT_OLDER_FORMAT "
        "(a plain sha256sum list whose every line verifies), CONVERTED (every file matches its "
        "seal once git's line-ending conversion is undone; a failure in the workspace's own "
        "run root) or UNSEALED (no seal files). A folder dated in the future (its run id or "
        "run.json created_utc after now plus 5 minutes of clock skew) FAILs with "
        "FUTURE_DATED: no build reads it until then. "
        "--all covers every run root of the catalog; --active with no pointer file is "
        "POINTERS_MISSING (exit 1) once the pointer journal has recorded pointers. Exit 0 when "
        "nothing FAILed (with --strict or named folders: when all PASS), 1 otherwise, 2 on bad "
        "usage or unreadable input.",
        examples(
            "registry validate --all",
            "registry validate --active   # what is active now: exit 0 after any fixed mistake",
            "registry validate --all --registry run_registry --fast",
            "registry validate .codex/RUNS/2026-02-05__000138__run_registry_build --json",
        ),
    )
    parser.add_argument("folders", nargs="*", metavar="RUN_FOLDER", help="run folders to check")
    parser.add_argument("--all", action="store_true", help="every run folder of the workspace")
    parser.add_argument(
        "--active", action="store_true",
        help="only the folders the active pointers name, each with the root its pointer records "
        "(TARGET_CHANGED otherwise; what builds read and users trust; older folders, failed ones "
        "included, are kept as evidence and checked by --all)",
    )  # fmt: skip
    parser.add_argument("--registry", metavar="ID", help="only run folders of this registry")
    parser.add_argument(
        "--strict", action="store_true",
        help="with --all, count UNSEALED, INTACT_OLDER_FORMAT and CONVERTED folders as "
        "failures too (named RUN_FOLDERs are always strict)",
    )  # fmt: skip
    parser.add_argument(
        "--fast", action="store_true",
        help="structure and sizes only: no hashing, no artifact schemas",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object per folder")
    parser.add_argument(
        "--jobs", type=bounded_int(1, 1024), default=os.cpu_count() or 1, metavar="N",
        help="worker processes for many folders (default: CPU count)",
    )  # fmt: skip
    common(parser, run_validate, None)


def run_validate(args: argparse.Namespace) -> int:
    from registry_pipeline.core.seal.run_id import now_utc
    from registry_pipeline.core.seal.validate import FolderReport, inspect_many
    from registry_pipeline.core.seal.verdicts import (
        CONVERTED,
        FAIL,
        INTACT_OLDER_FORMAT,
        UNSEALED,
        tally,
    )
    from registry_pipeline.core.workspace.snapshots import folder_verdict

    chosen = [flag for flag, on in (("RUN_FOLDERs", bool(args.folders)), ("--all", args.all),
                                     ("--active", args.active)) if on]  # fmt: skip
    if not chosen:
        raise RegistryError.of("NOTHING_TO_VALIDATE")
    if len(chosen) > 1:
        raise RegistryError.of("BAD_USAGE", reason=f"give one of {' or '.join(chosen)}, not both")
    workspace = resolve_workspace(args.workspace)
    now = now_utc()
    if args.all:
        listed: list[str] = []  # plain strings: 10,000 Path objects weigh 5 MB
        for runs in _run_roots(workspace.require()):
            base = str(runs)
            listed.extend(os.path.join(base, name) for name in _run_folder_names(runs))
        folders: Sequence[Any] = _only(workspace, listed, args.registry)
    elif args.active:
        folders = _active_reports(workspace.require(), args.registry, args.fast, now)
    else:
        named = [Path(folder) for folder in args.folders]
        folders = _named_of(workspace, named, args.registry, args.json) if args.registry else named
    jobs = args.jobs if len(folders) >= 32 else 1
    chunk = max(1, min(64, len(folders) // (jobs * 4)))
    schema_root = workspace.root if workspace.schemas_dir.is_dir() else None
    counts = {**tally(()), "ERROR": 0}
    own_runs = os.path.abspath(workspace.runs_dir) + os.sep
    own_converted = 0  # converted where this workspace seals (and adopt/init forbid converting)
    advice = False
    batch: list[str] = []  # stdout lines, written once per chunk of folders (not one per line)
    reports = folders if args.active else inspect_many(
        folders, fast=args.fast, workspace_root=schema_root, jobs=jobs, chunk_size=chunk
    )  # fmt: skip
    with progress(len(folders), "validating", not args.json and len(folders) > 1) as advance:
        for done, result in enumerate(reports, 1):
            advance()
            if isinstance(result, FolderReport):
                verdict, dated = folder_verdict(result, now)
                result = result.with_problems(verdict.problems)
                counts[verdict.status] += 1
                own = verdict.status == CONVERTED and os.path.abspath(result.run_folder).startswith(
                    own_runs
                )
                own_converted += own
                advice |= any(p.hint == Hint.LINE_ENDINGS_CONVERTED for p in result.problems)
                report_lines(batch, result, verdict, args.json, workspace, own, dated)
            elif isinstance(result, NoFolder):  # a failed state, exit 1 as its code says
                counts[FAIL] += 1
                no_folder_lines(batch, result, args.json, workspace)
            else:
                counts["ERROR"] += 1
                _write(batch, args.json)  # stdout's lines so far first, as before
                print_unreadable(result, args.json)
            if done % chunk == 0:
                _write(batch, args.json)
    _write(batch, args.json)
    if not args.json:
        summary(counts, args.fast, advice)
    if counts["ERROR"]:
        return 2
    strict = args.strict or bool(args.folders) or args.active  # what is trusted must PASS
    lenient = counts[INTACT_OLDER_FORMAT] + counts[CONVERTED] + counts[UNSEALED]
    return 1 if counts[FAIL] or own_converted or (strict and lenient) else 0


@dataclass(frozen=True)
class NoFolder:
    """An active pointer that names no run folder of its registry here (`target_verdict`:
    TARGET_MISSING, TARGET_WRONG_REGISTRY, TARGET_NOT_IN_RUNS): a FAIL, exit 1 as its code's row
    in core/errors.py says, as `pointers verify` fails it (never bad usage, exit 2)."""

    registry_id: str
    code: str
    message: str
    path: str | None
    """The run folder the pointer names (absent or another's), None when it names none."""


def _active_reports(
    workspace: Workspace, registry: str | None, fast: bool, now: datetime
) -> list[FolderReport | UsageError | NoFolder]:
    """Verdicts on the active pointers' folders (`target_verdict`, as `pointers show`'s), after
    the journal explains every pointer `pointers verify` judges (else POINTER_MISMATCH)."""
    from registry_pipeline.core.pointers.store import PointerStore
    from registry_pipeline.core.pointers.targets import target_verdict

    store = PointerStore(workspace)
    pointers = store.read()
    if registry:
        from registry_pipeline.core.workspace.catalog import require_known

        require_known(workspace, registry, pointers.pointers)
    if not os.path.lexists(store.pointers_path):
        _no_pointer_file(store.pointers_path, store.journal_path)
        return []
    # a pointer the journal does not explain (an entry deleted too): POINTER_MISMATCH, exit 1
    store.explained(None if registry is None else [registry])
    ids = [rid for rid in pointers.pointers if registry in (None, rid)]
    reports: list[FolderReport | UsageError | NoFolder] = []
    for registry_id in ids:
        ref = pointers.active(registry_id)
        if ref is None:
            continue
        verdict = target_verdict(workspace, registry_id, ref, store.schemas, fast=fast, now=now)
        if verdict.report is None and verdict.folder is not None:  # found, but unreadable
            reports.append(UsageError(verdict.message, code=str(verdict.code), path=verdict.path))
        elif verdict.report is None:
            reports.append(NoFolder(registry_id, str(verdict.code),
                                    f"active pointer of {registry_id}: {verdict.message}",
                                    verdict.path))  # fmt: skip
        elif CHANGED in (verdict.code, *verdict.reason_codes):  # the root is not the pointer's
            said = render(
                CHANGED,
                run_id=ref.run_id,
                root=verdict.found or "(none)",
                recorded=verdict.expected,
            )  # verdict.message, when that is all it says
            changed = Problem(code=CHANGED, path="MANIFEST.sha256", message=said,
                              expected=verdict.expected, found=verdict.found)  # fmt: skip
            reports.append(verdict.report.with_problems([changed]))
        else:
            reports.append(verdict.report)
    return reports


def _no_pointer_file(pointers: Path, journal: Path) -> None:
    """No pointer file: POINTERS_MISSING when the journal has recorded pointers, else a note."""
    from registry_pipeline.core.pointers.journal import JournalFormatError, read_records

    try:
        named = {r.registry_id for r in read_records(journal) if r.to_ref is not None}
    except (JournalFormatError, OSError) as exc:
        why = f"and its journal {journal.name} cannot be read ({exc})"
    else:
        if not named:
            err("note: no active pointers yet (no pointer file, and its journal records none): "
                "nothing is active to check")  # fmt: skip
            return
        why = f"but its journal {journal.name} records pointers of {', '.join(sorted(named))}"
    raise RegistryError.of("POINTERS_MISSING", path=pointers, reason=why)


def _run_roots(workspace: Workspace) -> list[Path]:
    """The run roots of the workspace's catalog (default `.codex/RUNS`), those that exist."""
    catalog = catalog_or_none(workspace)
    roots = catalog.run_roots if catalog is not None else (".codex/RUNS",)
    return [workspace.root / root for root in roots if (workspace.root / root).is_dir()]


def _run_folder_names(runs: Path) -> list[str]:
    """The run folders' names in a run root, sorted (hidden staging folders left out)."""
    with os.scandir(runs) as entries:
        return sorted(
            e.name
            for e in entries
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
        )


def _only(workspace: Workspace, folders: list[_F], registry: str | None) -> list[_F]:
    """`folders` of `registry` (all when None); a registry nobody knows is UNKNOWN_REGISTRY."""
    if not registry:
        return folders
    chosen = [f for f in folders if _belongs(Path(f), registry)]
    if not chosen:  # a typo must not read as "checked 0 folders, all fine"
        from registry_pipeline.core.seal.run_id import registry_of
        from registry_pipeline.core.workspace.catalog import require_known

        names = (Path(folder).name for folder in folders)
        require_known(workspace, registry, filter(None, map(registry_of, names)))
    return chosen


def _named_of(
    workspace: Workspace, folders: list[Path], registry: str, as_json: bool
) -> list[Path]:
    """The named `folders` of `registry` in order; a non-directory is kept (NOT_A_RUN_FOLDER)."""
    from registry_pipeline.core.seal.folder_report import refuse_non_run_folder

    missing = [f for f in folders if os.path.islink(f) or not os.path.isdir(f)]  # unreadable too
    try:
        chosen = set(_only(workspace, [f for f in folders if f not in missing], registry))
    except UsageError:
        for folder in missing:
            try:
                refuse_non_run_folder(folder, False)
            except UsageError as exc:
                print_unreadable(exc, as_json)
        raise
    return [folder for folder in folders if folder in chosen or folder in missing]


def _belongs(folder: Path, registry: str) -> bool:
    """Whether `folder` is of `registry`: by its name (our run ids), else its regular run.json."""
    from registry_pipeline.core.workspace.snapshots import read_envelope, snapshot_registry

    owner = snapshot_registry(folder)  # a run id's, or a seal-promotion's source_registry
    if owner is not None:
        return owner == registry
    envelope = read_envelope(folder) or {}  # none: no id, and `registry` is never empty
    return registry in (envelope.get("registry_id"), envelope.get("run_type"))


def shown(path: str) -> str:
    """A path on one line of output, line breaks escaped: a folder's name cannot forge a line."""
    return printable(path).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def report_lines(
    lines: list[str],
    report: Any,
    verdict: Any,
    as_json: bool,
    workspace: Workspace,
    own: bool = False,
    dated: str | None = None,
) -> None:
    """Append a folder's text verdict to `lines`; `own`: CONVERTED fails; `dated`: a FAIL."""
    if dated:
        from registry_pipeline.core.workspace.snapshots import FUTURE_DATED

        report = report.with_problems([Problem.of(FUTURE_DATED, reason=dated)])
    if as_json:
        row = {
            **report.as_json(),
            "run_folder": printable(report.run_folder),
            "verdict": verdict.status,
            "older_format": verdict.older_format,
        }
        lines.append(json_line(row))
        return
    # human lines end with their newline; `_write` escapes them, as `out` does
    where = shown(_shown_folder(report.run_folder, workspace))
    count = len(report.problems)
    if report.ok:
        sealed = f"root {report.root_sha256[:12]}" if report.root_sha256 else ""
        lines.append(f"PASS  {where}  ({report.files} files, {sealed})\n")
        return
    if verdict.status == "UNSEALED":
        unsealed = "no seal files: nothing claims anything about its content"
        lines.append(f"UNSEALED  {where}  ({unsealed})\n")
        return
    if verdict.status == "INTACT_OLDER_FORMAT":
        checked = ("every line verifies" if verdict.hashed
                   else "every listed file present; fast: NOT hash-checked")  # fmt: skip
        lines.append(f"INTACT  {where}  (older format: {verdict.older_format}, {checked})\n")
        return
    if verdict.status == "CONVERTED":
        failing = "; a failure in the workspace's own run root" if own else ""
        lines.append(f"CONVERTED  {where}  ({count} problem(s), each a file that matches its "
                     f"seal once its line endings are converted back{failing})\n")  # fmt: skip
    else:
        lines.append(f"FAIL  {where}  ({count} problem(s))\n")
    for problem in report.problems:
        path = shown(problem.path) if problem.path else "-"
        lines.append(f"      {problem.code:<22} {path}: {problem.message}\n")
        if problem.expected is not None or problem.found is not None:
            lines.append(f"      {'':<22} expected {problem.expected}, found {problem.found}\n")


def _write(lines: list[str], as_json: bool) -> None:
    """Write the buffered stdout lines in one call (escaped as `out` does) and empty them."""
    if lines:
        text = "".join(lines)
        sys.stdout.write(text if as_json else safe(text))
        lines.clear()


def _shown_folder(path: str, workspace: Workspace) -> str:
    """`path` relative to the workspace root when inside it (plain string work when it can)."""
    from registry_pipeline.core.seal.validate import normal_path

    root = str(workspace.root)
    inside = root != os.sep and path.startswith(root) and path[len(root) : len(root) + 1] == os.sep
    if inside and normal_path(path) == path:
        return path[len(root) + 1 :]
    return _relative(Path(path), workspace)


def no_folder_lines(
    lines: list[str], failed: NoFolder, as_json: bool, workspace: Workspace
) -> None:
    """Append the FAIL of an active pointer naming no run folder here (the row an unreadable
    folder has, its status FAIL; `verdict` and the problem's `registry_id` added)."""
    from registry_pipeline.core.seal.verdicts import FAIL

    where = None if failed.path is None else printable(failed.path)
    problem = problem_object(failed.code, failed.message, path=where,
                             registry_id=failed.registry_id)  # fmt: skip
    if as_json:
        row = {"run_folder": where, "run_id": None, "status": FAIL, "errors": [problem],
               "verdict": FAIL}  # fmt: skip
        lines.append(json_line(row))
        return
    shown_where = shown(_shown_folder(where, workspace)) if where else f"({failed.registry_id})"
    lines.append(f"FAIL  {shown_where}  (1 problem(s))\n")
    lines.append(f"      {failed.code:<22} -: {failed.message}\n")


def print_unreadable(error: RegistryError, as_json: bool) -> None:
    where = None if error.path is None else printable(error.path)
    problem = problem_object(error.code, error.message, path=where)
    if as_json:
        row = {"run_folder": where, "run_id": None, "status": "ERROR", "errors": [problem]}
        sys.stdout.write(json_line(row))
    else:
        err(problem_text({**problem, "path": where and shown(where)}, error=True))


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
