"""`registry pointers ...`: show, history, promote, rollback, hold, release, accept, verify,
as-of."""

from __future__ import annotations

import argparse
import re
from typing import Any

from registry_pipeline.cli._args import bounded_float
from registry_pipeline.cli._commands import RAW, workspace_option
from registry_pipeline.cli._output import err, json_doc, out
from registry_pipeline.cli._pointers_help import (
    ACCEPT,
    AS_OF,
    DESCRIPTION,
    EPILOG,
    HISTORY,
    HOLD,
    PROMOTE,
    RELEASE,
    ROLLBACK,
    SHOW,
    VERIFY,
)
from registry_pipeline.cli._pointers_repair import add_repair_commands
from registry_pipeline.cli._pointers_show import records, run_history, run_show
from registry_pipeline.cli._pointers_store import cli_actor, open_store
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.workspace.layout import Workspace

NONE = "none"


def add_pointers(commands: Any) -> None:
    """`registry pointers COMMAND`."""
    parser = commands.add_parser(
        "pointers",
        help="the active pointers: show, promote, roll back, verify the journal",
        formatter_class=RAW,
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="pointers_command", metavar="COMMAND", required=True)

    show = _command(sub, "show", "what is active now", SHOW,
                    "registry pointers show\n  registry pointers show --json")  # fmt: skip
    _common(show)
    show.set_defaults(run=run_show)

    history = _command(
        sub, "history", "the journal, oldest first", HISTORY,
        "registry pointers history\n  registry pointers history run_registry --json",
    )  # fmt: skip
    history.add_argument("registry_id", nargs="?", metavar="REGISTRY_ID",
                         help="only this registry's records (default: every registry)")  # fmt: skip
    _common(history)
    history.set_defaults(run=run_history)

    promote = _command(
        sub, "promote", "make a newer valid snapshot active", PROMOTE,
        "registry pointers promote run_registry RUN_ID --expect OLD_RUN_ID\n"
        "  registry pointers promote expected_versions RUN_ID --expect none",
    )  # fmt: skip
    _registry_argument(promote)
    promote.add_argument("run_id", metavar="RUN_ID",
                         help="the snapshot to make active (a run folder name)")  # fmt: skip
    promote.add_argument(
        "--expect", metavar="RUN_ID",
        help="refuse (CAS_CONFLICT) unless this is the active snapshot now ('none': no pointer)",
    )  # fmt: skip
    promote.add_argument("--reason", default="", help="why (recorded in the journal)")
    _lock_option(promote)
    _common(promote)
    promote.set_defaults(run=run_promote)

    rollback = _command(
        sub, "rollback", "make an older valid snapshot active again, and hold it there", ROLLBACK,
        'registry pointers rollback drift_signals --to RUN_ID --reason "bad pack"',
    )  # fmt: skip
    _registry_argument(rollback)
    rollback.add_argument(
        "--to", required=True, metavar="RUN_ID", dest="run_id",
        help="the older snapshot to make active again (a run folder name)",
    )  # fmt: skip
    rollback.add_argument("--reason", required=True, help="why (required, journaled)")
    rollback.add_argument(
        "--expect", metavar="RUN_ID",
        help="refuse (CAS_CONFLICT) unless this is the active snapshot now ('none': no pointer)",
    )  # fmt: skip
    _lock_option(rollback)
    _common(rollback)
    rollback.set_defaults(run=run_rollback)

    for name, helptext, description, example in (
        (
            "hold",
            "stop automatic promotion of a registry (builds still build and check)",
            HOLD,
            'registry pointers hold run_registry --reason "freeze for the audit"',
        ),
        (
            "release",
            "lift a hold (from hold, rollback or accept): automatic promotion resumes",
            RELEASE,
            'registry pointers release drift_signals --reason "pack fixed"',
        ),
        (
            "accept",
            "record a hand edit of the pointer file as a journaled decision",
            ACCEPT,
            'registry pointers accept expected_versions --reason "pinned by hand"',
        ),
    ):
        command = _command(sub, name, helptext, description, example)
        _registry_argument(command)
        command.add_argument(
            "--reason",
            required=name != "release",
            default="",
            help="why (journaled)" + (" (required)" if name != "release" else ""),
        )
        _lock_option(command)
        _common(command)
        command.set_defaults(run=run_mark, mark=name)

    verify = _command(
        sub, "verify", "replay the journal: chain, sequence, and the pointer file", VERIFY,
        "registry pointers verify\n"
        '  registry pointers verify --expect-head "$(cat journal-head.txt)"',
    )  # fmt: skip
    verify.add_argument(
        "--expect-head", metavar="HASH",
        help="a head hash recorded earlier (64 hex digits): it must still be in the chain "
        "(catches truncation and a rewritten journal)",
    )  # fmt: skip
    _common(verify)
    verify.set_defaults(run=run_verify)

    as_of = _command(
        sub, "as-of", "what was active at a past moment (from the journal)", AS_OF,
        "registry pointers as-of 2026-11-20T18:00:00Z\n"
        "  registry pointers as-of 2026-11-20        (the end of that UTC day)",
    )  # fmt: skip
    as_of.add_argument(
        "timestamp", metavar="TIMESTAMP",
        help="an ISO 8601 time with a zone, or a date (the end of that UTC day)",
    )  # fmt: skip
    _common(as_of)
    as_of.set_defaults(run=run_as_of)
    add_repair_commands(sub, _command, _common, _lock_option)


def _command(
    sub: Any, name: str, helptext: str, description: str, examples: str
) -> argparse.ArgumentParser:
    """One `registry pointers NAME` parser; `examples` are its epilog's lines after the first's
    indent."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=helptext, description=description, formatter_class=RAW,
        epilog=f"examples:\n  {examples}",
    )  # fmt: skip
    return parser


def _registry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("registry_id", metavar="REGISTRY_ID", help="the registry's id")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    workspace_option(parser)


def _lock_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout", type=bounded_float(0, 86400), metavar="SECONDS",
        help="wait this long for another writer's lock before failing with LOCKED (default 10)",
    )  # fmt: skip


# -- promote, rollback, hold, release, accept -------------------------------------------------


def _expect(value: str | None) -> object:
    from registry_pipeline.core.pointers.store import ANY

    if value is None:
        return ANY
    return None if value.lower() == NONE else value


def _relpath(workspace: Workspace, registry_id: str, run_id: str) -> str | None:
    """The artifact the pointer names: from the catalog; in a workspace without one (only
    `registry seal`), the snapshot's single payload file, or None for several."""
    from registry_pipeline.core.pointers.store import (
        PointerRefused,
        pointer_relpath,
        target_folder,
    )
    from registry_pipeline.core.workspace.catalog import load_catalog
    from registry_pipeline.core.workspace.snapshots import read_snapshot

    try:
        catalog = load_catalog(workspace)
    except UsageError as exc:
        if exc.code != "NO_CATALOG":
            raise
        folder = target_folder(workspace, registry_id, run_id)  # refuses unsafe names first
        payload = list(read_snapshot(folder, registry_id).payload())
        return payload[0] if len(payload) == 1 else None
    spec = catalog.get(registry_id)
    if not spec.active_pointer:
        raise PointerRefused(
            f"{registry_id} is a {spec.kind} registry without an active pointer (catalog: "
            "active_pointer false)",
            code="NO_POINTER",
        )
    return pointer_relpath(spec.kind, spec.artifacts)


def run_promote(args: argparse.Namespace) -> int:
    return _change(args, "promote")


def run_rollback(args: argparse.Namespace) -> int:
    return _change(args, "rollback")


def _change(args: argparse.Namespace, action: str) -> int:
    """`promote` or `rollback` through the store, as the CLI user; a run id that is not here
    is refused naming the registry's nearest snapshots."""
    from registry_pipeline.core.gate.gate import admission
    from registry_pipeline.core.pointers.targets import naming_candidates

    workspace, store = open_store(args)
    with naming_candidates(workspace, args.registry_id, args.run_id):
        change = getattr(store, action)(
            args.registry_id,
            args.run_id,
            relpath=_relpath(workspace, args.registry_id, args.run_id),
            reason=args.reason,
            actor=cli_actor(),
            admit=admission,
            expect=_expect(args.expect),
        )
    return _report_change(args, change)


def run_mark(args: argparse.Namespace) -> int:
    """`hold`, `release` or `accept` through the store, as the CLI user."""
    from registry_pipeline.core.gate.gate import admission

    _workspace, store = open_store(args)
    change = getattr(store, args.mark)(
        args.registry_id, reason=args.reason, actor=cli_actor(), admit=admission
    )
    return _report_change(args, change)


def _report_change(args: argparse.Namespace, change: Any) -> int:
    record = change.record
    if args.json:
        json_doc(
            {
                "registry_id": change.registry_id,
                "changed": change.changed,
                "record": {**record.as_json(), "sha256": record.sha256} if record else None,
                "journal_head": record.sha256 if record else None,
            }
        )
    elif record is None:
        what = change.note or f"{getattr(args, 'run_id', '')} is already active"
        out(f"{change.registry_id}: {what}; nothing changed")
    else:
        out(f"{record}  (journal head {record.sha256})")
        if record.action == "rollback":
            out(
                f"{change.registry_id} is held: builds will not promote it until "
                f"`registry pointers release {change.registry_id}`"
            )
    return 0


# -- verify ----------------------------------------------------------------------------------


def run_verify(args: argparse.Namespace) -> int:
    expect = args.expect_head
    if expect is not None and not re.fullmatch(r"[0-9a-f]{64}", expect):
        raise UsageError("--expect-head takes a 64-character lowercase hex SHA-256",
                         code="BAD_HEAD")  # fmt: skip
    from registry_pipeline.core.gate.gate import admission
    from registry_pipeline.core.pointers.journal_replay import Finding
    from registry_pipeline.core.workspace.lock import describe_lock, lock_state

    _workspace, store = open_store(args)
    report = store.verify(expect, admit=admission)
    if lock_state(store.lock_path) == "held":  # a lock cannot go stale: it dies with its holder
        held = f"{store.lock_path}: {describe_lock(store.lock_path)}"
        report.notes.append(Finding("LOCK_HELD", f"a pointer change is in progress: {held}"))
    if args.json:
        json_doc(
            {
                "ok": report.ok,
                "records": report.records,
                "head": report.head,
                "expect_head_seq": report.expect_head_seq,
                "problems": [f.as_json(_finding_path(store, f)) for f in report.problems],
                "notes": [f.as_json(_finding_path(store, f)) for f in report.notes],
            }
        )
        return 0 if report.ok else 1
    for finding in report.problems:
        err(f"error: {finding}")
    for finding in report.notes:
        err(f"note: {finding}")
    if report.ok:
        out(f"journal OK: {report.records} record(s), head {report.head or '(empty)'}")
    else:
        codes = ", ".join(dict.fromkeys(finding.code for finding in report.problems))
        out(f"journal FAILED: {len(report.problems)} problem(s) ({codes})")
    return 0 if report.ok else 1


_POINTER_FILE_CODES = frozenset({"POINTER_MISMATCH", "NOT_JOURNALED"})
"""Findings about an entry of the pointer file; a TARGET_* finding is about a run folder (its
message names it), LOCK_HELD about the lock file, every other one about the journal."""


def _finding_path(store: Any, finding: Any) -> str | None:
    """The file a `pointers verify` finding is about."""
    if finding.code in _POINTER_FILE_CODES:
        return str(store.pointers_path)
    if finding.code == "LOCK_HELD":
        return str(store.lock_path)
    return None if finding.code.startswith("TARGET_") else str(store.journal_path)


# -- as-of -----------------------------------------------------------------------------------


def parse_moment(text: str) -> str:
    """An ISO UTC timestamp (or a date: the end of that UTC day) in the journal's format."""
    from registry_pipeline.cli._time import parse_moment as strict_moment

    return strict_moment(text).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_as_of(args: argparse.Namespace) -> int:
    from registry_pipeline.core.pointers.journal_replay import state_as_of

    moment = parse_moment(args.timestamp)
    _workspace, store = open_store(args)
    state = state_as_of(iter(records(store)), moment)
    rows: list[dict[str, Any]] = [
        {
            "registry_id": registry_id,
            "active_ref": record.to_ref.as_json(),
            "since_utc": record.created_utc,
            "seq": record.seq,
        }
        for registry_id, record in sorted(state.items())
        if record.to_ref is not None  # an aborted first promotion: no pointer then
    ]
    if args.json:
        json_doc({"as_of": moment, "pointers": rows})
        return 0
    if not rows:
        out(f"nothing was active at {moment} according to the journal")
    for row in rows:
        out(
            f"{row['registry_id']:<24} {row['active_ref']['run_id']:<48} since {row['since_utc']}"
            f" (#{row['seq']})"
        )
    return 0
