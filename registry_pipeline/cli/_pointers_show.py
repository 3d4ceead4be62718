"""`registry pointers show` and `registry pointers history`: read only."""

from __future__ import annotations

import argparse
from typing import Any

from registry_pipeline.cli._output import json_doc, out
from registry_pipeline.cli._pointers_store import open_store
from registry_pipeline.core.errors import UsageError, problem_object
from registry_pipeline.core.workspace.layout import Workspace


def run_show(args: argparse.Namespace) -> int:
    from registry_pipeline.core.seal.validate import inspection_cache
    from registry_pipeline.core.workspace.catalog import load_catalog

    workspace, store = open_store(args)
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
    target, problems = _target_state(workspace, store, registry_id, ref)
    journal, journal_problem = _journal_state(store, registry_id)
    return {
        "registry_id": registry_id,
        "has_pointer": spec.active_pointer if spec else True,
        "active_ref": ref.as_json() if ref else None,
        "active_ref_known": pointer.active_ref_known if pointer else None,
        "active_asof_utc": pointer.active_asof_utc if pointer else None,
        "target": target,
        "journal": journal,
        "hold": _hold_json(hold),
        "notes": pointer.notes if pointer else "",
        "problems": [*problems, *journal_problem],
    }


def _target_state(
    workspace: Workspace, store: Any, registry_id: str, ref: Any
) -> tuple[str | None, list[dict[str, object]]]:
    """`ok`, or what is wrong with the folder the pointer names: `missing`, `wrong_registry`,
    `root_mismatch`, `invalid: CODES` (validated again, with the build's verdict cache); and
    that as a problem object."""
    from registry_pipeline.core.pointers.store import PointerRefused, target_folder
    from registry_pipeline.core.seal.validate import inspect_run_folder

    if ref is None or ref.run_id is None:
        return None, []
    try:
        folder = target_folder(workspace, registry_id, ref.run_id)
    except PointerRefused as exc:
        state = {"TARGET_WRONG_REGISTRY": "wrong_registry"}.get(exc.code, "missing")
        message = f"{exc.message}; {_WAY_OUT}"
        problem = problem_object(exc.code, message, path=exc.path, registry_id=registry_id)
        return state, [problem]
    report = inspect_run_folder(folder, schemas=store.schemas)  # in run_show's verdict cache
    if not report.ok:
        codes = sorted({p.code.value for p in report.problems})
        message = (
            f"the active snapshot fails validation ({', '.join(codes)}): `registry validate "
            f"--active` lists why; {_WAY_OUT}"
        )
        where = str(folder)
        problem = problem_object(
            "TARGET_INVALID", message, path=where, registry_id=registry_id, reason_codes=codes
        )
        return "invalid: " + ",".join(codes), [problem]
    if report.root_sha256 == ref.manifest_sha256:
        return "ok", []
    message = f"the active snapshot's root is not the one its pointer records; {_WAY_OUT}"
    problem = problem_object(
        "TARGET_CHANGED",
        message,
        path=str(folder),
        registry_id=registry_id,
        expected=ref.manifest_sha256,
        found=report.root_sha256,
    )
    return "root_mismatch", [problem]


_WAY_OUT = "promote or roll back to a snapshot that validates"


def _hold_json(hold: Any) -> dict[str, object] | None:
    if hold is None:
        return None
    return {"reason": hold.reason, "since": hold.since, "by": hold.by, "seq": hold.record.seq}


def _journal_state(store: Any, registry_id: str) -> tuple[str, list[dict[str, object]]]:
    """`ok` when the journal explains the pointer, else the refusal code (POINTER_MISMATCH),
    and the refusal as a problem object."""
    from registry_pipeline.core.pointers.store import PointerRefused

    try:
        store.explained([registry_id])  # an entry deleted by hand is a mismatch too
    except PointerRefused as exc:
        path = exc.path or str(store.pointers_path)
        return exc.code, [problem_object(exc.code, exc.message, path=path, registry_id=registry_id)]
    return "ok", []


# -- history ---------------------------------------------------------------------------------


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
        from registry_pipeline.core.workspace.catalog import require_known

        seen = {r.registry_id for r in every} | set(store.read().pointers)
        require_known(workspace, args.registry_id, seen)
    if args.json:
        json_doc([{**record.as_json(), "sha256": record.sha256} for record in shown])
        return 0
    if not shown:
        out("no pointer changes journaled yet")
    for record in shown:
        was = record.from_ref.run_id if record.from_ref else "(none)"
        out(
            f"#{record.seq:<5} {record.created_utc}  {record.action:<8} {record.registry_id:<22} "
            f"{was} -> {record.to_ref.run_id if record.to_ref else '(none)'}  by "
            f"{record.actor.get('kind')}:"
            f"{record.actor.get('id')}" + (f"  ({record.reason})" if record.reason else "")
        )
    return 0
