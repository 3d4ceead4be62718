"""The pointer journal and the active pointers of a workspace on object storage.

The bucket's ledger (`core.objstore.ledger`, under `pointers/`) is the truth: entry N holds the
journal lines one change appended (created with If-None-Match: of two machines, one writes N),
and the head holds the pointer file after the last entry (replaced with If-Match). The
workspace's journal and pointer file are this machine's copy of it, so every reader, `pointers
verify` included, reads them as on a single machine.

A change runs as on a disk, under the local lock (`JournalWriter.locked`): `pull` first makes the
copy equal to the bucket (the journal's lines of every entry, the head's pointer file; a change
interrupted between its entry and the head completed, as the store completes one a crash
interrupted); the change then appends its records and writes the pointer file; `push` writes
them as the next entry, then the head. When another machine wrote that entry first, `push`
raises `Lost` and the whole change runs again on the new state (`retry_lost`): a
compare-and-swap that expected the old state is then refused with CAS_CONFLICT, a promotion that
is no longer newer with NOT_NEWER, exactly as on one machine. No update is lost and none is
applied twice: an entry exists once, and the local copy of a lost change is discarded.

`.codex/cache/remote_pointers.json` records how much of the local journal mirrors which entries,
so a pull fetches only the entries after it; a copy changed by hand is fetched again whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore.ledger import Head, Ledger
from registry_pipeline.core.objstore.store import Conflict
from registry_pipeline.core.pointers._refused import PointerRefused
from registry_pipeline.core.seal._fs import write_atomic
from registry_pipeline.core.workspace.remote import Remote
from registry_pipeline.core.workspace.safe_write import require_safe

SYNC_RELPATH = ".codex/cache/remote_pointers.json"
PREFIX = "pointers"
RETRY_FOR = 120.0
"""Seconds a change is tried again after losing the race for the next entry."""

T = TypeVar("T")


class Lost(Exception):
    """Another machine wrote the next journal entry first: the change must run again."""


@dataclass(frozen=True)
class Base:
    """The state a change starts from: the head and how much of the local journal mirrors it."""

    head: Head
    journal_size: int
    journal_sha256: str


class Replica:
    """The journal and pointer file of one workspace, mirrored from its bucket."""

    def __init__(self, remote: Remote, root: Path, journal: Path, pointers: Path) -> None:
        self.ledger = Ledger(remote.store, PREFIX)
        self.url = remote.url
        self.root = root
        self.journal = journal
        self.pointers = pointers

    def pull(self, redo: Callable[[], object]) -> Base:
        """Make the local journal and pointer file equal to the bucket's (under the local lock);
        `redo` completes a change interrupted between its entry and the head."""
        head = self.ledger.head()
        if head.seq == 0 and not self.ledger.pending(head) and self._bootstrap(head):
            head = self.ledger.head()
        local = _read(self.journal)
        start, size = self._mirrored(local)
        entries = list(self.ledger.entries(start))
        text = local[:size] + b"".join(entry.encode("utf-8") for _seq, entry in entries)
        last = entries[-1][0] if entries else start
        if head.seq > last or last - head.seq > 1:
            raise RegistryError(
                f"the bucket's pointer head is at entry {head.seq} and its journal at {last}",
                code="REMOTE_STATE_INVALID",
                path=f"{self.url}/{self.ledger.head_key}",
            )
        if text != local:
            write_atomic(self.journal, text)
        self._write_pointers(head.state.encode("utf-8"))
        if last == head.seq + 1:  # a writer stopped between its entry and the head
            redo()
            with contextlib.suppress(Conflict):  # a rival completed it first: the same state
                head = self.ledger.advance(head, last, _read(self.pointers).decode("utf-8"))
            head = self.ledger.head() if head.seq != last else head
        self._save(last, text)
        return Base(head, len(text), hashlib.sha256(text).hexdigest())

    def push(self, base: Base) -> None:
        """Publish what the change appended as the next entry, then the head; Lost when another
        machine wrote that entry first (nothing of this change is in the bucket then)."""
        journal = _read(self.journal)
        mirrored = hashlib.sha256(journal[: base.journal_size]).hexdigest()
        if len(journal) < base.journal_size or mirrored != base.journal_sha256:
            raise PointerRefused(
                "this change rewrote the journal, which a workspace on object storage never "
                "does (its entries are immutable); nothing was published",
                code="REMOTE_UNSUPPORTED",
                path=str(self.journal),
            )
        added = journal[base.journal_size :]
        if not added:
            return
        seq = base.head.seq + 1
        try:
            self.ledger.append(seq, added.decode("utf-8"))
        except Conflict:
            raise Lost(seq) from None
        with contextlib.suppress(Conflict):  # a reader completed it for us
            self.ledger.advance(base.head, seq, _read(self.pointers).decode("utf-8"))
        self._save(seq, journal)

    def _bootstrap(self, head: Head) -> bool:
        """An empty bucket takes the workspace's journal and pointer file as its first entry
        (a workspace moving to object storage); True when there was something to take."""
        journal, pointers = _read(self.journal), _read(self.pointers)
        if not journal and not pointers:
            return False
        with contextlib.suppress(Conflict):  # another machine bootstrapped it first
            self.ledger.append(1, journal.decode("utf-8"))
            self.ledger.advance(head, 1, pointers.decode("utf-8"))
        return True

    def _mirrored(self, local: bytes) -> tuple[int, int]:
        """(entry, bytes): the local journal's first bytes mirror entries 1..entry; (0, 0) when
        that record is missing, of another bucket, or the copy was changed since."""
        try:
            mark = json.loads((self.root / SYNC_RELPATH).read_bytes())
            seq, size, digest = int(mark["seq"]), int(mark["size"]), str(mark["sha256"])
            same = mark.get("store") == self.url
        except (OSError, ValueError, KeyError, TypeError):
            return 0, 0
        if not same or size > len(local) or hashlib.sha256(local[:size]).hexdigest() != digest:
            return 0, 0
        return seq, size

    def _save(self, seq: int, journal: bytes) -> None:
        mark = {"store": self.url, "seq": seq, "size": len(journal),
                "sha256": hashlib.sha256(journal).hexdigest()}  # fmt: skip
        path = require_safe(self.root, self.root / SYNC_RELPATH)  # a cache, never via a link
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(mark).encode(), durable=False)

    def _write_pointers(self, state: bytes) -> None:
        if not state:
            self.pointers.unlink(missing_ok=True)
        elif _read(self.pointers) != state:
            self.pointers.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.pointers, state)


def retry_lost(change: Callable[[], T], retry_for: float = RETRY_FOR) -> T:
    """Run `change` until it is not `Lost`, backing off from the other machines with jitter;
    CONTENDED once `retry_for` seconds have passed."""
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception_type,
        stop_after_delay,
        wait_random_exponential,
    )

    retrying = Retrying(
        retry=retry_if_exception_type(Lost),
        stop=stop_after_delay(retry_for),
        wait=wait_random_exponential(multiplier=0.005, max=0.5),
    )
    try:
        return retrying(change)
    except RetryError as exc:
        lost = exc.last_attempt.attempt_number
        raise PointerRefused(
            f"lost the race for the next journal entry {lost} times in {retry_for:g} s to "
            "other machines; nothing was changed, try again",
            code="CONTENDED",
        ) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
