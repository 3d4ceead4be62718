"""`registry pointers ...`: its subcommands, how each opens the pointer store and names its user."""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Iterator
from typing import Any

from registry_pipeline.cli._args import (
    arg,
    bounded_float,
    command,
    declare,
    examples,
    parse_moment,
)
from registry_pipeline.cli._output import answer, err, failed
from registry_pipeline.core.errors import RegistryError, UsageError, problem_object
from registry_pipeline.core.lock import DEFAULT_TIMEOUT
from registry_pipeline.core.workspace.catalog import catalog_or_none
from registry_pipeline.core.workspace.layout import Workspace, resolve_workspace

EPILOG = """\
examples:
  registry pointers show
  registry pointers promote op_status_table 2026-11-21__101500__op_status_table_build \\
      --expect 2026-11-20__101500__op_status_table_build --reason "reviewed"
  registry pointers rollback drift_signals --to 2026-11-19__090000__drift_signals_build \\
      --reason "bad threshold pack"
  registry pointers release drift_signals --reason "pack fixed"
  registry pointers verify --expect-head "$(cat journal-head.txt)"
  registry pointers as-of 2026-11-20T18:00:00Z

exit codes: 0 done (or nothing to change), 1 refused or verification failed, 2 bad usage"""

DESCRIPTION = """\
Show, move and verify the active pointers (.codex/ACTIVE_REGISTRY_POINTERS_v0_1.json): every move
passes the publish gate and is a compare-and-swap under a lock, journaled first in a hash-chained
journal. show, history, verify and as-of only read. See docs/POINTERS.md."""

SHOW = """\
Print each registry's active snapshot (run id, root, since when), the state of the run folder it
names, validated again, the journal's verdict and any hold; the catalog's registries first.
Changes nothing. See docs/POINTERS.md#commands."""

HISTORY = """\
Print the pointer journal, oldest first, a line per record (--json: each record with its sha256);
with REGISTRY_ID, that registry's records only. See docs/POINTERS.md#the-journal."""

PROMOTE = """\
Make RUN_ID, a sealed snapshot of REGISTRY_ID newer than the active one, active: validated again
under the lock, admitted by the publish gate (its receipt, or its blocking checks run now),
journaled, then written; it ends a hold. See docs/POINTERS.md#one-change-step-by-step."""

ROLLBACK = """\
Make RUN_ID, an older valid snapshot of REGISTRY_ID with a passing promotion receipt, active
again, and hold the registry there until `registry pointers release`. See docs/POINTERS.md#holds."""

HOLD = """\
Stop automatic promotion of REGISTRY_ID (builds still build and check it), journaled; the active
snapshot does not change. See docs/POINTERS.md#holds."""

RELEASE = """\
Lift the hold that hold, a rollback or an accepted hand edit left on REGISTRY_ID, journaled:
automatic promotion resumes. See docs/POINTERS.md#holds."""

ACCEPT = """\
Record a hand edit of REGISTRY_ID's entry in the pointer file (POINTER_MISMATCH) as a journaled
decision, if the snapshot it names passes the publish gate; the registry is then held. See
docs/POINTERS.md#repairs."""

VERIFY = """\
Replay the journal from its first record (chain, sequence, the pointer file, each active
target's folder and root: `registry validate --active` hashes its files too) and print its record
count and head: keep the head, pass it later as --expect-head. Changes nothing. See
docs/POINTERS.md#the-journal."""

AS_OF = """\
Replay the journal up to TIMESTAMP and print, per registry, the snapshot active then (only the
journal is read). See docs/POINTERS.md#commands."""

CHECK = """\
Run every blocking check of REGISTRY_ID on the snapshot RUN_ID, as a build does, and append its
promotion receipt; moves no pointer. Exit 0 when the gate would admit the snapshot. See
docs/POINTERS.md#promotion-receipts-one-gate-for-every-move."""

REPAIR = """\
The journaled repairs of a history `registry pointers verify` rejects: with REGISTRY_ID, the
journal's value put back over a hand edit; with --all, over each one (the pointer file deleted,
or garbled: kept in .codex/quarantine/ first; the journal's values pass the gate, then go back,
one record each); without either, the broken journal set aside and a new one started (on a
bucket: the entries that do not verify set aside). See docs/POINTERS.md#repairs."""

REGISTRY = arg("registry_id", metavar="REGISTRY_ID", help="the registry's id")
EXPECT = arg("--expect", metavar="RUN_ID", help="refuse (CAS_CONFLICT) unless this is the active "
             "snapshot now ('none': no pointer)")  # fmt: skip
REASON = arg("--reason", required=True, help="why (required, journaled)")
LOCK = arg(
    "--lock-timeout", type=bounded_float(0, 86400), metavar="SECONDS", default=DEFAULT_TIMEOUT,
    help="wait this long for another writer's lock before failing with LOCKED (default 10)",
)  # fmt: skip


def add_pointers(commands: Any) -> None:
    parser = command(
        commands,
        "pointers",
        "the active pointers: show, promote, roll back, verify the journal",
        DESCRIPTION,
        EPILOG,
    )
    sub = parser.add_subparsers(dest="pointers_command", metavar="COMMAND", required=True)
    declare(sub, "show", "what is active now", SHOW,
            examples("registry pointers show", "registry pointers show --json"), run_show,
            json=JSON)  # fmt: skip
    declare(sub, "history", "the journal, oldest first", HISTORY,
            examples("registry pointers history", "registry pointers history run_registry --json"),
            run_history,
            arg("registry_id", nargs="?", metavar="REGISTRY_ID",
                help="only this registry's records (default: every registry)"),
            json=JSON)  # fmt: skip
    declare(sub, "promote", "make a newer valid snapshot active", PROMOTE,
            examples("registry pointers promote run_registry RUN_ID --expect OLD_RUN_ID",
                     "registry pointers promote expected_versions RUN_ID --expect none"),
            run_change, REGISTRY,
            arg("run_id", metavar="RUN_ID", help="the snapshot to make active (a run folder name)"),
            EXPECT, arg("--reason", default="", help="why (recorded in the journal)"), LOCK,
            json=JSON, action="promote")  # fmt: skip
    declare(sub, "rollback", "make an older valid snapshot active again, and hold it there",
            ROLLBACK,
            examples('registry pointers rollback drift_signals --to RUN_ID --reason "bad pack"'),
            run_change, REGISTRY,
            arg("--to", required=True, metavar="RUN_ID", dest="run_id",
                help="the older snapshot to make active again (a run folder name)"),
            REASON, EXPECT, LOCK, json=JSON, action="rollback")  # fmt: skip
    for name, helptext, description, example, reason in (
        ("hold", "stop automatic promotion of a registry (builds still build and check)", HOLD,
         'registry pointers hold run_registry --reason "freeze for the audit"',
         arg("--reason", required=True, help="why (journaled) (required)")),
        ("release", "lift a hold (from hold, rollback or accept): automatic promotion resumes",
         RELEASE, 'registry pointers release drift_signals --reason "pack fixed"',
         arg("--reason", default="", help="why (journaled)")),
        ("accept", "record a hand edit of the pointer file as a journaled decision", ACCEPT,
         'registry pointers accept expected_versions --reason "pinned by hand"',
         arg("--reason", required=True, help="why (journaled) (required)")),
    ):  # fmt: skip
        declare(sub, name, helptext, description, examples(example), run_change, REGISTRY,
                reason, LOCK, json=JSON, action=name)  # fmt: skip
    declare(sub, "verify", "replay the journal: chain, sequence, and the pointer file", VERIFY,
            examples("registry pointers verify",
                     'registry pointers verify --expect-head "$(cat journal-head.txt)"'),
            run_verify,
            arg("--expect-head", metavar="HASH",
                help="a head hash recorded earlier (64 hex digits): it must still be in the chain "
                "(catches truncation and a rewritten journal)"),
            json=JSON)  # fmt: skip
    declare(sub, "as-of", "what was active at a past moment (from the journal)", AS_OF,
            examples("registry pointers as-of 2026-11-20T18:00:00Z",
                     "registry pointers as-of 2026-11-20        (the end of that UTC day)"),
            run_as_of,
            arg("timestamp", metavar="TIMESTAMP",
                help="an ISO 8601 time with a zone, or a date (the end of that UTC day)"),
            json=JSON)  # fmt: skip
    declare(sub, "check", "run a snapshot's blocking checks and write its promotion receipt", CHECK,
            examples("registry pointers check rolepack 2026-11-21__101500__rolepack_build --json"),
            run_check, REGISTRY,
            arg("run_id", metavar="RUN_ID", help="the snapshot (a run folder name)"),
            json=JSON)  # fmt: skip
    declare(sub, "repair", "restore a hand-edited pointer, or restart a broken journal", REPAIR,
            examples('registry pointers repair expected_versions --reason "undo the hand edit"',
                     'registry pointers repair --all --reason "the pointer file was deleted"',
                     'registry pointers repair --reason "line 7 was deleted; evidence kept"'),
            run_repair,
            arg("registry_id", nargs="?", metavar="REGISTRY_ID",
                help="restore this registry's pointer (default: restart the journal)"),
            arg("--all", action="store_true", dest="every",
                help="restore every pointer the journal does not explain (POINTER_MISMATCH), "
                "the pointer file deleted or garbled (POINTERS_INVALID: it is kept aside)"),
            REASON, LOCK, json=JSON, sync=False)  # fmt: skip  # sync: it repairs what it refuses


JSON = "print JSON"


# -- promote, rollback, hold, release, accept -------------------------------------------------


def _relpath(
    workspace: Workspace, registry_id: str, run_id: str, *, pointed: bool = True
) -> str | None:
    """The artifact the pointer names; NO_POINTER without an active one (None if not `pointed`)."""
    from registry_pipeline.core.pointers.store import PointerRefused, pointer_relpath, target_folder
    from registry_pipeline.core.workspace.snapshots import read_snapshot

    catalog = catalog_or_none(workspace)
    if catalog is None:
        folder = target_folder(workspace, registry_id, run_id)  # refuses unsafe names first
        payload = list(read_snapshot(folder, registry_id).payload())
        return payload[0] if len(payload) == 1 else None
    spec = catalog.get(registry_id)
    if not spec.active_pointer and not pointed:
        return None
    if not spec.active_pointer:
        why = f" (a {spec.kind} registry; catalog: active_pointer false)"
        raise PointerRefused.of("NO_POINTER", registry_id=registry_id, why=why)
    return pointer_relpath(spec.kind, spec.artifacts)


def run_change(args: argparse.Namespace) -> int:
    """Promote, rollback, hold, release or accept as the CLI user; an absent run id is refused."""
    from registry_pipeline.core.gate.gate import admission
    from registry_pipeline.core.pointers.store import ANY
    from registry_pipeline.core.pointers.targets import naming_candidates

    workspace, store = open_store(args)
    change, who = getattr(store, args.action), {"actor": cli_actor(), "admit": admission}
    if "run_id" not in args:  # hold, release, accept: the registry alone
        with _nothing_means_unknown(workspace, store, args.registry_id):
            done = change(args.registry_id, reason=args.reason, **who)
        if done.record is None:  # nothing changed: for an id nobody knows, a typo
            _require_known(workspace, store, args.registry_id)
    else:
        expect = args.expect  # `none`: no pointer; not given: any
        expect = ANY if expect is None else None if expect.lower() == "none" else expect
        with naming_candidates(workspace, args.registry_id, args.run_id):
            relpath = _relpath(workspace, args.registry_id, args.run_id)
            done = change(args.registry_id, args.run_id, relpath=relpath, reason=args.reason,
                          expect=expect, **who)  # fmt: skip
    record, registry_id = done.record, done.registry_id
    document = {"registry_id": registry_id, "changed": done.changed,
                "record": record_json(record) if record else None,
                "journal_head": record.sha256 if record else None}  # fmt: skip
    if record is None:
        what = done.note or f"{getattr(args, 'run_id', '')} is already active"
        return answer(args.json, document, [f"{registry_id}: {what}; nothing changed"])
    held = f"{registry_id} is held: builds will not promote it until `registry pointers release "
    lines = [f"{record}  (journal head {record.sha256})"]
    return answer(
        args.json, document, lines + [f"{held}{registry_id}`"] * (record.action == "rollback")
    )


NOTHING_TO_DO = ("NO_POINTER", "NOTHING_TO_ACCEPT", "NOTHING_TO_REPAIR")
"""The answers a registry id nobody knows would get: a typo is UNKNOWN_REGISTRY instead."""


def _require_known(workspace: Workspace, store: Any, registry_id: str) -> None:
    from registry_pipeline.core.workspace.catalog import require_known

    seen = {r.registry_id for r in records(store)} | set(store.read().pointers)
    require_known(workspace, registry_id, seen)


@contextlib.contextmanager
def _nothing_means_unknown(
    workspace: Workspace, store: Any, registry_id: str | None
) -> Iterator[None]:
    """A nothing-to-do refusal for an id nothing knows becomes UNKNOWN_REGISTRY (a typo, exit 2)."""
    try:
        yield
    except RegistryError as refused:
        if registry_id is not None and refused.code in NOTHING_TO_DO:
            _require_known(workspace, store, registry_id)
        raise


# -- verify ----------------------------------------------------------------------------------


def run_verify(args: argparse.Namespace) -> int:
    expect = args.expect_head
    if expect is not None and not re.fullmatch(r"[0-9a-f]{64}", expect):
        raise UsageError.of("BAD_HEAD")
    from registry_pipeline.core.gate.gate import admission
    from registry_pipeline.core.lock import describe_lock, lock_state
    from registry_pipeline.core.pointers.journal import finding as journal_finding
    from registry_pipeline.core.pointers.journal import problem_json, problem_text

    _workspace, store = open_store(args)
    report = store.verify(expect, admit=admission)
    if lock_state(store.lock_path) == "held":  # a lock cannot go stale: it dies with its holder
        holder = describe_lock(store.lock_path)
        report.notes.append(journal_finding("LOCK_HELD", lock=store.lock_path, holder=holder))
    document = {"ok": report.ok, "records": report.records, "head": report.head,
                "expect_head_seq": report.expect_head_seq}  # fmt: skip
    # the file a finding is about: the pointer file, the lock, or (but a TARGET_* finding,
    # whose message names its run folder) the journal
    about = {"POINTER_MISMATCH": store.pointers_path, "NOT_JOURNALED": store.pointers_path,
             "LOCK_HELD": store.lock_path}  # fmt: skip
    for key, label, findings in (("problems", "error", report.problems),
                                 ("notes", "note", report.notes)):  # fmt: skip
        document[key] = [
            problem_json(f, None if f.code.startswith("TARGET_") else
                         str(about.get(f.code, store.journal_path)))
            for f in findings
        ]  # fmt: skip
        for finding in () if args.json else findings:
            err(f"{label}: {problem_text(finding)}")
    held = f"journal OK: {report.records} record(s), head {report.head or '(empty)'}"
    verdict = held if report.ok else failed("journal", [f.code for f in report.problems])
    return answer(args.json, document, [verdict], 0 if report.ok else 1)


# -- as-of -----------------------------------------------------------------------------------


def run_as_of(args: argparse.Namespace) -> int:
    from registry_pipeline.core.pointers.journal import state_as_of
    from registry_pipeline.core.pointers.pointer_file import ref_json

    moment = parse_moment(args.timestamp).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the journal's
    _workspace, store = open_store(args)
    state = state_as_of(iter(records(store)), moment)
    rows: list[dict[str, Any]] = [
        {"registry_id": registry_id, "active_ref": ref_json(record.to_ref),
         "since_utc": record.created_utc, "seq": record.seq}
        for registry_id, record in sorted(state.items())
        if record.to_ref is not None  # an aborted first promotion: no pointer then
    ]  # fmt: skip
    lines = [f"{row['registry_id']:<24} {row['active_ref']['run_id']!s:<48} since "
             f"{row['since_utc']} (#{row['seq']})" for row in rows]  # fmt: skip
    nothing = f"nothing was active at {moment} according to the journal"
    return answer(args.json, {"as_of": moment, "pointers": rows}, lines or [nothing])


# -- show -------------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    from registry_pipeline.core.seal.validate import inspection_cache

    workspace, store = open_store(args)
    pointers = store.read()
    catalog = catalog_or_none(workspace)  # a workspace without one: the pointers alone
    specs = {spec.registry_id: spec for spec in catalog.registries} if catalog else {}
    with inspection_cache(workspace.root):  # one load and save for every target
        rows = [
            _row(workspace, store, pointers, registry_id, specs.get(registry_id))
            for registry_id in [*specs, *(i for i in pointers.pointers if i not in specs)]
        ]
    document = {"last_updated_utc": pointers.last_updated_utc, "pointers": rows}
    nothing = "no active pointers yet (a build promotes what passes its checks)"
    return answer(args.json, document, [_show_line(row) for row in rows] or [nothing])


def _show_line(row: dict[str, Any]) -> str:
    """One registry's line of `pointers show`: its snapshot, and what is wrong with it."""
    ref, name = row["active_ref"], f"{row['registry_id']:<24}"
    if not row["has_pointer"]:
        return f"{name} (no pointer by design)"
    hold, journal = row["hold"], row["journal"]
    if ref is None:  # an entry deleted by hand: the journal column says so
        return f"{name} (none)" + ("" if journal == "ok" else f"  [{journal}]")
    held = f"[held: {hold['reason']}, since {hold['since']}]" if hold else ""
    parts = (str(row["target"]), "" if journal == "ok" else f"[{journal}]", held)
    state = " ".join(part for part in parts if part)
    root = str(ref["manifest_sha256"])[:12]
    return f"{name} {ref['run_id']!s:<48} sha256:{root}  {row['active_asof_utc']}  {state}"


def _row(
    workspace: Workspace, store: Any, pointers: Any, registry_id: str, spec: Any
) -> dict[str, Any]:
    """One registry's line of `pointers show`: its pointer, target, journal state and hold."""
    from registry_pipeline.core.pointers.pointer_file import ref_json
    from registry_pipeline.core.pointers.store import PointerRefused
    from registry_pipeline.core.pointers.targets import INVALID, target_verdict

    pointer = pointers.pointers.get(registry_id)
    ref = pointer.active_ref if pointer else None
    try:
        hold = store.held(registry_id)
    except PointerRefused:  # an unreadable journal: the journal column says so
        hold = None
    target, problems = None, []  # the label of the folder the pointer names (`target_verdict`)
    if ref is not None:
        verdict = target_verdict(workspace, registry_id, ref, store.schemas)  # show's cache
        target = verdict.label
        if not verdict.ok and verdict.code is not None:
            why = "`registry validate --active` lists why; " if verdict.state == INVALID else ""
            problems.append(problem_object(
                verdict.code, f"{verdict.message}; {why}{_WAY_OUT}", path=verdict.path,
                registry_id=registry_id, reason_codes=list(verdict.reason_codes) or None,
                expected=verdict.expected, found=verdict.found,
            ))  # fmt: skip
    journal = "ok"  # the journal explains the pointer, else the refusal code (POINTER_MISMATCH)
    try:
        store.explained([registry_id])  # an entry deleted by hand is a mismatch too
    except PointerRefused as exc:
        journal, path = exc.code, exc.path or str(store.pointers_path)
        problems.append(problem_object(exc.code, exc.message, path=path, registry_id=registry_id))
    record = hold.record if hold is not None else None
    held = None if record is None else {"reason": record.reason, "since": record.created_utc,
                                        "by": record.by, "seq": record.seq}  # fmt: skip
    return {
        "registry_id": registry_id,
        "has_pointer": spec.active_pointer if spec else True,
        "active_ref": ref_json(ref) if ref else None,
        "active_ref_known": pointer.active_ref_known if pointer else None,
        "active_asof_utc": pointer.active_asof_utc if pointer else None,
        "target": target,
        "journal": journal,
        "hold": held,
        "notes": pointer.notes if pointer else "",
        "problems": problems,
    }


_WAY_OUT = "promote or roll back to a snapshot that validates"


# -- history ---------------------------------------------------------------------------------


def record_json(record: Any) -> dict[str, Any]:
    """A journal record as `--json` prints it: its line's fields and its sha256."""
    return {**record.as_json(), "sha256": record.sha256}


def records(store: Any) -> list[Any]:
    """Every journal record; an unreadable line is JOURNAL_CORRUPT (exit 1) naming it."""
    from registry_pipeline.core.pointers.journal import (
        JournalFormatError,
        corrupt_journal,
        read_records,
    )

    try:
        return list(read_records(store.journal_path))
    except JournalFormatError as exc:
        raise corrupt_journal(store.journal_path, exc) from None


def run_history(args: argparse.Namespace) -> int:
    workspace, store = open_store(args)
    every = records(store)
    shown = [r for r in every if args.registry_id is None or r.registry_id == args.registry_id]
    if args.registry_id is not None and not shown and every:
        _require_known(workspace, store, args.registry_id)
    if args.json:  # a long journal: each side formats only what it prints
        return answer(True, [record_json(record) for record in shown])
    return answer(
        False, None, map(_history_line, shown) if shown else ["no pointer changes journaled yet"]
    )


def _history_line(record: Any) -> str:
    from registry_pipeline.core.pointers.pointer_file import run_id_text

    was, now = run_id_text(record.from_ref), run_id_text(record.to_ref)
    why = f"  ({record.reason})" if record.reason else ""
    return (f"#{record.seq:<5} {record.created_utc}  {record.action:<8} "
            f"{record.registry_id:<22} {was} -> {now}  by {record.by}{why}")  # fmt: skip


# -- check, repair ---------------------------------------------------------------------------


def run_check(args: argparse.Namespace) -> int:
    from registry_pipeline.core.gate.gate import admission, evaluate, record, refused_by_gate
    from registry_pipeline.core.gate.receipts import ReceiptStore
    from registry_pipeline.core.gate.verdict import problem_objects
    from registry_pipeline.core.pointers.store import PointerRefused, target_folder
    from registry_pipeline.core.pointers.targets import naming_candidates, refuse_unpromotable
    from registry_pipeline.core.workspace.snapshots import read_snapshot

    workspace, store = open_store(args)
    store.require_intact(admit=admission)  # judged against the journal: it must hold
    with naming_candidates(workspace, args.registry_id, args.run_id):
        folder = target_folder(workspace, args.registry_id, args.run_id)
    snapshot = read_snapshot(folder, args.registry_id)
    relpath = _relpath(workspace, args.registry_id, args.run_id, pointed=False)
    refuse_unpromotable(folder, snapshot.created_utc, relpath)  # never a passing receipt
    root = snapshot.root_sha256
    if root is None:
        why = "no root in MANIFEST.sha256"
        raise PointerRefused.of("TARGET_UNSEALED", path=folder, run_id=folder.name, reason=why)
    verdicts = evaluate(workspace, args.registry_id, folder)
    receipt = record(workspace, args.registry_id, folder, root, verdicts, cli_actor())
    checks, passed = receipt.checks, receipt.passed
    path = ReceiptStore(workspace).path_of(receipt.root_sha256)  # workspace-relative
    problems = [
        problem
        for v in verdicts
        for problem in problem_objects(v.name, v.passed, v.description, v.metadata)
    ]
    refusal = refused_by_gate(workspace, args.registry_id, folder, root) if passed else None
    document = {
        "registry_id": args.registry_id, "run_id": args.run_id, "root_sha256": root,
        "passed": passed, "admissible": passed and refusal is None, "checks": list(checks),
        "problems": problems, "receipt": path, "receipt_sha256": receipt.sha256,
    }  # fmt: skip
    lines = []
    for check in checks:
        verdict = "PASS" if check.get("passed") else "FAIL"
        codes = ", ".join(check.get("reason_codes") or [])
        lines.append(f"{verdict}  {check.get('name')}" + (f"  ({codes})" if codes else ""))
    build = f"{receipt.build.get('kind')} {receipt.build.get('id')}, {receipt.created_utc}"
    lines.append(f"receipt {path} ({build})")
    if refusal is not None:  # the checks pass now; promote would still refuse it
        err(refusal.diagnostics())
    return answer(args.json, document, lines, 0 if document["admissible"] else 1)


def run_repair(args: argparse.Namespace) -> int:
    from registry_pipeline.core.gate.gate import admission
    from registry_pipeline.core.pointers.repair import repair

    if args.every and args.registry_id is not None:
        raise UsageError.of("BAD_USAGE", reason="give REGISTRY_ID or --all, not both",
                            field="--all")  # fmt: skip
    workspace, store = open_store(args)
    with _nothing_means_unknown(workspace, store, args.registry_id):
        done = repair(store, args.registry_id, reason=args.reason, actor=cli_actor(),
                      admit=admission, every=args.every)  # fmt: skip
    completed = done.completed
    last = done.records[-1] if done.records else completed
    document = {
        "repair": done.kind, "quarantined": done.quarantined, "problem": done.problem,
        "records": [record_json(r) for r in done.records],
        "completed": [record_json(r) for r in completed.members()] if completed else None,
        "journal_head": last.sha256 if last else None,
    }  # fmt: skip
    problem, quarantined = done.problem, done.quarantined
    kept = f"the broken one is kept at {quarantined}" if quarantined else "none was left"
    head, each = {  # the first line, and what each record's line starts with
        "restored": (None, ""),
        "set_aside": (f"set aside in the bucket, byte for byte: {quarantined} ({problem})", "  "),
        "put_back": (f"the bucket's pointer history was put back ({problem})", "  last record: "),
    }.get(done.kind, (f"journal restarted ({kept}; {problem})", "  "))
    lines = [f"{each}{r}" + (f"  (journal head {r.sha256})" if head is None else "")
             for r in done.records]  # fmt: skip
    if completed is not None:  # the journal's last line, which the pointer file did not show
        lines.insert(0, f"completed {completed}  (the journal's last line, missing from the "
                        f"file; journal head {completed.sha256})")  # fmt: skip
    if head is None and quarantined:  # --all over a pointer file no reader accepts
        lines.insert(0, f"the unreadable pointer file is kept at {quarantined} ({problem})")
    return answer(args.json, document, lines if head is None else [head, *lines])


# -- the store and the user ------------------------------------------------------------------


def open_store(args: argparse.Namespace) -> tuple[Workspace, Any]:
    from registry_pipeline.core.pointers.store import PointerStore

    workspace = resolve_workspace(args.workspace).require()
    timeout = getattr(args, "lock_timeout", DEFAULT_TIMEOUT)  # range-checked when parsed
    return workspace, PointerStore(workspace, lock_timeout=timeout)


def cli_actor() -> dict[str, str]:
    """A command's actor for the journal and receipts: $REGISTRY_ACTOR, else user@host."""
    from registry_pipeline.core.write_path.logs import actor

    return {"kind": "cli_user", "id": actor()}
