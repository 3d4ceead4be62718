"""What a pointer store call did (`Change`), and what stops automatic promotion (`Hold`)."""

from __future__ import annotations

from dataclasses import dataclass

from registry_pipeline.core.pointers.journal import JournalRecord
from registry_pipeline.core.pointers.pointer_file import ActiveRef


@dataclass(frozen=True)
class Hold:
    """A registry whose automatic promotion is stopped: who, when, why (its journal record)."""

    registry_id: str
    record: JournalRecord

    @property
    def reason(self) -> str:
        """Why, as the rollback or hold recorded it."""
        return self.record.reason

    @property
    def since(self) -> str:
        """When (the record's created_utc)."""
        return self.record.created_utc

    @property
    def by(self) -> str:
        """Who: `kind:id` of the record's actor."""
        return f"{self.record.actor.get('kind')}:{self.record.actor.get('id')}"

    def __str__(self) -> str:
        return f"held: {self.reason}, since {self.since}"


@dataclass(frozen=True)
class Change:
    """What a call did: the journal record, or None when the target was already active."""

    registry_id: str
    record: JournalRecord | None
    current: ActiveRef | None
    note: str = ""
    """For a no-op: why (e.g. "already held")."""

    @property
    def changed(self) -> bool:
        """False for a no-op (already active)."""
        return self.record is not None
