"""Compare-and-swap: `promote` and `rollback` move a pointer under the lock, only from the snapshot
the caller expects, to a target validated again, journaled before the pointer file shows it."""

from __future__ import annotations

from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.pointers._holds import HoldingStore
from registry_pipeline.core.pointers._refused import PointerRefused
from registry_pipeline.core.pointers._writer import ANY, MAX_REASON
from registry_pipeline.core.pointers.changes import Change
from registry_pipeline.core.pointers.journal import JournalRecord
from registry_pipeline.core.pointers.targets import (
    apply_record,
    check_direction,
    publish_target,
    target_folder,
    validated_target,
)


class SwappingStore(HoldingStore):
    """The moves of a pointer: each a compare-and-swap under the lock (the protocol: `store`)."""

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
        """Apply an interrupted change, if any (under the lock), once the chain verifies and its
        target passes the gate (`check_mirrored`); returns the record applied."""
        self.workspace.require()
        self.require_safe_paths()
        with self.locked():
            self._require_intact(self.read(), None, "complete")  # a chain that holds, first
            return self._redo(self.read())[1]

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
        with self.locked():
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
            publish_target(self.workspace, folder)
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
