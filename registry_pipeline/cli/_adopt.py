"""`registry adopt [DIR]`: make a repository laid out like the seed system's a workspace."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from registry_pipeline.cli._args import command, common, examples
from registry_pipeline.cli._output import err, json_doc, out
from registry_pipeline.core.errors import Problem, RegistryError, UsageError


def add_adopt(commands: Any) -> None:
    parser = command(
        commands,
        "adopt",
        "make a repository of the seed system's layout a workspace (its files untouched)",
        "Write our catalog (registries/REGISTRY_CATALOG_v0_2.json) and a schema binding per\n"
        "source registry for a repository laid out like the seed system's, from its v0.1 catalog,\n"
        "addenda, operations catalog, pointer file and schemas; none of its files is modified.\n"
        "Prints every decision; running it twice changes nothing. See docs/ADOPTING.md.",
        examples(
            "registry adopt --dry-run",
            "registry adopt ~/src/ovc-infra --json",
            "registry adopt . --catalog governance/REGISTRY_CATALOG_v0_1.json",
        )
        + "\n\nexit codes: 0 done, 1 refused, 2 bad usage (nothing written)",
    )
    parser.add_argument("dir", nargs="?", metavar="DIR",
                        help="the repository to adopt (default: the current one)")  # fmt: skip
    parser.add_argument("--catalog", metavar="PATH", help="the v0.1 catalog, relative to DIR "
                        "(default: docs/phase_2_2/REGISTRY_CATALOG_v0_1.json)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be written, write nothing")  # fmt: skip
    common(parser, run_adopt, workspace=False)


def run_adopt(args: argparse.Namespace) -> int:
    from registry_pipeline.core.adopt import find_layout, plan_adoption
    from registry_pipeline.core.adopt.own_files import next_step, plan_git
    from registry_pipeline.core.adopt.writes import carry_out, planned_writes, unfixed
    from registry_pipeline.core.fs import require_safe_all
    from registry_pipeline.core.seal.gitstate import canon_changes
    from registry_pipeline.core.workspace.catalog import CATALOG_RELPATH, POINTER_FILE_RELPATH
    from registry_pipeline.core.workspace.gitcheck import workspace_git_findings
    from registry_pipeline.core.workspace.layout import init_targets

    root = Path(args.dir or os.getcwd()).absolute()
    if not root.is_dir():
        raise UsageError.of("NOT_A_FOLDER", path=root)
    # before planning (whose run-root check would say less), then what the plan adds
    require_safe_all(root, [root / CATALOG_RELPATH, *init_targets(root)])
    layout = find_layout(root, Path(args.catalog) if args.catalog else None)
    plan = plan_adoption(layout)
    require_safe_all(root, [root / relpath for relpath in plan.files])
    pointer_file = plan.catalog.get("pointer_file", POINTER_FILE_RELPATH)
    own = plan_git(root, pointer_file)  # the layer's own files: what git is told of them
    writes = planned_writes(root, plan, own)  # the plan a dry run prints and a run carries out
    require_safe_all(root, [w.path for w in writes if w.path.is_relative_to(root)])
    git = unfixed(workspace_git_findings(root, plan.catalog["run_roots"], pointer_file), writes)
    if not args.dry_run:
        carry_out(writes)
    warnings: list[Problem] = [*plan.warnings, *_pointer_warnings(plan), *git, *own.warnings]
    files: dict[str, str] = {}
    for write in writes:
        files.setdefault(write.shown, write.change)  # a file's first change: new, or updated
    if args.json:
        uncommitted = canon_changes(root)  # to commit before the first build; None outside git
        done = [] if args.dry_run else [w.said(False) for w in writes if w.part != "catalog"]
        json_doc(
            {
                "workspace": str(root),
                "dry_run": args.dry_run,
                "catalog": layout.relpath(layout.catalog),
                "addenda": [layout.relpath(p) for p in layout.addenda],
                "pointer_file": plan.catalog.get("pointer_file"),
                "operations": [layout.relpath(path) for path in layout.operations],
                "run_roots": plan.catalog["run_roots"],
                "decisions": [decision.as_json() for decision in plan.decisions],
                "files": files,
                "workspace_changes": done,
                "git": {
                    "work_tree": own.work_tree,
                    "ignore": [
                        {"file": a.shown, "lines": list(a.lines), "why": a.why} for a in own.appends
                    ],
                    "advice": list(own.advice),
                    "not_canon": list(own.not_canon),
                    "uncommitted": None if uncommitted is None else list(uncommitted),
                },
                "warnings": [warning.as_json() for warning in warnings],
            }
        )
        return 0
    out(f"adopting {root} from {layout.relpath(layout.catalog)}"
        + "".join(f" + {layout.relpath(p)}" for p in layout.addenda))  # fmt: skip
    for decision in plan.decisions:
        out(f"  {decision.kind:<12} {decision.registry_id:<28} {decision.reason}")
    out(f"  run roots: {', '.join(plan.catalog['run_roots'])}")
    if "pointer_file" in plan.catalog:
        out(f"  pointer file: {plan.catalog['pointer_file']} (kept where it is, in its format)")
    for write in writes:
        out(write.said(args.dry_run))
    for line in [*own.advice, *([own.not_canon_line()] if own.work_tree else [])]:
        out(line)
    for warning in warnings:
        err(f"warning: {warning.message}")
    if not args.dry_run:
        out(next_step(root) if own.work_tree else "next: registry build")
    return 0


def _pointer_warnings(plan: Any) -> list[Problem]:
    """Pointer-file faults the builds' reader refuses, and pointers to absent folders, once each."""
    from registry_pipeline.core.adopt.plan import adopt_warning
    from registry_pipeline.core.workspace.gitcheck import pointer_targets, some

    relpath = plan.catalog.get("pointer_file")
    if relpath is None:
        return []
    from registry_pipeline.core.pointers.pointer_file import read_pointer_file
    from registry_pipeline.core.seal.schemas import SchemaCatalog

    root = plan.layout.root
    if not (root / relpath).exists():
        return []  # the first build writes it
    warnings = []
    try:  # the builds' own reader: what it refuses, adopt says now
        read_pointer_file(root / relpath, SchemaCatalog.for_workspace(None))
    except RegistryError as exc:
        warnings.append(adopt_warning("POINTER_FILE_UNREADABLE", relpath, error=exc.code,
                                      reason=exc.message))  # fmt: skip
    absent = [
        f"{registry_id} -> {run_id}"
        for registry_id, run_root, run_id in pointer_targets(root / relpath)
        if not (root / run_root / run_id).is_dir()
    ]
    if not absent:
        return warnings
    return [*warnings, adopt_warning("SNAPSHOTS_ABSENT", relpath, count=len(absent),
                                     absent=some(absent))]  # fmt: skip
