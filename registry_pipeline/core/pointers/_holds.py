"""Holds: a rollback, an accepted hand edit or `hold` stops automatic promotion of a registry
until `release` (or a person's promotion) ends it."""

from __future__ import annotations

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.pointers._explained import ExplainedStore
from registry_pipeline.core.pointers._refused import PointerRefused
from registry_pipeline.core.pointers.changes import Change, Hold
from registry_pipeline.core.pointers.journal import (
    HOLDING,
    JournalFormatError,
    corrupt_journal,
    last_effective_record_of,
)


class HoldingStore(ExplainedStore):
    """Which registries are held, and the journaled `hold` and `release` that change it."""

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
        with self.locked():
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

    def _check_not_held(self, registry_id: str) -> None:
        held = self.held(registry_id)
        if held is not None:
            raise PointerRefused(
                f"{held} (journal #{held.record.seq}, {held.record.action} by {held.by}); "
                f"`registry pointers release {registry_id}` resumes automatic promotion",
                code="HELD",
            )
