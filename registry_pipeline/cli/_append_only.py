"""`registry check-append-only PATH...`: the append-only check for CI and pre-commit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_pipeline.cli._args import command, common
from registry_pipeline.cli._output import err, json_doc, out
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.workspace.input_files import (
    MAX_CATALOG_FILE_BYTES,
    human_size,
    read_input_file,
)

if TYPE_CHECKING:
    from registry_pipeline.core.append_only import Rules
    from registry_pipeline.core.append_only.baseline import Baseline, FileCheck
    from registry_pipeline.core.workspace.catalog import RegistrySpec
    from registry_pipeline.core.workspace.layout import Workspace


def add_check_append_only(commands: Any) -> None:
    parser = command(
        commands,
        "check-append-only",
        "check that a catalog's ids and contracts only grow (CI, pre-commit)",
        "Check a catalog file as the build does, then against its published\n"
        "version: an id once published may be deprecated but never removed or reused, and a\n"
        "published contract never changes without a new contract id. Every problem is\n"
        "reported in one pass: SCHEMA_VIOLATION (the registry's schema, exactly as the build\n"
        "applies it), ID_REMOVED, DUPLICATE_ID, INVALID_ID, ALIAS_COLLISION,\n"
        "INVALID_CONTRACT_ID, DUPLICATE_CONTRACT_ID, CONTRACT_REMOVED, CONTRACT_SURFACE_DRIFT\n"
        "(with both RFC 8785 hashes, how the schema changed, and the contract id to publish\n"
        "instead), CONTRACT_SURFACE_INVALID. See docs/APPEND_ONLY.md.\n\n"
        "Rules: --rules NAME (a preset: rolepack, allowed_operations) or FILE (a JSON rule\n"
        "block); without it, the catalog entry of the workspace whose sources include PATH.\n"
        "Baseline: --baseline FILE; --baseline-git REF (REF:<path>, then origin/REF:<path>;\n"
        "neither: a first publish, where only the internal rules apply, with a warning);\n"
        "without either, in a workspace, the active sealed snapshot of the registry (else the\n"
        "newest valid one). --require-baseline makes a missing one an error (CI, pre-commit).\n"
        f"Files read (PATH, --baseline, --rules) are regular files of at most "
        f"{human_size(MAX_CATALOG_FILE_BYTES)}:\n"
        "a FIFO or device is NOT_A_REGULAR_FILE, a bigger file INPUT_TOO_LARGE.\n"
        "Exit 0 clean, 1 violations, 2 bad usage or unreadable input.",
        "examples:\n"
        "  registry check-append-only registries/rolepack/atelier_rolepack_v1.json\n"
        "  registry check-append-only assets/atelier_rolepack_v1.json --rules rolepack \\\n"
        "      --baseline-git main --require-baseline\n"
        "  registry check-append-only pack.json --rules rolepack --baseline old.json --json\n\n"
        "pre-commit (.pre-commit-config.yaml of another repository):\n"
        "  - repo: <this repository's URL>\n"
        "    rev: <tag>\n"
        "    hooks:\n"
        "      - id: registry-append-only\n"
        "        files: ^assets/atelier_rolepack.*\\.json$\n"
        "        args: [--rules, rolepack]",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="catalog file(s) to check")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--baseline", metavar="FILE", help="the published version, as a file")
    source.add_argument("--baseline-git", metavar="REF", help="the published version at REF")
    parser.add_argument(
        "--require-baseline", action="store_true",
        help="no published version found is an error (exit 2: BASELINE_REF_UNRESOLVABLE, "
        "BASELINE_MISSING), not a first publish: for CI and pre-commit",
    )  # fmt: skip
    parser.add_argument("--rules", metavar="NAME|FILE", help="a preset name or a rules file")
    common(parser, run_check_append_only)


def run_check_append_only(args: argparse.Namespace) -> int:
    from registry_pipeline.core.append_only.baseline import check_file, rules_of
    from registry_pipeline.core.seal.schemas import SchemaCatalog
    from registry_pipeline.core.workspace.catalog import CATALOG_RELPATH
    from registry_pipeline.core.workspace.layout import resolve_workspace

    if args.baseline and len(args.paths) > 1:
        why = "--baseline FILE names the published version of one PATH; give one PATH, or use "
        raise RegistryError.of("BAD_USAGE", reason=why + "--baseline-git")
    given = _given_rules(args.rules) if args.rules else None
    found = resolve_workspace(args.workspace)
    workspace = found if (found.root / CATALOG_RELPATH).is_file() else None  # with a catalog
    schemas = SchemaCatalog.for_workspace(workspace.root if workspace is not None else None)
    results = []
    for raw in args.paths:
        path = Path(raw)
        current = read_input_file(raw, limit=MAX_CATALOG_FILE_BYTES, what="catalog file")
        entry = _entry_of(path, workspace, required=given is None)
        rules = given if given is not None else rules_of(entry[0]) if entry else None
        assert rules is not None  # an entry is found only when it has rules
        baseline = _baseline(path, args, workspace, entry)
        if args.require_baseline:
            baseline.required(raw)
        elif baseline.data is None:
            err(
                f"warning: {raw}: {baseline.why}; checked as a first publish (only the "
                "internal rules apply); --require-baseline makes this an error"
            )
        relpath = entry[1] if entry else path.name  # the name the build seals it under
        checked = check_file(current, relpath, baseline, rules, schemas, raw)
        if checked.schema is None:
            err(
                f"warning: {raw}: no schema governs {relpath} (nor would the build apply one); "
                f"only the {rules.name} rules apply"
            )
        results.append(checked)
    ok = all(checked.ok for checked in results)
    if args.json:
        documents = [checked.as_json() for checked in results]
        json_doc(documents[0] if len(documents) == 1 else {"ok": ok, "files": documents})
    else:
        for checked in results:
            _print(checked)
    return 0 if ok else 1


def _given_rules(value: str) -> Rules:
    """--rules as a preset name, else as a rules file (a JSON rule block)."""
    from registry_pipeline.core.append_only import PRESETS, parse_rules, rules_invalid
    from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict

    if value in PRESETS or not Path(value).exists():
        return parse_rules(value, "--rules")
    data = read_input_file(
        value, limit=MAX_CATALOG_FILE_BYTES, what="rules file", unreadable="RULES_INVALID"
    )
    try:
        block = loads_strict(data)
    except JSONDecodeProblem as exc:
        said = f"not valid JSON: {exc}"
        raise rules_invalid(said, path=value, what="the rules file") from None
    return parse_rules(block, value)


def _entry_of(
    path: Path, workspace: Workspace | None, *, required: bool
) -> tuple[RegistrySpec, str] | None:
    """The append_only entry governing `path`, its sealed name; None (NO_RULES when `required`)."""
    from registry_pipeline.core.workspace.catalog import load_catalog
    from registry_pipeline.core.workspace.sources import source_paths

    target = path.resolve()
    specs = load_catalog(workspace).registries if workspace is not None else ()
    for spec in specs:
        if spec.kind != "source" or spec.append_only is None:
            continue
        assert workspace is not None
        origins = source_paths(workspace.root, spec.sources).origins  # none of them read
        for relpath, origin in origins.items():
            if (workspace.root / origin).resolve() == target:
                return spec, relpath
    if not required:
        return None
    raise RegistryError.of("NO_RULES", path=path)


def _baseline(
    path: Path,
    args: argparse.Namespace,
    workspace: Workspace | None,
    entry: tuple[RegistrySpec, str] | None,
) -> Baseline:
    """--baseline, --baseline-git, else the published snapshot of the governing entry."""
    from registry_pipeline.core.append_only.baseline import NO_BASELINE, Baseline, git_baseline

    if args.baseline:
        data = read_input_file(
            args.baseline,
            limit=MAX_CATALOG_FILE_BYTES,
            what="baseline",
            unreadable="BASELINE_UNREADABLE",
        )
        return Baseline("file", args.baseline, data)
    if args.baseline_git:
        return git_baseline(path, args.baseline_git)
    if workspace is None or entry is None:
        return NO_BASELINE
    from registry_pipeline.core.append_only.baseline import published_files, published_snapshot
    from registry_pipeline.core.seal.schemas import SchemaCatalog

    spec, relpath = entry
    folder = published_snapshot(workspace, spec, SchemaCatalog.for_workspace(workspace.root))
    files = published_files(folder, spec.registry_id) or {}
    if folder is None:
        why = f"{spec.registry_id} has no published snapshot yet (no active pointer, none valid)"
        return Baseline("none", None, None, why=why)
    if relpath not in files:
        return Baseline("none", None, None, why=f"the published {folder.name} has no {relpath}")
    return Baseline("snapshot", f"{folder.name}/{relpath}", files[relpath])


def _print(checked: FileCheck) -> None:
    baseline, report = checked.baseline, checked.report
    against = baseline.source if baseline.data is not None else "nothing (a first publish)"
    problems = checked.located
    state = "ok" if checked.ok else f"{len(problems)} violation(s)"
    out(
        f"{checked.file}: {state} ({report.entries} entries, {report.contracts} contracts, "
        f"rules {checked.rules.name}, against {against})"
    )
    for problem, where in problems:
        line = "" if problem["line"] is None else f" (line {problem['line']})"
        out(f"  {problem['code']}  {where}{line}: {problem['message']}")
        if "expected_sha256" in problem:
            out(f"    published sha256:{problem['expected_sha256']}")
            out(f"    now       sha256:{problem['found_sha256']}")
        compatibility: Any = problem.get("compatibility")
        for change in compatibility["changes"][:10] if compatibility else ():
            out(
                f"    {change['direction']:12s} {change['code']} {change['path'] or '/'}: "
                f"{change['detail']}"
            )
