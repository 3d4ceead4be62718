"""`registry delta show|verify`: the registry delta log, its transitions and its chain."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import Any

from registry_pipeline.cli._args import command, common, examples, parse_moment
from registry_pipeline.cli._output import answer, err, failed, json_doc, out
from registry_pipeline.core.seal.run_id import created_moment
from registry_pipeline.core.workspace.layout import Workspace, resolve_workspace

EPILOG = """\
examples:
  registry delta show
  registry delta show --registry migration_ledger --since 2026-11-20 --explain
  registry delta show --json
  registry delta verify

exit codes: 0 done, 1 the chain does not hold or a folder is FUTURE_DATED (verify) or no log
snapshot is usable (show), 2 bad usage"""

DESCRIPTION = """\
The registry delta log (REGISTRY_DELTA_LOG_v0_1.jsonl in each registry_delta_log snapshot, built
by `registry build`) records every transition between consecutive sealed snapshots of the covered
registries, append-only across builds. show and verify only read."""

SHOW = """\
Print the transitions of the newest usable delta log snapshot (its seal, state file and chain
hold, and the records each log snapshot appended name it as their build) in time order: by
created_utc, records of the same second in the log's order. Each line: time, registry, the run
ids before and after, the basis (manifest_diff, or unknown when a side could not be compared)
and the counts of added (+), removed (-) and modified (~) paths; --json prints the log's run id
and the records. Exit 0 (also when there is no log yet); 1 NO_VALID_LOG when log snapshots exist
but none is usable (see `registry delta verify`); 2 BAD_TIMESTAMP or UNKNOWN_REGISTRY."""

VERIFY = """\
Walk the chain of delta log snapshots from the newest back to the first (each names its
predecessor in run.json inputs): each must validate, its state file must describe its JSONL, it
must extend its predecessor byte for byte with valid, chained records, and the records it
appended must name it as their build. A run folder of a covered registry (or a log) dated in
the future, beyond 5 minutes of clock skew, is FUTURE_DATED: the log never records it (it would
stop the log) and never starts from it. Every problem is listed with its reason code. Exit 0
when the chain holds and no folder is future-dated (or there is no log yet), 1 otherwise."""


def add_delta(commands: Any) -> None:
    parser = command(
        commands,
        "delta",
        "what changed in each registry, between which sealed snapshots, and when",
        DESCRIPTION,
        EPILOG,
    )
    sub = parser.add_subparsers(dest="delta_command", metavar="COMMAND", required=True)
    show = command(
        sub, "show", "list transitions in time order (newest valid log)", SHOW,
        examples("registry delta show --registry run_registry",
                 "registry delta show --since 2026-11-20T00:00:00Z --explain"),
    )  # fmt: skip
    show.add_argument(
        "--registry", metavar="ID", help="only this registry (it must be in the catalog)"
    )
    show.add_argument(
        "--since", metavar="TIMESTAMP",
        help="only transitions created at or after this time (with a zone: 2026-11-20T08:00:00Z) "
        "or date (the start of that UTC day)",
    )  # fmt: skip
    show.add_argument(
        "--explain", action="store_true",
        help="also say what changed inside JSON, JSONL and YAML artifacts, record by record "
        "(manifest_diff transitions whose two run folders still exist)",
    )  # fmt: skip
    common(show, run_show, "print JSON")
    verify = command(
        sub, "verify", "check the whole chain of log snapshots back to the first", VERIFY,
        examples("registry delta verify", "registry delta verify --json"),
    )  # fmt: skip
    common(verify, run_verify, "print JSON")


def _records(workspace: Workspace) -> tuple[str | None, Iterator[Any]]:
    from registry_pipeline.core.delta_log import (
        LOG_ARTIFACT,
        TORN_TAIL,
        newest_valid_log,
        parse_record,
    )
    from registry_pipeline.core.seal.schemas import SchemaCatalog

    log = newest_valid_log(
        workspace, SchemaCatalog.for_workspace(workspace.root), strict_derivation=True
    )
    if log is None:
        from registry_pipeline.core.delta_log import LOG_REGISTRY_ID
        from registry_pipeline.core.errors import RegistryError
        from registry_pipeline.core.workspace.snapshots import list_snapshots

        if list_snapshots(workspace, LOG_REGISTRY_ID):
            raise RegistryError.of("NO_VALID_LOG", path=workspace.runs_dir)
        return None, iter(())
    path = log.path / LOG_ARTIFACT

    def stream() -> Iterator[Any]:
        from registry_pipeline.core.fs import open_file
        from registry_pipeline.core.jsonl import Lines
        from registry_pipeline.core.workspace.input_files import worded

        with worded(path, "delta log"):  # checked when chosen; a FIFO swapped in since: refused
            handle = open_file(path)
        with handle:
            for number, line in Lines(handle, TORN_TAIL, path=path):
                if line.strip():
                    yield parse_record(line, line_number=number, path=str(path))

    return log.run_id, stream()


def run_show(args: argparse.Namespace) -> int:
    workspace = resolve_workspace(args.workspace).require()
    since = None if args.since is None else parse_moment(args.since, "--since", end_of_day=False)
    if args.registry is not None:
        from registry_pipeline.core.workspace.catalog import load_catalog

        spec = load_catalog(workspace).get(args.registry)  # UNKNOWN_REGISTRY, exit 2
        if not spec.delta_log.covered:
            err(f"note: {args.registry} is not covered by the delta log: {spec.delta_log.reason}")
    log_run_id, records = _records(workspace)
    chosen = [
        record
        for record in records
        if (args.registry is None or record.registry_id == args.registry)
        and (since is None or (created_moment(record.created_utc) or since) >= since)
    ]
    # the log is in append order (registry by registry): a stable sort keeps it among records of
    # the same second (created_utc's text order is its time order)
    chosen.sort(key=lambda record: record.created_utc)
    shown = [(record, _explain(workspace, record) if args.explain else []) for record in chosen]
    if args.json:
        rows = [record.as_json() for record, _items in shown]
        for row, (_record, items) in zip(rows, shown, strict=True) if args.explain else ():
            row["explanation"] = [item.as_json() for item in items]
        json_doc({"log_run_id": log_run_id, "records": rows})
        return 0
    if log_run_id is None:
        out("no delta log yet (registry build makes one)")
        return 0
    for record, items in shown:
        was = record.from_ref.run_id if record.from_ref else "(first snapshot)"
        counts = " ".join(f"{sign}{record.counts[key]}" for sign, key in _COUNTS)
        out(f"{record.created_utc}  {record.registry_id:<20} {was} -> {record.to_ref.run_id}"
            f"  {record.delta_basis}  {counts}")  # fmt: skip
        for line in (line for item in items for line in item.lines()):
            out(f"    {line}")
    out(f"{len(shown)} transition(s) from {log_run_id}")
    return 0


_COUNTS = (("+", "added"), ("-", "removed"), ("~", "modified"))


def _explain(workspace: Workspace, record: Any) -> list[Any]:
    """Record-level explanation of a transition's changed JSON/JSONL/YAML files."""
    from registry_pipeline.core.explain.changes import explain_snapshots

    if record.delta_basis != "manifest_diff":
        return []
    paths = [*record.added_paths, *record.removed_paths, *record.modified_paths]
    paths = [p for p in paths if p != "run.json"]
    old = workspace.runs_dir / record.from_ref.run_id if record.from_ref else None
    new = workspace.runs_dir / record.to_ref.run_id
    if not new.is_dir() or (old is not None and not old.is_dir()):
        return []
    return list(explain_snapshots(old, new, paths))


def run_verify(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from registry_pipeline.core.delta_log import LOG_REGISTRY_ID, future_findings, inspect_chain
    from registry_pipeline.core.workspace.snapshots import list_snapshots

    workspace = resolve_workspace(args.workspace).require()
    future = future_findings(workspace)  # never recorded, never a log: each one an error
    snapshots = list_snapshots(workspace, LOG_REGISTRY_ID)
    if not snapshots:
        problems = [finding.as_json() for finding in future]
        document = {"status": "FAIL" if future else "EMPTY", "snapshots": 0, "records": 0,
                    "problems": problems}  # fmt: skip
        verdict = _verdict(future, "no delta log yet: nothing to verify", args.json)
        return answer(args.json, document, [verdict], 1 if future else 0)
    report = inspect_chain(workspace, snapshots[-1].path, strict_derivation=True)
    report = replace(report, problems=(*future, *report.problems))
    held = (f"delta log chain OK: {report.snapshots} snapshot(s) from {report.first_run_id} "
            f"to {report.newest_run_id}, {report.records} record(s)")  # fmt: skip
    verdict = _verdict(report.problems, held, args.json)
    return answer(args.json, report.as_json(), [verdict], 0 if report.ok else 1)


def _verdict(findings: Sequence[Any], held: str, as_json: bool) -> str:
    """Each finding on stderr (not with --json), then the verdict line: `held`, or the failure."""
    for finding in [] if as_json else findings:
        err(f"error: {finding.code} {finding.run_id or ''}: {finding.message}")
    return failed("delta log chain", [str(f.code) for f in findings]) if findings else held
