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

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from registry_pipeline.core.pointers._compare_and_swap import SwappingStore
from registry_pipeline.core.pointers._refused import PointerRefused as PointerRefused
from registry_pipeline.core.pointers._writer import ANY as ANY
from registry_pipeline.core.pointers._writer import MAX_REASON as MAX_REASON
from registry_pipeline.core.pointers._writer import Gate as Gate
from registry_pipeline.core.pointers.changes import Change as Change
from registry_pipeline.core.pointers.changes import Hold as Hold
from registry_pipeline.core.pointers.repair import Repair, repair
from registry_pipeline.core.pointers.replica import retry_lost
from registry_pipeline.core.pointers.targets import pointer_relpath as pointer_relpath
from registry_pipeline.core.pointers.targets import target_folder as target_folder

T = TypeVar("T")


def _retried(method: Callable[..., T]) -> Callable[..., T]:
    """`method`, run again whole when another machine's change won the next journal entry of
    a workspace on object storage (`core.pointers.replica`); once on the local filesystem."""

    @functools.wraps(method)
    def run(self: PointerStore, *args: Any, **kwargs: Any) -> T:
        return retry_lost(lambda: method(self, *args, **kwargs))

    return run


class PointerStore(SwappingStore):
    """The pointer file and its journal in a workspace's `.codex/`.

    Built in layers, one concept each: `_writer` (the journal's writes, the file's atomic
    replacement, the lock), `_explained` (hand edits), `_holds`, `_compare_and_swap` (the
    moves); `replica` mirrors them from a bucket. Every change is tried again whole when it
    lost the race for the bucket's next entry.
    """

    promote = _retried(SwappingStore.promote)
    rollback = _retried(SwappingStore.rollback)
    complete_pending = _retried(SwappingStore.complete_pending)
    hold = _retried(SwappingStore.hold)
    release = _retried(SwappingStore.release)
    accept = _retried(SwappingStore.accept)

    def repair(self, registry_id: str | None, *, reason: str, actor: dict[str, str]) -> Repair:
        """`registry pointers repair` (see `core.pointers.repair`)."""
        return retry_lost(lambda: repair(self, registry_id, reason=reason, actor=actor))
