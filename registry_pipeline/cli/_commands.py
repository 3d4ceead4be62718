"""The commands of `registry`: each adds its parser and a `run(args) -> int`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from registry_pipeline.cli._output import err, json_doc, out
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.workspace.layout import Workspace, resolve_workspace

Commands = Any  # argparse's private _SubParsersAction

RAW = argparse.RawDescriptionHelpFormatter


def workspace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        help="workspace folder (default: $REGISTRY_WORKSPACE, else the current one)",
    )


def add_init(commands: Commands) -> None:
    """`registry init [DIR]`."""
    parser = commands.add_parser(
        "init",
        help="create a workspace skeleton",
        formatter_class=RAW,
        description="Create .codex/RUNS/ and a .gitattributes line that stops git from ever "
        "converting the line endings of sealed files. Safe to run again. A symlink where it "
        "would write, or in the way to registries/, is refused (UNSAFE_PATH, exit 2) with "
        "nothing written.",
        epilog="examples:\n  registry init\n  registry init ~/governance --json",
    )
    parser.add_argument("dir", nargs="?", metavar="DIR", help="folder to initialize (default: .)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.set_defaults(run=run_init)


def run_init(args: argparse.Namespace) -> int:
    from registry_pipeline.core.workspace.catalog import CATALOG_RELPATH
    from registry_pipeline.core.workspace.gitcheck import workspace_git_warnings
    from registry_pipeline.core.workspace.layout import init_targets, init_workspace
    from registry_pipeline.core.workspace.safe_write import require_safe_all

    root = Path(args.dir or os.getcwd()).absolute()
    # the catalog gives the run roots (another folder's, through a link), and adopt and
    # add-entry write beside it: checked with what init writes, before the catalog is read
    require_safe_all(root, [root / CATALOG_RELPATH, *init_targets(root)])
    run_roots, pointer_file = _catalog_places(root)
    changed = init_workspace(root, run_roots)
    warnings = workspace_git_warnings(root, run_roots, pointer_file)
    if args.json:
        json_doc({"workspace": str(root), "changes": changed, "warnings": warnings})
    elif changed:
        out(f"initialized registry workspace in {root}")
        for item in changed:
            out(f"  {item}")
    else:
        out(f"{root} is already a registry workspace; nothing to do")
    for warning in [] if args.json else warnings:
        err(f"warning: {warning}")
    return 0


def _catalog_places(root: Path) -> tuple[tuple[str, ...], str]:
    """The run roots and pointer file of the workspace's catalog (the defaults without one;
    a catalog that does not load is the build's error to report, not init's)."""
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.core.workspace.catalog import POINTER_FILE_RELPATH, load_catalog
    from registry_pipeline.core.workspace.layout import RUNS_RELPATH

    try:
        catalog = load_catalog(Workspace(root))
    except RegistryError:
        return (RUNS_RELPATH,), POINTER_FILE_RELPATH
    return catalog.run_roots, catalog.pointer_file


def add_seal(commands: Commands) -> None:
    """`registry seal SRC... --registry-id ID`."""
    parser = commands.add_parser(
        "seal",
        help="seal files or a folder into a new run folder",
        formatter_class=RAW,
        description="Copy SRC into a new sealed run folder .codex/RUNS/<run_id>/ and print its "
        "run_id, path and root hash. A single folder SRC seals its contents; "
        "otherwise each SRC keeps its name. Nothing is written if any SRC is unsafe "
        "(symlink, special file, unsafe name) or violates its artifact's schema.",
        epilog="examples:\n"
        "  registry seal reports/validation/ --registry-id validation_range_results\n"
        "  registry seal EXPECTED_VERSIONS_v0_1.json --registry-id expected_versions "
        "--op-id OP-QA07 --json",
    )
    parser.add_argument("sources", nargs="+", metavar="SRC", help="files or folders to seal")
    parser.add_argument(
        "--registry-id",
        required=True,
        metavar="ID",
        help="registry the run belongs to (a-z, 0-9, _)",
    )
    parser.add_argument("--op-id", metavar="OP", help="operation id recorded in run.json (OP-...)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    workspace_option(parser)
    parser.set_defaults(run=run_seal)


def run_seal(args: argparse.Namespace) -> int:
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_id import OPERATION_ID, check_registry_id
    from registry_pipeline.core.seal.run_store import RunStore
    from registry_pipeline.core.seal.schemas import SchemaCatalog
    from registry_pipeline.core.workspace.sources import check_source_schemas, plan_sources

    workspace = resolve_workspace(args.workspace).require()
    check_registry_id(args.registry_id)
    if args.op_id is not None and not OPERATION_ID.fullmatch(args.op_id):
        raise UsageError(
            "operation id must look like OP-QA07", code="INVALID_OPERATION_ID", path=args.op_id
        )
    pairs = plan_sources([Path(source) for source in args.sources])
    check_source_schemas(pairs, SchemaCatalog.for_workspace(workspace.root))
    store = RunStore(workspace)
    spec = RunSpec(registry_id=args.registry_id, operation_id=args.op_id, run_type="seal")
    with store.stage(spec) as staging:
        staging.add_copies(pairs)
        sealed = staging.publish()
    if args.json:
        json_doc(sealed.as_json())
    else:
        out(f"sealed {sealed.run_id}")
        out(f"  path   {_relative(sealed.path, workspace)}")
        out(f"  root   sha256:{sealed.root_sha256}")
        artifacts = len(sealed.entries) - 1
        out(f"  files  {sealed.file_count} ({artifacts} artifact(s) + run.json and the manifests)")
    return 0


def _relative(path: Path, workspace: Workspace) -> str:
    try:
        return str(path.absolute().relative_to(workspace.root))
    except ValueError:
        return str(path)
