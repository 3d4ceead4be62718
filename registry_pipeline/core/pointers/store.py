"""The pointer store: every change is a compare-and-swap under a lock, journaled before it shows.

Protocol of one change (`promote` or `rollback`), all under the lock
`ACTIVE_REGISTRY_POINTERS_v0_1.json.lock` (an flock that dies with its holder, see `_lock`):

1. complete an interrupted change (a journaled record the pointer file does not show yet);
2. read the pointer file and compare the registry's current ref with the caller's expectation;
3. validate the target run folder again (seal and schemas) and the direction of the move;
4. append the journal record and fsync it;
5. write the new pointer file to a temp file, fsync, rename it over the old one, fsync the folder.

Readers never lock: they see the old file or the new one, never a mix. A crash between 4 and 5
leaves a journaled record that step 1 of the next change applies (a redo log). A change whose
step 5 fails (a full disk, an immutable file) is reported as failed and journaled as aborted
right away, so it is never applied later.

The journal explains the pointer file: `explained()` refuses (POINTER_MISMATCH) to hand out a
pointer that the journal does not account for (a hand edit), until `accept` records that edit
as a decision. A rollback or `hold` stops automatic promotion of a registry until `release`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.pointers._lock import exclusive_lock
from registry_pipeline.core.pointers._refused import PointerRefused as PointerRefused
from registry_pipeline.core.pointers._writer import ANY as ANY
from registry_pipeline.core.pointers._writer import MAX_REASON as MAX_REASON
from registry_pipeline.core.pointers._writer import Gate as Gate
from registry_pipeline.core.pointers._writer import JournalWriter, corrupt_journal
from registry_pipeline.core.pointers.changes import Change as Change
from registry_pipeline.core.pointers.changes import Hold as Hold
from registry_pipeline.core.pointers.integrity import require_intact, verify_workspace
from registry_pipeline.core.pointers.journal import (
    HOLDING,
    JournalFormatError,
    JournalRecord,
    last_effective_record_of,
    last_record,
    last_record_of,
)
from registry_pipeline.core.pointers.journal_replay import (
    VerifyReport,
    difference,
    interrupted,
    mismatch_advice,
)
from registry_pipeline.core.pointers.pointer_file import (
    PointerFile,
)
from registry_pipeline.core.pointers.repair import Repair, repair
from registry_pipeline.core.pointers.targets import (
    apply_record,
    check_direction,
    validated_target,
)
from registry_pipeline.core.pointers.targets import pointer_relpath as pointer_relpath
from registry_pipeline.core.pointers.targets import target_folder as target_folder
from registry_pipeline.core.seal._faults import crash_point


class PointerStore(JournalWriter):
    """The pointer file and its journal in a workspace's `.codex/`."""

    def promote(
        self,
        registry_id: str,
        run_id: str,
        *,
        relpath: str | None,
        reason: str,
        actor: dict[str, str],
        checks: dict[str, Any] | None = None,
        expect: str | object | None = ANY,
        automatic: bool = False,
    ) -> Change:
        """Make `run_id` active: it must validate and be newer than the current snapshot.

        `automatic` (the promotion job, `registry build`) is refused with HELD while the
        registry is held (a rollback or `hold` not yet released); a person may still promote.
        """
        return self._change(
            "promote", registry_id, run_id, relpath, reason, actor, checks, expect, automatic
        )

    def rollback(
        self,
        registry_id: str,
        run_id: str,
        *,
        relpath: str | None,
        reason: str,
        actor: dict[str, str],
        expect: str | object | None = ANY,
    ) -> Change:
        """Make an older valid snapshot active again (an explicit, journaled move back)."""
        if not reason.strip():
            raise UsageError("a rollback needs a reason", code="REASON_REQUIRED")
        return self._change(
            "rollback", registry_id, run_id, relpath, reason, actor, None, expect, False
        )

    def complete_pending(self) -> JournalRecord | None:
        """Apply an interrupted change, if any (under the lock); returns the record applied."""
        self.workspace.require()
        self.require_safe_paths()
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            return self._redo(self.read())[1]

    def explained(self, registry_ids: Iterable[str] | None = None) -> PointerFile:
        """The pointer file, after checking that the journal explains each pointer of
        `registry_ids` (default: every registry in the file); POINTER_MISMATCH otherwise.

        Before the journal's first record the file is taken as found (that record captures
        it); from then on an entry the journal never recorded is a hand edit. An
        interrupted change (the journal's last record, whose from_ref the file still shows) is
        explained too: the next change completes it.
        """
        pointers = self.read()
        ids = list(pointers.pointers) if registry_ids is None else list(registry_ids)
        for registry_id in ids:
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                raise mismatch
        return pointers

    def promotion_blocker(self, registry_id: str, run_id: str) -> PointerRefused | None:
        """Why an automatic promotion of `run_id` would change nothing or be refused, or None
        when it would move the pointer. The same checks as `promote(automatic=True)` (mismatch,
        already active, direction, hold), read without the lock and without validating the
        target again: the promotion itself re-checks everything, and validates, under the lock.
        """
        try:
            folder = target_folder(self.workspace, registry_id, run_id)
            pointers = self.read()
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                return mismatch
            current = pointers.active(registry_id)
            if current is not None and current.run_id == run_id:
                return PointerRefused(f"{run_id} is already active", code="ALREADY_ACTIVE")
            check_direction(self.workspace, "promote", registry_id, current, folder)
            self._check_not_held(registry_id)
        except PointerRefused as exc:
            return exc
        return None

    def held(self, registry_id: str) -> Hold | None:
        """The hold on `registry_id`: its last record is a rollback, an accepted edit or a hold.

        Any later change of the registry ends the hold: `release`, or a promotion by a person
        (who then decided what is active); an aborted change does not. Reading back to the
        registry's last record only keeps this as cheap as the promotion itself.
        """
        try:
            record = last_effective_record_of(self.journal_path, registry_id)
        except JournalFormatError as exc:
            raise corrupt_journal(self.journal_path, exc) from None
        if record is None or record.action not in HOLDING:
            return None
        return Hold(registry_id, record)

    def accept(self, registry_id: str, *, reason: str, actor: dict[str, str]) -> Change:
        """Record the pointer file's current value for `registry_id`, which the journal does not
        explain (a hand edit), as a decision: journaled, after validating its target."""
        if not reason.strip():
            raise UsageError("accepting a hand edit needs a reason", code="REASON_REQUIRED")
        self.workspace.require()
        self.require_safe_paths()
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            self._require_intact(self.read(), registry_id, "accept")  # before redoing anything
            pointers, _ = self._redo(self.read())
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None and mismatch.code != "POINTER_MISMATCH":
                raise mismatch  # an unreadable journal: nothing can be accepted against it
            if mismatch is None:
                raise PointerRefused(
                    f"the journal already explains the pointer of {registry_id}; nothing to accept",
                    code="NOTHING_TO_ACCEPT",
                    path=str(self.pointers_path),
                )
            found = pointers.active(registry_id)
            if found is None or found.run_id is None:
                raise PointerRefused(
                    f"the pointer file has no active snapshot for {registry_id}; restore its "
                    f"entry (the journal says {self._journal_view(registry_id)})",
                    code="TARGET_MISSING",
                    path=str(self.pointers_path),
                )
            try:
                folder = target_folder(self.workspace, registry_id, found.run_id)
                target, verdict = validated_target(self.schemas, registry_id, folder, found.relpath)
            except PointerRefused as exc:
                raise PointerRefused(
                    f"{exc.message}: an edit that names no valid snapshot cannot be accepted; "
                    f"`registry pointers repair {registry_id} --reason TEXT` restores the "
                    "journal's value",
                    code=exc.code,
                    path=exc.path,
                ) from None
            if target != found:
                raise PointerRefused(
                    f"the pointer file names {found}, but {folder.name} has root "
                    f"{target.manifest_sha256}: an edit that names no valid snapshot cannot be "
                    f"accepted; `registry pointers repair {registry_id} --reason TEXT` restores "
                    "the journal's value",
                    code="TARGET_INVALID",
                    path=str(folder),
                )
            receipt = self._admit(registry_id, folder, target, "accept", actor)
            record, _ = self._append(
                registry_id, self._journal_view(registry_id), found, "accept", reason, actor,
                {**verdict, "receipt": receipt},
            )  # fmt: skip
            return Change(registry_id, record, found)

    def hold(self, registry_id: str, *, reason: str, actor: dict[str, str]) -> Change:
        """Stop automatic promotion of `registry_id` (builds still build and check)."""
        return self._mark("hold", registry_id, reason, actor)

    def release(self, registry_id: str, *, reason: str, actor: dict[str, str]) -> Change:
        """Lift the hold on `registry_id`: automatic promotion resumes."""
        return self._mark("release", registry_id, reason, actor)

    def _mark(self, action: str, registry_id: str, reason: str, actor: dict[str, str]) -> Change:
        self.workspace.require()
        self.require_safe_paths()
        if action == "hold" and not reason.strip():
            raise UsageError("a hold needs a reason", code="REASON_REQUIRED")
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            self._require_intact(self.read(), registry_id, action)  # before redoing anything
            pointers, _ = self._redo(self.read())
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                raise mismatch
            held = self.held(registry_id)
            if (action == "hold") == (held is not None):
                state = str(held) if held else "not held"
                return Change(registry_id, None, pointers.active(registry_id), state)
            current = pointers.active(registry_id)
            if current is None:
                raise PointerRefused(
                    f"{registry_id} has no active snapshot to hold", code="NO_POINTER"
                )
            record, _ = self._append(registry_id, current, current, action, reason, actor, {})
            return Change(registry_id, record, current)

    # -- one change, under the lock ---------------------------------------------------------

    def _change(
        self,
        action: str,
        registry_id: str,
        run_id: str,
        relpath: str | None,
        reason: str,
        actor: dict[str, str],
        checks: dict[str, Any] | None,
        expect: str | object | None,
        automatic: bool,
    ) -> Change:
        self.workspace.require()
        self.require_safe_paths()
        if len(reason) > MAX_REASON:
            raise UsageError(
                f"the reason is {len(reason)} characters; at most {MAX_REASON}",
                code="REASON_TOO_LONG",
            )
        folder = target_folder(self.workspace, registry_id, run_id)
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            crash_point("pointer_locked")
            self._require_intact(self.read(), registry_id, action)  # before redoing anything
            pointers, _ = self._redo(self.read())
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                raise mismatch
            current = pointers.active(registry_id)
            if expect is not ANY and (current.run_id if current else None) != expect:
                raise PointerRefused(
                    f"{registry_id}: expected the active snapshot to be {expect or '(none)'}, "
                    f"it is {current.run_id if current else '(none)'}",
                    code="CAS_CONFLICT",
                )
            target, verdict = validated_target(self.schemas, registry_id, folder, relpath)
            if current == target:
                return Change(registry_id, None, current)
            check_direction(self.workspace, action, registry_id, current, folder)
            if automatic:
                self._check_not_held(registry_id)
            receipt = self._admit(registry_id, folder, target, action, actor)
            record, offset = self._append(
                registry_id, current, target, action, reason, actor,
                {**verdict, **(checks or {}), "receipt": receipt},
            )  # fmt: skip
            crash_point("journal_appended")
            try:
                self._write_pointers(apply_record(pointers, record))
            except OSError as exc:
                if self.read().active(registry_id) == target:
                    return Change(registry_id, record, current)  # renamed; only a sync failed
                self._abort(record, offset, exc)  # not applied: it never will be
                raise PointerRefused(
                    f"{registry_id}: cannot write the pointer file ({exc.strerror or exc}); the "
                    f"change was not applied and journal #{record.seq} is marked aborted",
                    code="IO_ERROR",
                    path=str(exc.filename or self.pointers_path),
                ) from None
            return Change(registry_id, record, current)

    def repair(self, registry_id: str | None, *, reason: str, actor: dict[str, str]) -> Repair:
        """`registry pointers repair` (see `core.pointers.repair`)."""
        return repair(self, registry_id, reason=reason, actor=actor)

    def verify(self, expect_head: str | None = None) -> VerifyReport:
        """`registry pointers verify`: the journal's replay and every active target."""
        return verify_workspace(self.workspace, self.journal_path, self.read(), expect_head)

    def require_intact(self, action: str = "build") -> None:
        """Refuse (CHAIN_BROKEN, POINTER_MISMATCH, ...) while `verify` fails: a build and the
        promotion sensor call it before anything else, the store before every change."""
        self._require_intact(self.read(), None, action)

    def _require_intact(self, pointers: PointerFile, registry_id: str | None, action: str) -> None:
        """No change while `verify` fails (see `core.pointers.integrity.require_intact`)."""
        report = verify_workspace(self.workspace, self.journal_path, pointers, checkpoint=True)
        try:
            require_intact(report, registry_id, action)
        except RegistryError as exc:
            raise PointerRefused(exc.message, code=exc.code, path=str(self.journal_path)) from None

    def _mismatch(self, pointers: PointerFile, registry_id: str) -> PointerRefused | None:
        """POINTER_MISMATCH when the file shows another pointer than the journal recorded.

        Reads only (no lock, no repair of the journal): readers call it too.
        """
        try:
            record = last_record_of(self.journal_path, registry_id)
            last = last_record(self.journal_path)
        except JournalFormatError as exc:
            return corrupt_journal(self.journal_path, exc)
        found = pointers.active(registry_id)
        if record is None and (last is None or found is None):
            return None  # no journal yet: the file is taken as found by the first change
        if record is None:
            return PointerRefused(
                f"{registry_id}: the pointer file says {found}, but the journal has no record of "
                f"{registry_id} (it captured the file at #1): the entry was added by hand; "
                f"{mismatch_advice(registry_id)}",
                code="POINTER_MISMATCH",
                path=str(self.pointers_path),
            )
        if found == record.to_ref:
            return None
        if last is not None and last.seq == record.seq and interrupted(pointers, record):
            return None  # an interrupted change: the next change completes it
        return PointerRefused(
            f"{registry_id}: {difference(found, record.to_ref)} (#{record.seq}); the file was "
            f"edited by hand: {mismatch_advice(registry_id)}",
            code="POINTER_MISMATCH",
            path=str(self.pointers_path),
        )

    def _check_not_held(self, registry_id: str) -> None:
        held = self.held(registry_id)
        if held is not None:
            raise PointerRefused(
                f"{held} (journal #{held.record.seq}, {held.record.action} by {held.by}); "
                f"`registry pointers release {registry_id}` resumes automatic promotion",
                code="HELD",
            )
