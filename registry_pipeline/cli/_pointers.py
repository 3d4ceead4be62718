"""`registry pointers ...`: show, history, promote, rollback, hold, release, accept, verify,
as-of."""

from __future__ import annotations

import argparse
import getpass
import re
import socket
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
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.workspace.layout import Workspace, resolve_workspace

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
    add_repair_commands(sub, _command, _common, _lock_option, _store, _actor)


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


def _store(args: argparse.Namespace) -> tuple[Workspace, Any]:
    from registry_pipeline.core.gate.gate import gated_store

    workspace = resolve_workspace(args.workspace).require()
    timeout = getattr(args, "lock_timeout", None)  # range-checked when parsed (bounded_float)
    if timeout is None:
        return workspace, gated_store(workspace)
    return workspace, gated_store(workspace, lock_timeout=timeout)


def _lock_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout", type=bounded_float(0, 86400), metavar="SECONDS",
        help="wait this long for another writer's lock before failing with LOCKED (default 10)",
    )  # fmt: skip


# -- show ------------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    from registry_pipeline.core.seal.validate import inspection_cache
    from registry_pipeline.core.workspace.catalog import load_catalog

    workspace, store = _store(args)
    pointers = store.read()
    try:
        specs = {spec.registry_id: spec for spec in load_catalog(workspace).registries}
    except UsageError as exc:
        if exc.code != "NO_CATALOG":
            raise
        specs = {}  # a workspace without a catalog: the pointers alone
    with inspection_cache(workspace.verdicts_path):  # one load and save for every target
        rows = [
            _row(workspace, store, pointers, registry_id, specs.get(registry_id))
            for registry_id in [*specs, *(i for i in pointers.pointers if i not in specs)]
        ]
    if args.json:
        json_doc({"last_updated_utc": pointers.last_updated_utc, "pointers": rows})
        return 0
    if not rows:
        out("no active pointers yet (a build promotes what passes its checks)")
    for row in rows:
        ref = row["active_ref"]
        if not row["has_pointer"]:
            out(f"{row['registry_id']:<24} (no pointer by design)")
        elif ref is None:
            out(f"{row['registry_id']:<24} (none)")
        else:
            hold = row["hold"]
            state = " ".join(
                part
                for part in (
                    str(row["target"]),
                    "" if row["journal"] == "ok" else f"[{row['journal']}]",
                    f"[held: {hold['reason']}, since {hold['since']}]" if hold else "",
                )
                if part
            )
            out(
                f"{row['registry_id']:<24} {ref['run_id']:<48} "
                f"sha256:{str(ref['manifest_sha256'])[:12]}  {row['active_asof_utc']}  {state}"
            )
    return 0


def _row(
    workspace: Workspace, store: Any, pointers: Any, registry_id: str, spec: Any
) -> dict[str, Any]:
    """One registry's line of `pointers show`: its pointer, target, journal state and hold."""
    from registry_pipeline.core.pointers.store import PointerRefused

    pointer = pointers.pointers.get(registry_id)
    ref = pointer.active_ref if pointer else None
    try:
        hold = store.held(registry_id)
    except PointerRefused:  # an unreadable journal: the journal column says so
        hold = None
    return {
        "registry_id": registry_id,
        "has_pointer": spec.active_pointer if spec else True,
        "active_ref": ref.as_json() if ref else None,
        "active_ref_known": pointer.active_ref_known if pointer else None,
        "active_asof_utc": pointer.active_asof_utc if pointer else None,
        "target": _target_state(workspace, store, registry_id, ref),
        "journal": _journal_state(store, pointers, registry_id),
        "hold": _hold_json(hold),
        "notes": pointer.notes if pointer else "",
    }


def _target_state(workspace: Workspace, store: Any, registry_id: str, ref: Any) -> str | None:
    """`ok`, or what is wrong with the folder the pointer names: `missing`, `wrong_registry`,
    `root_mismatch`, `invalid: CODES` (validated again, with the build's verdict cache)."""
    from registry_pipeline.core.pointers.store import PointerRefused, target_folder
    from registry_pipeline.core.seal.validate import inspect_run_folder

    if ref is None or ref.run_id is None:
        return None
    try:
        folder = target_folder(workspace, registry_id, ref.run_id)
    except PointerRefused as exc:
        return {"TARGET_WRONG_REGISTRY": "wrong_registry"}.get(exc.code, "missing")
    report = inspect_run_folder(folder, schemas=store.schemas)  # in run_show's verdict cache
    if not report.ok:
        return "invalid: " + ",".join(sorted({p.code.value for p in report.problems}))
    return "ok" if report.root_sha256 == ref.manifest_sha256 else "root_mismatch"


def _hold_json(hold: Any) -> dict[str, object] | None:
    if hold is None:
        return None
    return {"reason": hold.reason, "since": hold.since, "by": hold.by, "seq": hold.record.seq}


def _journal_state(store: Any, pointers: Any, registry_id: str) -> str:
    """`ok` when the journal explains the pointer, else the refusal code (POINTER_MISMATCH)."""
    from registry_pipeline.core.pointers.store import PointerRefused

    try:
        store.explained([registry_id])  # an entry deleted by hand is a mismatch too
    except PointerRefused as exc:
        return str(exc.code)
    return "ok"


# -- history ---------------------------------------------------------------------------------


def _records(store: Any) -> list[Any]:
    """Every journal record; an unreadable line is JOURNAL_CORRUPT (exit 1) naming it."""
    from registry_pipeline.core.pointers.journal import JournalFormatError, read_records
    from registry_pipeline.core.pointers.store import PointerRefused

    try:
        return list(read_records(store.journal_path))
    except JournalFormatError as exc:
        raise PointerRefused(
            f"{exc}; run `registry pointers verify`", code="JOURNAL_CORRUPT",
            path=str(store.journal_path),
        ) from None  # fmt: skip


def run_history(args: argparse.Namespace) -> int:
    workspace, store = _store(args)
    every = _records(store)
    records = [r for r in every if args.registry_id is None or r.registry_id == args.registry_id]
    if args.registry_id is not None and not records and every:
        from registry_pipeline.core.workspace.catalog import require_known

        seen = {r.registry_id for r in every} | set(store.read().pointers)
        require_known(workspace, args.registry_id, seen)
    if args.json:
        json_doc([{**record.as_json(), "sha256": record.sha256} for record in records])
        return 0
    if not records:
        out("no pointer changes journaled yet")
    for record in records:
        was = record.from_ref.run_id if record.from_ref else "(none)"
        out(
            f"#{record.seq:<5} {record.created_utc}  {record.action:<8} {record.registry_id:<22} "
            f"{was} -> {record.to_ref.run_id if record.to_ref else '(none)'}  by "
            f"{record.actor.get('kind')}:"
            f"{record.actor.get('id')}" + (f"  ({record.reason})" if record.reason else "")
        )
    return 0


# -- promote / rollback ----------------------------------------------------------------------


def _actor() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"kind": "cli_user", "id": f"{user}@{socket.gethostname()}"}


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
    """`promote` or `rollback` through the store, as the CLI user."""
    workspace, store = _store(args)
    change = getattr(store, action)(
        args.registry_id,
        args.run_id,
        relpath=_relpath(workspace, args.registry_id, args.run_id),
        reason=args.reason,
        actor=_actor(),
        expect=_expect(args.expect),
    )
    return _report_change(args, change)


def run_mark(args: argparse.Namespace) -> int:
    """`hold`, `release` or `accept` through the store, as the CLI user."""
    _workspace, store = _store(args)
    change = getattr(store, args.mark)(args.registry_id, reason=args.reason, actor=_actor())
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
    from registry_pipeline.core.pointers._lock import describe_lock, lock_state
    from registry_pipeline.core.pointers.journal_replay import Finding

    _workspace, store = _store(args)
    report = store.verify(expect)
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
                "problems": [finding.as_json() for finding in report.problems],
                "notes": [finding.as_json() for finding in report.notes],
            }
        )
    else:
        for finding in report.problems:
            err(f"error: {finding}")
        for finding in report.notes:
            err(f"note: {finding}")
        if report.ok:
            out(f"journal OK: {report.records} record(s), head {report.head or '(empty)'}")
    return 0 if report.ok else 1


# -- as-of -----------------------------------------------------------------------------------


def parse_moment(text: str) -> str:
    """An ISO UTC timestamp (or a date: the end of that UTC day) in the journal's format."""
    from registry_pipeline.cli._time import parse_moment as strict_moment

    return strict_moment(text).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_as_of(args: argparse.Namespace) -> int:
    from registry_pipeline.core.pointers.journal_replay import state_as_of

    moment = parse_moment(args.timestamp)
    _workspace, store = _store(args)
    state = state_as_of(iter(_records(store)), moment)
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
