"""The pointer store: each change a CAS under a lock, journaled first (docs/POINTERS.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import Problem, RegistryError, UsageError, io_error
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.fs import require_safe_all, write_atomic
from registry_pipeline.core.lock import DEFAULT_TIMEOUT, exclusive_lock
from registry_pipeline.core.pointers.bucket import BucketJournal, SetAside, journal_for, retried
from registry_pipeline.core.pointers.journal import (
    CHAIN_CODES,
    HOLDING,
    MOVES,
    EntryMove,
    FileJournal,
    JournalRecord,
    VerifyReport,
    difference,
    finding,
    identity,
    interrupted,
    iter_lines,
    journal_gone,
    kept_journals,
    last_effective_record_of,
    last_record,
    last_record_of,
    pointer_mismatch,
    problem_text,
    replay,
)
from registry_pipeline.core.pointers.pointer_file import (
    POINTERS_NAME,
    PointerFile,
    PointerRefused,
    read_pointer_file,
    ref_text,
)
from registry_pipeline.core.pointers.targets import (
    apply_record,
    check_direction,
    found_target,
    inputs_not_active,
    publish_target,
    target_folder,
    validated_target,
)
from registry_pipeline.core.pointers.targets import pointer_relpath as pointer_relpath
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import pointer_file_path
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import (
    FUTURE_DATED,
    future_dated,
    read_snapshot,
)

__all__ = ["ANY", "MAX_REASON", "Admit", "Change", "Hold", "Move", "MoveOutcome", "PointerRefused",
           "PointerStore", "pointer_relpath", "target_folder"]  # fmt: skip

TARGET_CODES = frozenset(
    {"TARGET_MISSING", "TARGET_CHANGED", "TARGET_WRONG_REGISTRY", "TARGET_NOT_IN_RUNS",
     "FUTURE_DATED"}
)  # fmt: skip
GATE_CODES = frozenset({"CHECK_FAILED", "RECEIPT_INVALID"})
"""The gate's refusal of an active snapshot it never admitted (adopted while absent)."""
MAX_REASON = 4000
"""Characters of a change's reason (a journal record stays one short line)."""
ANY = object()
"""`expect=ANY`: take whatever is current (still serialized by the lock, never lost)."""
Admit = Callable[[Workspace, str, Path, SealedRef, str, dict[str, str]], dict[str, Any]]
"""The gate's admission of a target for an action and actor: its receipt's journal entry."""


@dataclass(frozen=True)
class Hold:
    """A registry whose automatic promotion is stopped: who, when, why (its journal record)."""

    registry_id: str
    record: JournalRecord

    @property
    def reason(self) -> str:
        return self.record.reason

    def __str__(self) -> str:
        return f"held: {self.reason}, since {self.record.created_utc}"


@dataclass(frozen=True)
class Change:
    """What a call did: the journal record, or None when the target was already active."""

    registry_id: str
    record: JournalRecord | None
    current: SealedRef | None
    note: str = ""
    """For a no-op: why (e.g. "already held")."""

    @property
    def changed(self) -> bool:
        return self.record is not None


@dataclass(frozen=True)
class Move:
    """One registry's snapshot a build asks `promote_set` to make active."""

    registry_id: str
    run_id: str
    relpath: str | None
    """The artifact the pointer names (`pointer_relpath`)."""
    checks: Mapping[str, Any] = field(default_factory=dict)
    """The build's check results, journaled with the move."""


@dataclass(frozen=True)
class MoveOutcome:
    """What `promote_set` did with one move: its change, or why it stayed out of the set."""

    registry_id: str
    run_id: str
    change: Change | None
    """The move journaled (its set's record), or `record` None: already active; None: refused."""
    refusal: PointerRefused | None = None
    """Why it was refused (HELD, NOT_NEWER, CHECK_FAILED, POINTER_MISMATCH, ...), or None."""


class PointerStore:
    """The pointer file and its journal in a workspace's `.codex/`: reads, and every change."""

    def __init__(
        self,
        workspace: Workspace,
        schemas: SchemaCatalog | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.workspace = workspace
        self.schemas = schemas or SchemaCatalog.for_workspace(workspace.root)
        self.lock_timeout = lock_timeout
        codex = workspace.root / ".codex"
        self.pointers_path = pointer_file_path(workspace)  # the catalog says where (adoption)
        self.journal_path = codex / JOURNAL_NAME
        self.lock_path = codex / (POINTERS_NAME + ".lock")
        self.journal: FileJournal | BucketJournal = FileJournal(self.journal_path, workspace.root)
        """The journal's backend, chosen again by each change (`locked`): a bucket's, or this."""
        self._chain_held: str | None = None
        """The journal identity whose chain `explained` found whole (not replayed again)."""
        self._journaled: tuple[str, ...] = ()
        """The registries that journal records (`explained`'s, with the pointer file's)."""

    # -- reading -------------------------------------------------------------------------------

    def read(self) -> PointerFile:
        """The pointer file as it is now (no lock: it is replaced atomically)."""
        return read_pointer_file(self.pointers_path, self.schemas)

    def explained(self, registry_ids: Iterable[str] | None = None) -> PointerFile:
        """The pointer file; POINTER_MISMATCH unless the journal explains `registry_ids` (None:
        every registry of the pointer file and of the journal, as `verify` judges them: an
        entry deleted from the file by hand is one)."""
        pointers = self.read()
        key = identity(self.journal_path)
        if gone := self._journal_gone(pointers):
            raise PointerRefused.of(
                "JOURNAL_MISSING", path=self.journal_path, found=gone, journal=JOURNAL_NAME
            )
        if key is not None and key != self._chain_held:
            report = replay(self.workspace.root, self.journal_path, pointers, None, True)
            broken = next((p for p in report.problems if p.code in CHAIN_CODES), None)
            if broken is not None:
                raise PointerRefused(
                    f"the pointer journal's history does not hold: {problem_text(broken)}; "
                    "`registry pointers verify` lists every problem, `registry pointers repair "
                    "--reason TEXT` sets the journal aside as evidence",
                    code=broken.code,
                    path=str(self.journal_path),
                )
            self._chain_held, self._journaled = key, tuple(report.last_records)
        every = dict.fromkeys([*pointers.pointers, *self._journaled])
        for registry_id in list(every if registry_ids is None else registry_ids):
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                raise mismatch
        return pointers

    def _journal_gone(self, pointers: PointerFile) -> str | None:
        """JOURNAL_MISSING's evidence (`journal_gone`), or None."""
        return journal_gone(self.workspace.root, self.journal_path, bool(pointers.pointers))

    def recorded(self, registry_id: str) -> SealedRef | None:
        """The registry's active snapshot as the journal records it (never a hand edit)."""
        if not self.journal_path.exists():
            return self.read().active(registry_id)
        record = last_record_of(self.journal_path, registry_id)  # JOURNAL_CORRUPT if unreadable
        return record.to_ref if record is not None else None

    def held(self, registry_id: str) -> Hold | None:
        """The hold on `registry_id` (last effective record a rollback, accept or hold), or None."""
        record = last_effective_record_of(self.journal_path, registry_id, passing=("restore",))
        if record is None or record.action not in HOLDING:  # a restore decides nothing of it
            return None
        return Hold(registry_id, record)

    # -- verifying -----------------------------------------------------------------------------

    def verify(self, expect_head: str | None = None, *, admit: Admit | None = None) -> VerifyReport:
        """`registry pointers verify`: the journal's replay and every active target."""
        return self.verified(self.read(), expect_head, admit=admit)

    def verified(
        self,
        pointers: PointerFile,
        expect_head: str | None = None,
        *,
        checkpoint: bool = False,
        admit: Admit | None = None,
    ) -> VerifyReport:
        """The journal's replay, every active target checked (TARGET_MISSING, TARGET_CHANGED)."""
        report = replay(self.workspace.root, self.journal_path, pointers, expect_head, checkpoint)
        if expect_head is not None and report.expect_head_seq is None:
            _name_kept_head(self.workspace.root, report, expect_head)
        if gone := self._journal_gone(pointers):
            report.problems.append(finding("JOURNAL_MISSING", found=gone, journal=JOURNAL_NAME))
        edited = {
            p.extra.get("registry_id") for p in report.problems if p.code == "POINTER_MISMATCH"
        }
        for registry_id in pointers.pointers:
            ref = pointers.active(registry_id)
            if ref is None or not ref.run_id or registry_id in edited:
                continue  # a hand-edited entry: POINTER_MISMATCH says it, and its repair
            if (ref.run_root or RUNS_RELPATH) != RUNS_RELPATH:
                continue  # a seed pointer into another run root: `adopt` recorded what it found
            last = report.last_records.get(registry_id)
            adopted_absent = (
                last is not None
                and last.action == "adopt"
                and (last.checks.get("as_found") or {}).get("target") == "absent"
            )
            problem = _target_problem(self.workspace, registry_id, ref.run_id, ref.root)
            if problem is None:
                if adopted_absent:
                    report.returned.append(registry_id)
                continue
            if adopted_absent or (last is None and not report.records):
                report.notes.append(
                    finding("TARGET_NOT_HERE", problem.message, registry_id=registry_id)
                )
            else:
                report.problems.append(problem)
        for registry_id in report.returned if admit is not None else ():
            ref = pointers.active(registry_id)
            assert ref is not None and ref.run_id  # returned: a folder it names
            folder = self.workspace.runs_dir / ref.run_id
            try:
                self.admit(admit, registry_id, folder, ref, "restore", {"kind": "verify"})
            except PointerRefused as exc:
                message = (
                    f"{registry_id}: {exc.message} (it was adopted as found while its folder was "
                    f"absent, and is back); move it away: `registry pointers rollback "
                    f"{registry_id} --to RUN_ID --reason TEXT`, or promote a snapshot that passes"
                )
                report.problems.append(finding(exc.code, message, registry_id=registry_id))
        return report

    def require_intact(self, *, admit: Admit | None = None, registry_id: str | None = None) -> None:
        """Refuse a change while `verify` fails, but for `registry_id`'s hand edit, lost targets."""
        refusal = self._not_intact(self.verified(self.read(), checkpoint=True, admit=admit),
                                   registry_id)  # fmt: skip
        if refusal is not None:
            raise refusal

    def _not_intact(
        self, report: VerifyReport, registry_id: str | None, *, as_found: bool = False
    ) -> PointerRefused | None:
        """`require_intact`'s refusal of a change of `registry_id` on `report`, or None;
        `as_found` (an `accept`, which journals the file as it is): another registry's hand
        edit does not refuse it (its own accept or repair is its way out)."""
        for problem in report.problems:
            if problem.code in TARGET_CODES or problem.code == "HEAD_NOT_FOUND":
                continue
            if as_found and problem.code == "POINTER_MISMATCH":
                continue  # this registry's: `accept` judges it; another's: not this change's
            repair = (
                "; `registry pointers repair --reason TEXT` sets the broken journal aside as "
                "evidence and starts a new one from the pointer file, as a journaled act"
            )
            if problem.code in ("POINTER_MISMATCH", *GATE_CODES):
                if problem.extra.get("registry_id") == registry_id:
                    continue
                repair = ""
            return PointerRefused(
                f"no pointer moves while `registry pointers verify` fails: {problem_text(problem)}"
                + repair,
                code=problem.code,
                path=str(self.journal_path),
            )
        return None

    # -- changes -------------------------------------------------------------------------------

    @retried
    def promote(
        self,
        registry_id: str,
        run_id: str,
        *,
        relpath: str | None,
        reason: str,
        actor: dict[str, str],
        admit: Admit | None = None,
        checks: dict[str, Any] | None = None,
        expect: str | object | None = ANY,
        automatic: bool = False,
    ) -> Change:
        """Make `run_id` active: it must validate, be newer and pass the gate; HELD if automatic."""
        self.require_change(reason)
        return self._change(
            "promote", registry_id, run_id, relpath, reason, actor, admit, checks, expect,
            automatic,
        )  # fmt: skip

    @retried
    def rollback(
        self,
        registry_id: str,
        run_id: str,
        *,
        relpath: str | None,
        reason: str,
        actor: dict[str, str],
        admit: Admit | None = None,
        expect: str | object | None = ANY,
    ) -> Change:
        """Make an older valid snapshot active again (an explicit, journaled move back)."""
        self.require_change(reason, "a rollback")
        return self._change(
            "rollback", registry_id, run_id, relpath, reason, actor, admit, None, expect, False
        )

    @retried
    def promote_set(
        self,
        moves: Sequence[Move],
        *,
        reason: str,
        actor: dict[str, str],
        admit: Admit | None = None,
    ) -> list[MoveOutcome]:
        """Promote a build's snapshots in one change: each move judged as an automatic `promote`
        is, those admitted journaled in one line (a set entry), the pointer file replaced once."""
        self.require_change(reason)
        ids = [move.registry_id for move in moves]
        if len(set(ids)) != len(ids):
            twice = sorted({registry_id for registry_id in ids if ids.count(registry_id) > 1})
            raise UsageError.of("DUPLICATE_MOVE", twice=", ".join(twice))
        refused: dict[str, PointerRefused] = {}
        folders: dict[str, Path] = {}
        for move in moves:
            try:
                folders[move.registry_id] = target_folder(self.workspace, move.registry_id,
                                                          move.run_id)  # fmt: skip
            except PointerRefused as exc:
                refused[move.registry_id] = exc
        candidates = [move for move in moves if move.registry_id in folders]
        changes = self._promote_set_locked(candidates, folders, reason, actor, admit, refused)
        return [MoveOutcome(move.registry_id, move.run_id, changes.get(move.registry_id),
                            refused.get(move.registry_id)) for move in moves]  # fmt: skip

    def _promote_set_locked(
        self, moves: Sequence[Move], folders: Mapping[str, Path], reason: str,
        actor: dict[str, str], admit: Admit | None, refused: dict[str, PointerRefused],
    ) -> dict[str, Change]:  # fmt: skip
        """`promote_set` under the lock: the changes by registry; each refusal put in `refused`."""
        changes: dict[str, Change] = {}
        if not moves:
            return changes  # every move refused before the lock: nothing to wait for
        with self.locked(admit=admit):
            crash_point("pointer_locked")
            pointers, stopped = self._ready([move.registry_id for move in moves], admit)
            refused.update(stopped)
            if pointers is None:
                return changes
            admitted: list[EntryMove] = []
            for move in (move for move in moves if move.registry_id not in refused):
                registry_id = move.registry_id
                try:
                    moved = self._judged(pointers, "promote", move, folders[registry_id], actor,
                                         admit, ANY, True)  # fmt: skip
                except PointerRefused as exc:
                    refused[registry_id] = exc
                    continue
                if moved is None:
                    changes[registry_id] = Change(registry_id, None, pointers.active(registry_id))
                else:
                    admitted.append(moved)
            admitted = self._following_inputs(pointers, admitted, refused)
            if admitted:
                crash_point("set_judged")  # the receipts written, nothing journaled
                record = self._commit(pointers, admitted, "promote", reason, actor)
                changes.update((r.registry_id, Change(r.registry_id, r, r.from_ref))
                               for r in record.members())  # fmt: skip
        return changes

    def _following_inputs(
        self, pointers: PointerFile, admitted: Sequence[EntryMove],
        refused: dict[str, PointerRefused],
    ) -> list[EntryMove]:  # fmt: skip
        """`admitted` less each move whose inputs would not be active (`inputs_not_active`)."""
        current = {rid: ref.run_id for rid in pointers.pointers
                   if (ref := pointers.active(rid)) is not None}  # fmt: skip
        moves = {m.registry_id: m.to_ref.run_id for m in admitted if m.to_ref and m.to_ref.run_id}
        refused.update(dropped := inputs_not_active(self.workspace, current, moves))
        return [move for move in admitted if move.registry_id not in dropped]

    @retried
    def hold(self, registry_id: str, *, reason: str, actor: dict[str, str],
             admit: Admit | None = None) -> Change:  # fmt: skip
        """Stop automatic promotion of `registry_id` (builds still build and check)."""
        return self._mark("hold", registry_id, reason, actor, admit)

    @retried
    def release(self, registry_id: str, *, reason: str, actor: dict[str, str],
                admit: Admit | None = None) -> Change:  # fmt: skip
        """Lift the hold on `registry_id`: automatic promotion resumes."""
        return self._mark("release", registry_id, reason, actor, admit)

    @retried
    def accept(self, registry_id: str, *, reason: str, actor: dict[str, str],
               admit: Admit | None = None) -> Change:  # fmt: skip
        """Journal a hand edit of `registry_id`'s pointer as a decision, once its target passes."""
        self.require_change(reason, "accepting a hand edit")
        with self._changing(registry_id, "accept", admit, explained=False) as pointers:
            if self._mismatch(pointers, registry_id) is None:  # unreadable: JOURNAL_CORRUPT raised
                raise PointerRefused.of(
                    "NOTHING_TO_ACCEPT", path=self.pointers_path, registry_id=registry_id
                )
            found = pointers.active(registry_id)
            if found is None or not found.run_id:
                raise PointerRefused.of(
                    "TARGET_MISSING",
                    path=self.pointers_path,
                    reason=(
                        f"the pointer file has no active snapshot for {registry_id}; restore its "
                        f"entry (the journal says {ref_text(self.recorded(registry_id))})"
                    ),
                )
            try:
                folder = target_folder(self.workspace, registry_id, found.run_id)
                target, verdict = validated_target(self.schemas, registry_id, folder, found.relpath)
                if target != found:
                    raise PointerRefused.of(
                        "TARGET_INVALID",
                        path=folder,
                        run_id=folder.name,
                        reason=difference(found, target, "the run folder"),
                    )
            except PointerRefused as exc:
                raise PointerRefused.from_error(
                    exc,
                    f"{exc.message}: an edit that names no valid snapshot cannot be accepted; "
                    f"`registry pointers repair {registry_id} --reason TEXT` restores the "
                    "journal's value",
                ) from None
            publish_target(self.workspace, folder)
            receipt = self.admit(admit, registry_id, folder, target, "accept", actor)
            record, _ = self.append(
                registry_id, self.recorded(registry_id), found, "accept", reason, actor,
                {**verdict, "receipt": receipt},
            )  # fmt: skip
            return Change(registry_id, record, found)

    @contextmanager
    def _changing(
        self, registry_id: str, action: str, admit: Admit | None, *, explained: bool = True
    ) -> Iterator[PointerFile]:
        """The pointer file under the lock, chain verified and any interrupted change completed."""
        with self.locked(admit=admit):
            if action in MOVES:
                crash_point("pointer_locked")
            pointers, refused = self._ready([registry_id], admit, explained=explained)
            if registry_id in refused or pointers is None:
                raise refused[registry_id]
            yield pointers

    def _ready(
        self, registry_ids: Sequence[str], admit: Admit | None, *, explained: bool = True
    ) -> tuple[PointerFile | None, dict[str, PointerRefused]]:
        """Under the lock: the pointer file, any interrupted change completed, and the refusals
        of the registries that may not change (`verify` fails for them, or the journal does not
        explain their pointer); no file, nothing completed, when none may."""
        report = self.verified(self.read(), checkpoint=True, admit=admit)  # before any redo
        refused = {registry_id: refusal for registry_id in registry_ids
                   if (refusal := self._not_intact(report, registry_id, as_found=not explained))
                   is not None}  # fmt: skip
        if len(refused) == len(set(registry_ids)):
            return None, refused
        pointers = self.redo(admit)
        for registry_id in registry_ids if explained else ():
            mismatch = None if registry_id in refused else self._mismatch(pointers, registry_id)
            if mismatch is not None:
                refused[registry_id] = mismatch
        return pointers, refused

    def require_change(self, reason: str, needed: str | None = None) -> None:
        """What every journaled change asks before anything else: its reason (REASON_REQUIRED
        when blank and `needed` names what needs one; REASON_TOO_LONG), a workspace, safe paths."""
        if needed is not None and not reason.strip():
            raise UsageError.of("REASON_REQUIRED", what=needed)
        if len(reason) > MAX_REASON:
            raise UsageError.of("REASON_TOO_LONG", length=len(reason), most=MAX_REASON)
        self.workspace.require()
        self.require_safe_paths()

    def _change(
        self, action: str, registry_id: str, run_id: str, relpath: str | None, reason: str,
        actor: dict[str, str], admit: Admit | None, checks: dict[str, Any] | None,
        expect: str | object | None, automatic: bool,
    ) -> Change:  # fmt: skip
        """`promote` or `rollback` (see the module's protocol), once `require_change` passed."""
        move = Move(registry_id, run_id, relpath, checks or {})
        folder = target_folder(self.workspace, registry_id, run_id)
        with self._changing(registry_id, action, admit) as pointers:
            moved = self._judged(pointers, action, move, folder, actor, admit, expect, automatic)
            if moved is None:
                return Change(registry_id, None, pointers.active(registry_id))
            refused: dict[str, PointerRefused] = {}
            if action == "promote" and not self._following_inputs(pointers, [moved], refused):
                raise refused[registry_id]
            record = self._commit(pointers, [moved], action, reason, actor)
            return Change(registry_id, record, moved.from_ref)

    def _judged(
        self, pointers: PointerFile, action: str, move: Move, folder: Path,
        actor: dict[str, str], admit: Admit | None, expect: str | object | None, automatic: bool,
    ) -> EntryMove | None:  # fmt: skip
        """One move's rules under the lock (CAS, the target, its direction, a hold, the gate):
        the move to journal, or None when its target is active already; else PointerRefused."""
        registry_id = move.registry_id
        current = pointers.active(registry_id)
        if expect is not ANY and (current.run_id or None if current else None) != expect:
            raise PointerRefused.of(
                "CAS_CONFLICT",
                registry_id=registry_id,
                expected=expect or "(none)",
                found=current.run_id if current else "(none)",
            )
        target, verdict = validated_target(self.schemas, registry_id, folder, move.relpath)
        if current == target:
            return None
        check_direction(self.workspace, action, registry_id, current, folder)
        held = self.held(registry_id) if automatic else None
        if held is not None:
            why = held.record
            raise PointerRefused.of(
                "HELD",
                held=held,
                seq=why.seq,
                action=why.action,
                by=why.by,
                registry_id=registry_id,
            )
        publish_target(self.workspace, folder)
        receipt = self.admit(admit, registry_id, folder, target, action, actor)
        return EntryMove(registry_id, current, target,
                         {**verdict, **move.checks, "receipt": receipt})  # fmt: skip

    def _commit(
        self, pointers: PointerFile, moves: Sequence[EntryMove], action: str, reason: str,
        actor: dict[str, str],
    ) -> JournalRecord:  # fmt: skip
        """Journal `moves` in one line, then replace the pointer file once; IO_ERROR, the line
        marked aborted, when the file cannot be written."""
        record, offset = self.append_moves(moves, action, reason, actor)
        crash_point("journal_appended")
        try:
            self.write_pointers(apply_record(pointers, record))
        except OSError as exc:
            shown = self.read()
            if all(shown.active(r.registry_id) == r.to_ref for r in record.members()):
                return record  # renamed; only a sync failed
            self._abort(record, offset, exc)  # not applied: it never will be
            names = ", ".join(r.registry_id for r in record.members())
            failed = io_error(exc, self.pointers_path, done=f"the change was not applied and "
                              f"journal #{record.seq} is marked aborted")  # fmt: skip
            said = f"{names}: cannot write the pointer file: {failed.message}"
            raise PointerRefused.from_error(failed, said) from None
        return record

    def _mark(
        self, action: str, registry_id: str, reason: str, actor: dict[str, str],
        admit: Admit | None,
    ) -> Change:  # fmt: skip
        self.require_change(reason, "a hold" if action == "hold" else None)
        with self._changing(registry_id, action, admit) as pointers:
            held, current = self.held(registry_id), pointers.active(registry_id)
            if (action == "hold") == (held is not None):
                return Change(registry_id, None, current, str(held) if held else "not held")
            if current is None:
                raise PointerRefused.of("NO_POINTER", registry_id=registry_id, why=" to hold")
            record, _ = self.append(registry_id, current, current, action, reason, actor, {})
            return Change(registry_id, record, current)

    def _mismatch(self, pointers: PointerFile, registry_id: str) -> PointerRefused | None:
        """POINTER_MISMATCH (`pointer_mismatch`) from the journal's last records; reads only."""
        # JOURNAL_CORRUPT when a line is unreadable: no caller goes on past it
        record = last_record_of(self.journal_path, registry_id)
        last = last_record(self.journal_path)
        problem = pointer_mismatch(registry_id, pointers, record, last)
        if problem is None:
            return None
        return PointerRefused(problem.message, code=problem.code, path=str(self.pointers_path))

    # -- the lock, the bucket and the gate -----------------------------------------------------

    @contextmanager
    def locked(self, *, writes: bool = True, admit: Admit | None = None) -> Iterator[None]:
        """The pointer lock for one change of the journal's backend (`writes=False`: read-only)."""
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            self.journal = journal_for(self.workspace, self.journal_path, self.pointers_path)
            with self.journal.change(
                lambda record, action: self.check_mirrored(record, action, admit),
                lambda: self.redo(admit),
                writes=writes,
            ):
                yield

    @property
    def set_aside(self) -> SetAside | None:
        """Local records a bucket did not have, kept aside by the last sync."""
        return self.journal.set_aside

    def pull(self, *, admit: Admit | None = None) -> None:
        """Make the journal and pointer file equal to the bucket's, if any (writing nothing)."""
        self.require_safe_paths()
        with self.locked(writes=False, admit=admit):
            pass

    def check_mirrored(self, record: JournalRecord, action: str, admit: Admit | None) -> None:
        """Refuse another writer's `record` unless the gate admits its target now for `action`."""
        if record.action not in (*MOVES, "accept") or record.to_ref is None:
            return
        run_id = record.to_ref.run_id or ""
        try:
            folder = target_folder(self.workspace, record.registry_id, run_id)
        except PointerRefused as exc:
            if action == "redo" or exc.code != "TARGET_MISSING":
                raise
            folder = self.workspace.runs_dir / run_id  # lost since: `verify` reports it
        self.admit(admit, record.registry_id, folder, record.to_ref, action, dict(record.actor))

    def admit(
        self,
        admit: Admit | None,
        registry_id: str,
        folder: Path,
        target: SealedRef,
        action: str,
        actor: dict[str, str],
    ) -> dict[str, Any]:
        """The gate's journal entry for moving `registry_id` to `target`, or PointerRefused."""
        if admit is None:
            raise PointerRefused.of("NO_GATE")
        try:
            return admit(self.workspace, registry_id, folder, target, action, actor)
        except RegistryError as exc:
            raise PointerRefused.from_error(exc) from None
        except OSError as exc:
            failed = io_error(exc, folder, done="nothing was changed")
            message = f"{registry_id}: cannot write the promotion receipt of {folder.name}: "
            raise PointerRefused.from_error(failed, message + failed.message) from None

    def require_safe_paths(self) -> None:
        """UNSAFE_PATH before any write through a symlink or outside the workspace."""
        require_safe_all(self.workspace.root, [self.journal_path, self.pointers_path,
                                               self.lock_path])  # fmt: skip

    # -- the journal's and the pointer file's writes (the caller holds the lock) ---------------

    def append(
        self,
        registry_id: str,
        from_ref: SealedRef | None,
        to_ref: SealedRef | None,
        action: str,
        reason: str,
        actor: dict[str, str],
        checks: dict[str, Any],
    ) -> tuple[JournalRecord, int]:
        """Append one record (the first after the adoption records); it and the size before."""
        moved = EntryMove(registry_id, from_ref, to_ref, checks)
        return self.append_moves([moved], action, reason, actor)

    def append_moves(
        self, moves: Sequence[EntryMove], action: str, reason: str, actor: dict[str, str]
    ) -> tuple[JournalRecord, int]:
        """Append one line of `moves` (a set entry for several), as `append`; it and the size."""
        previous = self.journal.last()
        if previous is None:
            adopted = self.adopt_as_found()
            previous = adopted[-1] if adopted else None
        record = self._record(previous, moves, action, reason, actor)
        return record, self.journal.append(record)

    def adopt_as_found(
        self,
        *,
        actor: dict[str, str] | None = None,
        note: str = "",
        extra: dict[str, Any] | None = None,
    ) -> list[JournalRecord]:
        """Before the first record: one `adopt` record per pointer as found, so all is explained."""
        pointers = self.read()
        if pointers.source is None:  # no pointer file
            return []
        where = self.pointers_path.relative_to(self.workspace.root).as_posix()
        digest = sha256_bytes(pointers.source.encode("utf-8"))
        written: list[JournalRecord] = []
        previous: JournalRecord | None = None
        for registry_id in pointers.pointers:
            ref = pointers.active(registry_id)
            if ref is None:
                continue
            target, why = found_target(self.workspace, self.schemas, registry_id, ref)
            reason = f"taken as found in {where}" + (f"; {why}" if why else "")
            reason += f"; {note}" if note else ""
            as_found = {"passed": True, "source": where, "pointer_file_sha256": digest,
                        "target": target}  # fmt: skip
            checks = {"as_found": as_found, **(extra or {})}
            previous = self._record(
                previous, [EntryMove(registry_id, None, ref, checks)], "adopt",
                reason[:MAX_REASON], actor or {"kind": "registry_adopt", "id": where},
            )  # fmt: skip
            self.journal.append(previous)
            written.append(previous)
        return written

    @staticmethod
    def _record(
        previous: JournalRecord | None, moves: Sequence[EntryMove], action: str, reason: str,
        actor: dict[str, str],
    ) -> JournalRecord:  # fmt: skip
        return JournalRecord.of(
            previous.seq + 1 if previous else 1, moves, action, reason, actor,
            now_utc().strftime("%Y-%m-%dT%H:%M:%S.%fZ"), previous.sha256 if previous else None,
        )  # fmt: skip

    def _abort(self, failed: JournalRecord, offset: int, error: OSError) -> None:
        """Journal that `failed` (all of its line) was not applied, else cut the journal back to
        `offset`."""
        undone = [EntryMove(r.registry_id, r.to_ref, r.from_ref, {}) for r in failed.members()]
        why = f"journal #{failed.seq} was not applied: {error.strerror or error}"
        try:
            self.append_moves(undone, "abort", why, dict(failed.actor))
        except OSError:
            jsonl.take_back(self.journal_path, offset)

    def redo(self, admit: Admit | None) -> PointerFile:
        """The pointer file, an interrupted last line applied (killed writers' temps removed)."""
        for leftover in self.pointers_path.parent.glob(f".{self.pointers_path.name}.*.tmp"):
            leftover.unlink(missing_ok=True)
        pointers, record = self.read(), self.journal.last()
        if record is None or not interrupted(pointers, record):
            return pointers  # nothing to redo, or a hand edit: verify reports it
        for moved in record.members():  # every move of a set entry: the whole set, or none
            self.check_mirrored(moved, "redo", admit)
        updated = apply_record(pointers, record)
        self.write_pointers(updated)
        return updated

    def write_pointers(self, pointers: PointerFile) -> None:
        """Replace the pointer file atomically (the caller holds the lock)."""
        written = functools.partial(crash_point, "pointer_temp_written")
        write_atomic(self.pointers_path, pointers.render(), written=written)
        crash_point("pointer_renamed")


def _name_kept_head(root: Path, report: VerifyReport, head: str) -> None:
    """HEAD_NOT_FOUND names the quarantined journal that holds the head, if one does."""
    for kept in kept_journals(root, JOURNAL_NAME):
        for number, line in iter_lines(kept):
            if sha256_bytes(line) == head:
                where = f"{kept.relative_to(root).as_posix()} line {number}"
                for index, problem in enumerate(report.problems):
                    if problem.code == "HEAD_NOT_FOUND":
                        message = f"{problem.message}; it is in the journal set aside at {where}"
                        report.problems[index] = replace(problem, message=message)
                return


def _target_problem(
    workspace: Workspace, registry_id: str, run_id: str, recorded: str | None
) -> Problem | None:
    try:  # the name is checked before any filesystem call: never a folder outside RUNS/
        folder = target_folder(workspace, registry_id, run_id)
    except PointerRefused as exc:
        if exc.code == "TARGET_MISSING":
            return finding("TARGET_MISSING", registry_id=registry_id, reason=f"the active snapshot "
                           f"{run_id} is gone ({exc.message}); promote or roll back to a snapshot "
                           "that is here")  # fmt: skip
        return finding(exc.code, f"{registry_id}: {exc.message}", registry_id=registry_id)
    snapshot = read_snapshot(folder, registry_id)
    root = snapshot.root_sha256
    dated = future_dated(folder.name, snapshot.created_utc)
    if dated is not None:  # the verdict `pointers show`, `validate --active` and a build give
        return finding(FUTURE_DATED, registry_id=registry_id, reason=f"the active snapshot "
                       f"{folder.name} is dated in the future ({dated}); no pointer of it moves "
                       "forward until then")  # fmt: skip
    if root != recorded:
        return finding(
            "TARGET_CHANGED",
            registry_id=registry_id,
            run_id=folder.name,
            root=root or "(none)",
            recorded=recorded,
        )
    return None
