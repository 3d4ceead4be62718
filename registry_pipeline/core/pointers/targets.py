"""Where a pointer may point: a run folder checked before it becomes active, and its verdict."""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError, UsageError, render
from registry_pipeline.core.objstore.folders import folder_key
from registry_pipeline.core.pointers.journal import JournalRecord
from registry_pipeline.core.pointers.pointer_file import (
    Pointer,
    PointerFile,
    PointerRefused,
)
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.folder_report import FolderReport
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.catalog import catalog_or_none
from registry_pipeline.core.workspace.gitcheck import ignore_rules
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.remote import RUNS_PREFIX, remote_for
from registry_pipeline.core.workspace.snapshots import (
    FUTURE_DATED,
    Snapshot,
    future_dated,
    list_snapshots,
    read_snapshot,
    sealed_name,
    snapshot_registry,
)
from registry_pipeline.core.workspace.sources import is_pattern


def _fetch_published(workspace: Workspace, run_id: str) -> None:
    """Fetch a folder another machine published to the workspace's bucket since the last sync."""
    remote = remote_for(workspace)
    if remote is None:
        return
    workspace.require_writable(workspace.runs_dir)
    try:
        remote.fetch_folder(run_id, workspace.runs_dir)
    except RegistryError as exc:
        if exc.code != "FOLDER_NOT_FOUND":  # not published: TARGET_MISSING, as on a disk
            raise


def publish_target(workspace: Workspace, folder: Path) -> None:
    """On a bucket, publish a folder sealed only on this machine before any pointer names it."""
    remote = remote_for(workspace)
    if remote is None or remote.store.get(folder_key(RUNS_PREFIX, folder.name)) is not None:
        return
    remote.publish_folder(folder, folder.name)  # False: published meanwhile, the same id


def target_folder(workspace: Workspace, registry_id: str, run_id: str) -> Path:
    """The run folder `run_id` of `registry_id` directly under RUNS/ (name checked first)."""
    bad_name = not run_id or run_id.startswith(".") or "/" in run_id or "\\" in run_id  # ".", ".."
    if bad_name or relpath_problem(run_id) is not None:  # NUL, control characters, not UTF-8 or NFC
        raise PointerRefused.of("TARGET_NOT_IN_RUNS", path=run_id, run_id=run_id, runs=RUNS_RELPATH)
    folder = workspace.runs_dir / run_id
    if not folder.exists() and not folder.is_symlink():
        _fetch_published(workspace, run_id)
    if folder.is_symlink() or not folder.is_dir():
        raise PointerRefused.of(
            "TARGET_MISSING", path=folder, reason=f"no run folder {run_id} in {RUNS_RELPATH}/"
        )
    owner = snapshot_registry(folder)
    if owner != registry_id:
        raise PointerRefused.of(
            "TARGET_WRONG_REGISTRY",
            path=folder,
            run_id=run_id,
            owner=owner or "no known registry",
            registry_id=registry_id,
        )
    return folder


CANDIDATES = 5
"""How many of a registry's snapshots an unknown run id's refusal names."""


@contextmanager
def naming_candidates(workspace: Workspace, registry_id: str, run_id: str) -> Iterator[None]:
    """A TARGET_MISSING refusal of `run_id` also names the registry's nearest snapshots."""
    try:
        yield
    except PointerRefused as refused:
        if refused.code != "TARGET_MISSING" or Path(refused.path or "").name != run_id:
            raise
        known = [snapshot.run_id for snapshot in list_snapshots(workspace, registry_id)]
        close = difflib.get_close_matches(run_id, known, n=CANDIDATES, cutoff=0.6)
        if close:
            said = f"the nearest snapshots of {registry_id}: {', '.join(close)}"
        elif known:
            newest = ", ".join(reversed(known[-CANDIDATES:]))
            said = f"no snapshot of {registry_id} has a close name; its newest: {newest}"
        else:
            said = f"{registry_id} has no snapshot in {RUNS_RELPATH}/"
        raise PointerRefused.from_error(refused, f"{refused.message}; {said}") from None


def refuse_unpromotable(folder: Path, created_utc: object, relpath: str | None) -> str | None:
    """Promote's refusals beside seal and gate (FUTURE_DATED, TARGET_INVALID); the artifact name."""
    future = future_dated(folder.name, created_utc)
    if future is not None:
        raise PointerRefused.of(
            "FUTURE_DATED", path=folder, reason=f"{folder.name} is dated in the future ({future})"
        )
    if relpath is not None:
        relpath = sealed_name(folder, relpath)  # a seed seal-promotion folder renames it
    try:
        mode = None if relpath is None else os.lstat(folder / relpath).st_mode
    except OSError:
        mode = 0
    if mode is not None and (mode == 0 or stat.S_ISDIR(mode)):  # a FIFO or link: the seal's say
        there = " (a folder stands there)" if mode else ""
        raise PointerRefused.of(
            "TARGET_INVALID", path=folder, run_id=folder.name, reason=f"has no {relpath}{there}"
        )
    return relpath


def validated_target(
    schemas: SchemaCatalog, registry_id: str, folder: Path, relpath: str | None
) -> tuple[SealedRef, dict[str, Any]]:
    try:
        report = inspect_run_folder(folder, schemas=schemas)
    except UsageError as exc:
        raise PointerRefused.of(
            "TARGET_INVALID", path=folder, run_id=folder.name, reason=exc.message
        ) from None
    if not report.ok:
        codes = sorted({str(problem.code) for problem in report.problems})
        unsealed = "MISSING_REQUIRED_FILE" in codes
        raise PointerRefused.of(
            "TARGET_UNSEALED" if unsealed else "TARGET_INVALID",
            path=folder,
            run_id=folder.name,
            reason=f"it does not validate ({', '.join(codes)}): "
            + "; ".join(str(p) for p in report.problems[:3]),
        )
    relpath = refuse_unpromotable(folder, report.created_utc, relpath)
    ref = SealedRef(registry_id, folder.name, report.root_sha256 or "", RUNS_RELPATH, relpath)
    passed = {"passed": True, "source": "pointer store (under the lock)"}
    return ref, {"seal_valid": passed, "schema_valid": dict(passed)}


def check_direction(
    workspace: Workspace, action: str, registry_id: str, current: SealedRef | None, folder: Path
) -> None:
    """NOT_NEWER or NOT_OLDER by the one order of snapshots (`Snapshot.order`: generation first,
    never the clock alone); FUTURE_DATED for a promotion away from an active dated in the future."""
    if current is None or not current.run_id:
        if action == "rollback":
            raise PointerRefused.of(
                "NOT_OLDER",
                run_id=folder.name,
                active="snapshot",
                stands=f"{registry_id} has none to roll back from",
            )
        return
    active = workspace.runs_dir / current.run_id
    now = read_snapshot(active, registry_id) if active.is_dir() else None
    target = read_snapshot(folder, registry_id) if folder.is_dir() else None
    if now is None:
        return
    if action == "promote" and (dated := future_dated(now.run_id, now.created_utc)):
        raise PointerRefused.of(
            FUTURE_DATED,
            path=active,
            reason=f"the active {now.run_id} of {registry_id} is dated in the future ({dated}) "
            f"(or move back explicitly: registry pointers rollback {registry_id} ...)",
        )
    key, active_key = target.order() if target else (0, "", folder.name), now.order()
    wrong_way = key <= active_key if action == "promote" else key >= active_key
    if wrong_way:
        raise PointerRefused.of(
            "NOT_NEWER" if action == "promote" else "NOT_OLDER",
            path=folder,
            run_id=folder.name,
            active=current.run_id,
            registry_id=registry_id,
            stands=f"{_stands(target)}, the active {_stands(now)}",
        )


def inputs_not_active(
    workspace: Workspace, current: Mapping[str, str | None], moves: Mapping[str, str]
) -> dict[str, PointerRefused]:
    """INPUT_NOT_ACTIVE for each of `moves` (registry -> run id) whose snapshot was built from an
    input that would not be active once the rest stand (`current`: registry -> active run id),
    until what is left stands together: a derived snapshot follows its inputs, never ahead."""
    catalog = catalog_or_none(workspace)
    pointered = set(current) if catalog is None else {
        spec.registry_id for spec in catalog.registries if spec.active_pointer
    }  # fmt: skip
    built_from = {
        rid: _inputs_of(workspace, rid, run_id, pointered) for rid, run_id in moves.items()
    }
    kept = dict(moves)
    refused: dict[str, PointerRefused] = {}
    while True:
        after: dict[str, str | None] = {**current, **kept}
        dropped = {
            rid: _not_followed(workspace, rid, kept[rid], source, run_id, after.get(source))
            for rid in kept
            for source, run_id in built_from[rid]
            if after.get(source) != run_id
        }
        if not dropped:
            return refused
        refused.update(dropped)
        kept = {rid: run_id for rid, run_id in kept.items() if rid not in dropped}


def _inputs_of(
    workspace: Workspace, registry_id: str, run_id: str, pointered: set[str]
) -> list[tuple[str, str]]:
    """(registry, run id) of each input the run.json of `run_id` names that has a pointer to
    follow: of this workspace's run root (a seed's other root is not ours to judge)."""
    inputs = read_snapshot(workspace.runs_dir / run_id, registry_id).envelope().get("inputs")
    return [
        (ref["registry_id"], str(ref.get("run_id")))
        for ref in (inputs if isinstance(inputs, list) else ())
        if isinstance(ref, dict)
        and (ref.get("run_root") or RUNS_RELPATH) == RUNS_RELPATH
        and ref.get("registry_id") in pointered - {registry_id}
    ]


def _not_followed(
    workspace: Workspace, registry_id: str, run_id: str, source: str, built: str,
    active: str | None,
) -> PointerRefused:  # fmt: skip
    return PointerRefused.of(
        "INPUT_NOT_ACTIVE",
        path=workspace.runs_dir / run_id,
        run_id=run_id,
        source=source,
        built=built,
        active=f"would be {active}" if active else "is none",
    )


def _stands(snapshot: Snapshot | None) -> str:
    """Where a snapshot stands, for a refusal: its generation, else its date."""
    if snapshot is None:
        return "no run.json"
    if snapshot.generation:
        return f"generation {snapshot.generation}"
    return f"no generation, sealed {snapshot.second or 'at no known time'}"


def found_target(
    workspace: Workspace, schemas: SchemaCatalog, registry_id: str, ref: SealedRef
) -> tuple[str, str]:
    """`valid`, `invalid` or `absent` for an adopted entry's target, and why when not valid."""
    verdict = target_verdict(workspace, registry_id, ref, schemas)
    if verdict.state == MISSING and verdict.code == "TARGET_MISSING":
        run_root = ref.run_root or RUNS_RELPATH
        probe = f"{run_root}/{ref.run_id}/manifest.json"
        rule = ignore_rules(workspace.root, [probe]).get(probe)
        ignored = f" (git ignores it: {rule})" if rule else ""
        return "absent", f"its folder {run_root}/{ref.run_id} is not here{ignored}"
    if verdict.state == INVALID and verdict.report is not None:
        return "invalid", f"{ref.run_id} does not validate"
    if verdict.state == ROOT_MISMATCH:
        return "invalid", f"{ref.run_id} has root {verdict.found}"
    return ("valid", "") if verdict.ok else ("invalid", verdict.message)


OK, NO_RUN_ID, MISSING, WRONG_REGISTRY, INVALID, ROOT_MISMATCH = (
    "ok", "no_run_id", "missing", "wrong_registry", "invalid", "root_mismatch"
)  # fmt: skip


@dataclass(frozen=True)
class TargetVerdict:
    """Whether a registry's active snapshot is valid and the one its pointer names."""

    state: str
    """`ok`, `no_run_id`, `missing`, `wrong_registry`, `invalid` or `root_mismatch`."""
    code: str | None = None
    """Why not ok: a TARGET_* code, or the inspection's own (UNREADABLE)."""
    message: str = ""
    folder: Path | None = None
    path: str | None = None
    """What a problem is about: the run folder (found or not), or the name refused."""
    report: FolderReport | None = None
    reason_codes: tuple[str, ...] = ()
    """Why `invalid`: the inspection's codes, FUTURE_DATED."""
    expected: str | None = None
    """`root_mismatch`: the root the pointer records (`found`: the folder's)."""
    found: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == OK

    @property
    def label(self) -> str:
        """The state as one word (`invalid: CODES` for an invalid folder)."""
        return f"{INVALID}: {','.join(self.reason_codes)}" if self.state == INVALID else self.state


def target_verdict(
    workspace: Workspace,
    registry_id: str,
    ref: SealedRef,
    schemas: SchemaCatalog | None,
    *,
    fast: bool = False,
    now: datetime | None = None,
) -> TargetVerdict:
    """The verdict on the run folder `ref` names (`fast`: structure, sizes only); never raises."""
    if not ref.run_id:
        root = f"a root, sha256:{ref.root[:12]}" if ref.root else "no root"
        return TargetVerdict(NO_RUN_ID, "TARGET_NOT_IN_RUNS", (
            f"the pointer names no run folder: its run_id is null (the seed recorded {root}, "
            "and no folder), so nothing here can be checked against it"))  # fmt: skip
    try:
        folder = target_folder(workspace, registry_id, ref.run_id)
    except PointerRefused as exc:
        state = WRONG_REGISTRY if exc.code == "TARGET_WRONG_REGISTRY" else MISSING
        return TargetVerdict(state, exc.code, exc.message, path=exc.path)
    here = TargetVerdict(OK, folder=folder, path=str(folder))
    try:
        report = inspect_run_folder(folder, fast=fast, schemas=schemas)
    except UsageError as exc:
        return replace(here, state=INVALID, code=exc.code, message=exc.message,
                       reason_codes=(exc.code,))  # fmt: skip
    dated = future_dated(folder.name, report.created_utc, now)
    changed = report.root_sha256 != ref.root  # another snapshot's seal: TARGET_CHANGED too
    if not report.ok or dated:
        codes = sorted({str(p.code) for p in report.problems}.union(
            [FUTURE_DATED] * bool(dated), ["TARGET_CHANGED"] * changed))  # fmt: skip
        said = render(
            "TARGET_INVALID",
            run_id=folder.name,
            reason=f"the active snapshot fails validation ({', '.join(codes)})",
        )
        expected, found = (ref.root, report.root_sha256) if changed else (None, None)
        return replace(here, state=INVALID, code="TARGET_INVALID", report=report, message=said,
                       reason_codes=tuple(codes), expected=expected, found=found)  # fmt: skip
    if changed:
        said = render(
            "TARGET_CHANGED", run_id=folder.name, root=report.root_sha256, recorded=ref.root
        )
        return replace(here, state=ROOT_MISMATCH, code="TARGET_CHANGED", report=report,
                       message=said, expected=ref.root, found=report.root_sha256)  # fmt: skip
    return replace(here, report=report)


def apply_record(pointers: PointerFile, record: JournalRecord) -> PointerFile:
    """The pointer file after `record`'s line: each registry it moves (all of a set entry)."""
    for moved in record.members():
        pointers = apply_move(pointers, moved)
    return pointers


def apply_move(pointers: PointerFile, record: JournalRecord) -> PointerFile:
    """The pointer file with `record`'s registry at its `to_ref` (that registry's move alone)."""
    assert record.to_ref is not None, "only moves are applied"
    note = f"{record.action} by {record.by}" + (f": {record.reason}" if record.reason else "")
    pointer = Pointer(record.registry_id, record.to_ref, True, record.created_utc, note)
    return pointers.with_pointer(pointer, record.created_utc)


def pointer_relpath(kind: str, artifacts: tuple[str, ...]) -> str | None:
    """The artifact a pointer names: the primary one; None for a collection, glob or multi-file."""
    several = len(artifacts) > 1 or any(map(is_pattern, artifacts))
    if kind == "collection" or (kind == "source" and several):
        return None
    return artifacts[0] if artifacts else None
