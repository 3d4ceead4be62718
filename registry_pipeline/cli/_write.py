"""`registry add-entry`, `registry deprecate` and `registry types`: the governed write path."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from registry_pipeline.cli._args import command, common
from registry_pipeline.cli._output import err, json_doc, out
from registry_pipeline.core.workspace.input_files import MAX_ENTRY_FILE_BYTES, human_size

if TYPE_CHECKING:
    from registry_pipeline.core.write_path import WriteResult


def add_add_entry(commands: Any) -> None:
    parser = command(
        commands,
        "add-entry",
        "insert or update one entry of a hand-edited registry, checked and atomic",
        "Insert an entry, or update the one with the same key, in a hand-edited\n"
        "registry (see `registry types`). The entry is validated against its schema and\n"
        "checked against the other registries by the workspace's coordination rules; the file\n"
        "keeps its comments and every other entry byte for byte, and is replaced atomically\n"
        "under the workspace's write lock (concurrent writers lose nothing). Findings of\n"
        "severity error block the write, warning ones are printed, record ones are appended to\n"
        "registries/WRITE_NOTES_v0_1.jsonl. --no-check --reason TEXT writes despite errors and\n"
        "appends an override record to registries/WRITE_OVERRIDES_v0_1.jsonl, which the health\n"
        "report shows. See docs/WRITE_PATH.md.\n\n"
        "Exit 0 written (or would be, with --dry-run, which prints the diff) or unchanged;\n"
        "1 blocked by errors (nothing written); 2 bad input (unparsable entry, unknown type,\n"
        "schema violation): every problem is listed with its field.",
        "examples:\n"
        "  registry add-entry --type hook --entry-file entries/hook.yaml\n"
        "  registry add-entry --type module_type --entry-json "
        '\'{"type_id": "queue", "name": "Queue", ...}\' --dry-run\n'
        "  registry add-entry --type route --entry-file r.yaml --json\n"
        "  registry add-entry --type ability_low --entry-file a.yaml --no-check "
        "--reason 'hook lands next release'\n"
        "  registry add-entry --type expected_versions "
        '--entry-json \'{"run_registry": "0.2.0"}\'',
    )
    parser.add_argument("--type", required=True, metavar="TYPE", help="the registry type")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--entry-file", metavar="F",
        help="the entry as YAML or JSON (- : stdin): a regular file (a FIFO or device is "
        f"refused: NOT_A_REGULAR_FILE) of at most {human_size(MAX_ENTRY_FILE_BYTES)} "
        "(ENTRY_TOO_LARGE)",
    )  # fmt: skip
    given.add_argument("--entry-json", metavar="JSON", help="the entry as a JSON object")
    parser.add_argument("--no-check", action="store_true",
                        help="write despite errors (needs --reason; recorded)")  # fmt: skip
    parser.add_argument("--reason", metavar="TEXT", help="why --no-check is needed")
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    common(parser, run_add_entry)


def add_deprecate(commands: Any) -> None:
    parser = command(
        commands,
        "deprecate",
        "mark one registry entry deprecated (never removed), checked and atomic",
        "Mark the entry KEY of a registry type deprecated: seed 002's lifecycle,\n"
        '"explicit deprecation allowed; removal forbidden". Only the entry\'s lifecycle field\n'
        "changes (the one the coordination file declares for the type, else `lifecycle` or\n"
        "`status`, set to `deprecated`); the entry keeps its place, nothing is removed. The\n"
        "write is add-entry's: the same lock, schema and coordination checks (a rule of kind\n"
        "not_deprecated now sees every reference to the entry), the same atomic replace. The\n"
        "reason is appended to registries/WRITE_NOTES_v0_1.jsonl (who, when, why) before the\n"
        "file is replaced. See docs/WRITE_PATH.md.\n\n"
        "Exit 0 deprecated (or would be, with --dry-run); 1 blocked by errors or already\n"
        "deprecated (ALREADY_DEPRECATED); 2 bad input (UNKNOWN_TYPE, UNKNOWN_KEY,\n"
        "NOT_DEPRECATABLE: the type has no lifecycle field, REASON_REQUIRED).",
        "examples:\n"
        "  registry deprecate module_instance legacy_cms --reason 'replaced by article_service'\n"
        "  registry deprecate rolepack visuals_2 --reason 'merged into visuals_1' --dry-run\n"
        "  registry deprecate hook prod_call_guard --reason 'moved to the gateway' --json",
    )
    parser.add_argument("type", metavar="TYPE", help="the registry type (see `registry types`)")
    parser.add_argument("key", metavar="KEY", help="the key of the entry to deprecate")
    parser.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded)")
    parser.add_argument("--no-check", action="store_true", help="write despite errors "
                        "(recorded in the override log with the reason)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    common(parser, run_deprecate)


def run_deprecate(args: argparse.Namespace) -> int:
    from registry_pipeline.core.workspace.layout import resolve_workspace
    from registry_pipeline.core.write_path import deprecate

    workspace = resolve_workspace(args.workspace)
    return _written(args, "TYPE", lambda: deprecate(workspace, args.type, args.key,
                    reason=args.reason, no_check=args.no_check, dry_run=args.dry_run))  # fmt: skip


def add_types(commands: Any) -> None:
    parser = command(
        commands,
        "types",
        "list the registry types add-entry writes (schema, content, key, purpose)",
        "List every registry type of the workspace's catalog that add-entry can\n"
        "write: its schema, where its entries live, what identifies one, and its purpose.",
        "examples:\n"
        "  registry types\n"
        "  registry types --json\n"
        "  registry types --markdown > .system/registry/AGENTS.md\n"
        "  registry types --rules        the coordination rules as a Markdown table",
    )
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print a JSON list")
    shape.add_argument("--markdown", action="store_true", help="print the generated document")
    shape.add_argument("--rules", action="store_true",
                       help="print the coordination rules as a Markdown table")  # fmt: skip
    common(parser, run_types, None)


def run_types(args: argparse.Namespace) -> int:
    from registry_pipeline.core.workspace.catalog import load_catalog
    from registry_pipeline.core.workspace.layout import resolve_workspace
    from registry_pipeline.core.write_path import entry_types, load_coordination
    from registry_pipeline.core.write_path.table import (
        coordination_markdown,
        types_json,
        types_markdown,
    )

    workspace = resolve_workspace(args.workspace)
    catalog = load_catalog(workspace)
    types = entry_types(catalog)
    if args.rules:
        coordination = load_coordination(workspace.root, catalog.coordination, types)
        sys.stdout.write(coordination_markdown(coordination))
    elif args.json:
        json_doc(types_json(types))
    elif args.markdown:
        sys.stdout.write(types_markdown(catalog, types))
    else:
        out(f"{'TYPE':<20} {'LAYOUT':<6} {'KEY':<14} {'CONTENT':<48} SCHEMA")
        for entry_type in types.values():
            key = entry_type.key or "(the name)"
            schema = entry_type.schema or f"{entry_type.schema_id} (by file name)"
            name, layout, source = entry_type.name, entry_type.layout, entry_type.source
            out(f"{name:<20} {layout:<6} {key:<14} {source:<48} {schema}")
    return 0


def run_add_entry(args: argparse.Namespace) -> int:
    from registry_pipeline.core.workspace.layout import resolve_workspace
    from registry_pipeline.core.write_path import add_entry

    entry, workspace = _read_entry(args), resolve_workspace(args.workspace)
    return _written(args, "--type", lambda: add_entry(workspace, args.type, entry,
                    no_check=args.no_check, reason=args.reason, dry_run=args.dry_run))  # fmt: skip


def _written(args: argparse.Namespace, option: str, write: Callable[[], WriteResult]) -> int:
    """Say a write's result (JSON or human), exit 1 when blocked; an UNKNOWN_TYPE names `option`."""
    from registry_pipeline.core.errors import RegistryError

    try:
        result = write()
    except RegistryError as exc:
        if exc.code == "UNKNOWN_TYPE" and exc.field is None:
            exc.field = option
        raise
    if args.json:
        json_doc(result.as_json())
    else:
        _report(result)
    return 1 if result.blocked else 0


def _read_entry(args: argparse.Namespace) -> Any:
    """The entry, parsed strictly; ENTRY_UNPARSABLE (exit 2) naming the line when it is not."""
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
    from registry_pipeline.core.workspace.input_files import read_input_file
    from registry_pipeline.core.yaml_io import loads_yaml_strict

    if args.entry_json is not None:
        data, name, as_json = args.entry_json.encode("utf-8", "surrogatepass"), "--entry-json", True
    else:
        name = args.entry_file
        data = read_input_file(
            name, limit=MAX_ENTRY_FILE_BYTES, what="entry file", too_large="ENTRY_TOO_LARGE"
        )
        as_json = name.endswith(".json")
    if len(data) > MAX_ENTRY_FILE_BYTES:  # --entry-json too
        raise RegistryError.of("ENTRY_TOO_LARGE", path=name, size=len(data),
                               limit=MAX_ENTRY_FILE_BYTES)  # fmt: skip
    try:
        return loads_strict(data) if as_json else loads_yaml_strict(data)
    except JSONDecodeProblem as exc:
        raise RegistryError.of("ENTRY_UNPARSABLE", path=name, reason=exc, line=exc.line,
                               column=exc.column) from None  # fmt: skip


def _report(result: WriteResult) -> None:
    from registry_pipeline.core.write_path.content import finding_text, where
    from registry_pipeline.core.write_path.logs import NOTES_RELPATH, OVERRIDES_RELPATH

    what = f"{result.type} {result.key!r}"
    if result.dry_run and result.diff:
        sys.stdout.write(result.diff)
    for finding in result.findings:
        if finding.severity != "error":
            err(finding_text(finding))
    errors = [finding for finding in result.findings if finding.severity == "error"]
    if result.blocked:
        err(
            f"error: BLOCKED {result.file}: {len(errors)} error(s); nothing was written "
            "(--no-check --reason TEXT writes anyway, and is recorded)"
        )
    elif result.overridden:
        err(
            f"WARNING: OVERRIDE {what} written despite {len(errors)} error(s) (--no-check); "
            f"recorded in {OVERRIDES_RELPATH}:"
        )
    for finding in errors if result.blocked or result.overridden else []:
        err(f"  {finding.code} {where(finding)}: {finding.message}")
    if result.blocked:
        return
    if result.notes:
        err(f"note: {result.notes} finding(s) recorded in {NOTES_RELPATH}")
    if result.reason is not None and result.written:
        err(f"note: the reason is recorded in {NOTES_RELPATH}")
    field = f" ({result.field})" if result.field else ""
    if result.action == "unchanged":
        out(f"unchanged {what}: {result.file} already holds this entry")
    elif result.dry_run:
        out(f"would have {result.action} {what} in {result.file}{field} (dry run: nothing written)")
    else:
        out(f"{result.action} {what} in {result.file}{field}")
