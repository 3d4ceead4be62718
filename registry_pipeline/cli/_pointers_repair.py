"""`registry pointers check` and `registry pointers repair`: the gate on demand, and the
journaled ways out of a broken history."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from registry_pipeline.cli._output import json_doc, out
from registry_pipeline.cli._pointers_store import cli_actor, open_store

CHECK = """\
Run every blocking check of REGISTRY_ID on the snapshot RUN_ID (seal, schemas, and as its
registry has them append-only, coordination against the other registries' checked snapshots,
rules) exactly as a build does, and append its promotion receipt to
.codex/RECEIPTS/<root>.jsonl (a snapshot with any failing receipt never becomes active). Moves
no pointer; refused while `registry pointers verify` fails. A snapshot sealed by
`registry seal` needs a receipt before it can be rolled back to. Exit 0 when every check passed,
1 when one failed (the receipt says which) or the snapshot is not valid."""

REPAIR = """\
The explicit, journaled repairs of a history that `registry pointers verify` rejects; nothing
moves a pointer until then. With REGISTRY_ID: the pointer file's entry was edited by hand
(POINTER_MISMATCH); put the journal's value back and journal a `restore` record (`registry
pointers accept` is the other way: it keeps a valid edit). Without: the journal's chain is
broken (CHAIN_BROKEN, SEQ_GAP, RECORD_UNREADABLE, FROM_MISMATCH); move it, byte for byte, to
.codex/JOURNAL_QUARANTINE/ and start a new journal that adopts the pointer file as found, each
record naming the quarantined file, its SHA-256 and the problem. On a bucket (REGISTRY_STORE),
without REGISTRY_ID: entries at the end of the bucket's journal that do not verify, a lease or
folder object no release writes, are moved to quarantine/<time>/ in the bucket, and the head put
back on the last entry that verifies; a history that vanished (POINTERS_MISSING) is put back
from this machine's copy. Whatever is put back passes the gate first. Exit 0 when repaired; 1
NOTHING_TO_REPAIR, a refusal of the gate, or the journal must be restarted first; 2 without a
reason."""


def add_repair_commands(
    sub: Any, command: Callable[..., argparse.ArgumentParser], common: Callable[..., None],
    lock_option: Callable[..., None],
) -> None:  # fmt: skip
    """Add `check` and `repair` to `registry pointers`."""
    check = command(
        sub, "check", "run a snapshot's blocking checks and write its promotion receipt", CHECK,
        "registry pointers check rolepack 2026-11-21__101500__rolepack_build --json",
    )  # fmt: skip
    check.add_argument("registry_id", metavar="REGISTRY_ID", help="the registry's id")
    check.add_argument("run_id", metavar="RUN_ID", help="the snapshot (a run folder name)")
    common(check)
    check.set_defaults(run=run_check)

    repair = command(
        sub, "repair", "restore a hand-edited pointer, or restart a broken journal", REPAIR,
        'registry pointers repair expected_versions --reason "undo the hand edit"\n'
        '  registry pointers repair --reason "line 7 was deleted; evidence kept"',
    )  # fmt: skip
    repair.add_argument(
        "registry_id", nargs="?", metavar="REGISTRY_ID",
        help="restore this registry's pointer (default: restart the journal)",
    )  # fmt: skip
    repair.add_argument("--reason", required=True, help="why (required, journaled)")
    lock_option(repair)
    common(repair)
    repair.set_defaults(run=run_repair, sync=False)  # it repairs what a sync would refuse


def run_check(args: argparse.Namespace) -> int:
    """`registry pointers check`."""
    from registry_pipeline.core.gate.gate import admission, evaluate, record
    from registry_pipeline.core.gate.verdict import problem_objects
    from registry_pipeline.core.pointers.store import PointerRefused, target_folder
    from registry_pipeline.core.pointers.targets import naming_candidates
    from registry_pipeline.core.workspace.snapshots import read_snapshot

    workspace, store = open_store(args)
    store.require_intact(
        "check", admit=admission
    )  # judged against the journal's history: it must hold
    with naming_candidates(workspace, args.registry_id, args.run_id):
        folder = target_folder(workspace, args.registry_id, args.run_id)
    root = read_snapshot(folder, args.registry_id).root_sha256
    if root is None:
        raise PointerRefused(
            f"{folder.name} is not sealed (no root in MANIFEST.sha256)",
            code="TARGET_UNSEALED",
            path=str(folder),
        )
    verdicts = evaluate(workspace, args.registry_id, folder)
    receipt = record(workspace, args.registry_id, folder, root, verdicts, cli_actor())
    checks, passed = receipt.checks, receipt.passed
    if args.json:
        problems = [
            problem
            for v in verdicts
            for problem in problem_objects(v.name, v.passed, v.description, v.metadata)
        ]
        json_doc({
            "registry_id": args.registry_id, "run_id": args.run_id, "root_sha256": root,
            "passed": passed, "checks": list(checks), "problems": problems,
            "receipt": store_path(workspace, receipt), "receipt_sha256": receipt.sha256,
        })  # fmt: skip
    else:
        for check in checks:
            verdict = "PASS" if check.get("passed") else "FAIL"
            codes = ", ".join(check.get("reason_codes") or [])
            out(f"{verdict}  {check.get('name')}" + (f"  ({codes})" if codes else ""))
        out(f"receipt {store_path(workspace, receipt)} ({receipt.build.get('kind')} "
            f"{receipt.build.get('id')}, {receipt.created_utc})")  # fmt: skip
    return 0 if passed else 1


def store_path(workspace: Any, receipt: Any) -> str:
    """The receipt's workspace-relative path."""
    from registry_pipeline.core.gate.receipts import ReceiptStore

    return ReceiptStore(workspace).path_of(receipt.root_sha256)


def run_repair(args: argparse.Namespace) -> int:
    from registry_pipeline.core.gate.gate import admission

    _workspace, store = open_store(args)
    done = store.repair(args.registry_id, reason=args.reason, actor=cli_actor(), admit=admission)
    if args.json:
        json_doc({
            "repair": done.kind, "quarantined": done.quarantined, "problem": done.problem,
            "records": [{**r.as_json(), "sha256": r.sha256} for r in done.records],
            "journal_head": done.records[-1].sha256 if done.records else None,
        })  # fmt: skip
    elif done.kind == "restored":
        (restored,) = done.records
        out(f"{restored}  (journal head {restored.sha256})")
    elif done.kind == "set_aside":
        out(f"set aside in the bucket, byte for byte: {done.quarantined} ({done.problem})")
        for record in done.records:
            out(f"  {record}")
    elif done.kind == "put_back":
        out(f"the bucket's pointer history was put back ({done.problem})")
        for record in done.records:
            out(f"  last record: {record}")
    else:
        kept = (
            f"the broken one is kept at {done.quarantined}" if done.quarantined else "none was left"
        )
        out(f"journal restarted ({kept}; {done.problem})")
        for adopted in done.records:
            out(f"  {adopted}")
    return 0
