"""The commands of `registry`: each adds its parser and a `run(args) -> int`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from registry_pipeline.cli._args import arg, declare, examples
from registry_pipeline.cli._output import answer, err, json_doc, out
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.workspace.layout import Workspace, resolve_workspace


def add_init(commands: Any) -> None:
    declare(
        commands,
        "init",
        "create a workspace skeleton",
        "Create .codex/RUNS/ and a .gitattributes line that stops git from ever "
        "converting the line endings of sealed files. Safe to run again. A symlink where it "
        "would write, or in the way to registries/, is refused (UNSAFE_PATH, exit 2) with "
        "nothing written.\n\n"
        "--with-write-path also writes seed 003's registry types (module types, instances, "
        "maturity, interfaces, routes, low- and high-level abilities, hooks: their entry "
        "schemas, empty registries, coordination rules, the table of types and the catalog), "
        "so that `registry add-entry` writes at once. A workspace with a catalog gets none of "
        "them; an existing file is never overwritten (it is kept, and said so).",
        examples(
            "registry init",
            "registry init ~/governance --json",
            "registry init --with-write-path && registry types",
        ),
        run_init,
        arg("dir", nargs="?", metavar="DIR", help="folder to initialize (default: .)"),
        arg("--with-write-path", action="store_true",
            help="also write the seed's registry types so that add-entry can write (keeps what "
            "exists; nothing when the workspace has a catalog)"),
        workspace=False,
    )  # fmt: skip


def run_init(args: argparse.Namespace) -> int:
    from registry_pipeline.core.fs import require_safe_all
    from registry_pipeline.core.gate.gate import share
    from registry_pipeline.core.workspace.catalog import CATALOG_RELPATH
    from registry_pipeline.core.workspace.gitcheck import workspace_git_findings
    from registry_pipeline.core.workspace.layout import init_targets, init_workspace
    from registry_pipeline.core.write_path.scaffold import (
        require_placeable,
        scaffold,
        scaffold_targets,
    )

    root = Path(args.dir or os.getcwd()).absolute()
    # the catalog gives the run roots (another folder's, through a link), and adopt and
    # add-entry write beside it: checked with what init writes, before the catalog is read
    catalog = root / CATALOG_RELPATH
    scaffolded = scaffold_targets(root) if args.with_write_path else []
    require_safe_all(root, [catalog, *init_targets(root), *scaffolded])
    has_catalog = os.path.lexists(catalog)  # then scaffold writes nothing: its places are free
    require_placeable(root, [*init_targets(root), *([] if has_catalog else scaffolded)])
    run_roots, pointer_file = _catalog_places(root)
    changed = init_workspace(root, run_roots)
    kept: list[str] = []
    if args.with_write_path:
        try:
            created, kept = scaffold(root)
        except OSError as exc:  # what was written stays: init again completes it, never overwriting
            why, what = exc.strerror or exc, "write the registry types"
            raise RegistryError.of("INIT_FAILED", path=exc.filename or root, what=what,
                                   reason=why) from None  # fmt: skip
        changed += created
    shared = share(Workspace(root))
    if shared is not None:
        changed.append(f"shared with {shared.url} (its history is the workspace's)")
    warnings = workspace_git_findings(root, run_roots, pointer_file)
    if args.json:
        warned = [warning.as_json() for warning in warnings]
        json_doc({"workspace": str(root), "changes": changed, "kept": kept, "warnings": warned})
        return 0
    done = f"initialized registry workspace in {root}"
    out(done if changed else f"{root} is already a registry workspace; nothing to do")
    for item in [*changed, *kept]:
        out(f"  {item}")
    if any(item == f"created {CATALOG_RELPATH}" for item in changed):
        out("next: `registry types`, then `registry add-entry --type TYPE --entry-file ENTRY`")
    for warning in warnings:
        err(f"warning: {warning.message}")
    return 0


def _catalog_places(root: Path) -> tuple[tuple[str, ...], str]:
    """The catalog's run roots and pointer file, else the defaults (a bad catalog is for build)."""
    from registry_pipeline.core.workspace.catalog import POINTER_FILE_RELPATH, load_catalog
    from registry_pipeline.core.workspace.layout import RUNS_RELPATH

    try:
        catalog = load_catalog(Workspace(root))
    except RegistryError:
        return (RUNS_RELPATH,), POINTER_FILE_RELPATH
    return catalog.run_roots, catalog.pointer_file


def add_seal(commands: Any) -> None:
    declare(
        commands,
        "seal",
        "seal files or a folder into a new run folder",
        "Copy SRC into a new sealed run folder .codex/RUNS/<run_id>/ and print its "
        "run_id, path and root hash. A single folder SRC seals its contents; "
        "otherwise each SRC keeps its name. Nothing is written if any SRC is unsafe "
        "(symlink, special file, unsafe name) or violates its artifact's schema.",
        examples(
            "registry seal reports/validation/ --registry-id validation_range_results",
            "registry seal EXPECTED_VERSIONS_v0_1.json --registry-id expected_versions "
            "--op-id OP-QA07 --json",
        ),
        run_seal,
        arg("sources", nargs="+", metavar="SRC", help="files or folders to seal"),
        arg("--registry-id", required=True, metavar="ID",
            help="registry the run belongs to (a-z, 0-9, _)"),
        arg("--op-id", metavar="OP", help="operation id recorded in run.json (OP-...)"),
    )  # fmt: skip


def run_seal(args: argparse.Namespace) -> int:
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_id import OPERATION_ID, check_registry_id
    from registry_pipeline.core.seal.run_store import RunStore
    from registry_pipeline.core.seal.schemas import SchemaCatalog
    from registry_pipeline.core.workspace.snapshots import GENERATION, next_generation
    from registry_pipeline.core.workspace.sources import check_source_schemas, plan_sources

    workspace = resolve_workspace(args.workspace).require()
    check_registry_id(args.registry_id)
    if args.op_id is not None and not OPERATION_ID.fullmatch(args.op_id):
        raise RegistryError.of("INVALID_OPERATION_ID", path=args.op_id)
    pairs = plan_sources([Path(source) for source in args.sources])
    check_source_schemas(pairs, SchemaCatalog.for_workspace(workspace.root))
    store = RunStore(workspace)
    generation = {GENERATION: next_generation(workspace, args.registry_id)}
    spec = RunSpec(args.registry_id, args.op_id, run_type="seal", extra=generation)
    with store.stage(spec) as staging:
        staging.add_copies(pairs)
        sealed = staging.publish()
    artifacts = len(sealed.entries) - 1
    return answer(args.json, sealed.as_json(), [
        f"sealed {sealed.run_id}",
        f"  path   {_relative(sealed.path, workspace)}",
        f"  root   sha256:{sealed.root_sha256}",
        f"  files  {sealed.file_count} ({artifacts} artifact(s) + run.json and the manifests)",
    ])  # fmt: skip


def _relative(path: Path, workspace: Workspace) -> str:
    try:
        return str(path.absolute().relative_to(workspace.root))
    except ValueError:
        return str(path)
