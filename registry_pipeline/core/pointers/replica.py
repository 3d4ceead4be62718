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

While this process holds the bucket's build lease (`Remote.grant`), `push` publishes under its
epoch: refused with BUILD_LEASE_LOST once the lease is lost, or once another build took it and
fenced the ledger (`Ledger.fence`), and the local copy is put back as pulled.

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
from registry_pipeline.core.workspace.remote import POINTERS_PREFIX, Remote
from registry_pipeline.core.workspace.safe_write import require_safe

SYNC_RELPATH = ".codex/cache/remote_pointers.json"
PREFIX = POINTERS_PREFIX
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
        self.remote = remote
        self.url = remote.url
        self.root = root
        self.journal = journal
        self.pointers = pointers

    def pull(self, redo: Callable[[], object]) -> Base:
        """Make the local journal and pointer file equal to the bucket's (under the local lock);
        `redo` completes a change interrupted between its entry and the head."""
        head = self.ledger.head()
        if not head.state and self._bootstrap():
            head = self.ledger.head()
        local = _read(self.journal)
        start, size = self._mirrored(local)
        entries = list(self.ledger.records(start))
        text = local[:size] + b"".join(entry.text.encode("utf-8") for entry in entries)
        last = entries[-1].seq if entries else start
        pending = list(self.ledger.records(head.seq)) if last > head.seq else []
        changes = [entry.seq for entry in pending if not entry.fence]
        if head.seq > last or changes not in ([], [head.seq + 1]):  # then fence entries only
            raise RegistryError(
                f"the bucket's pointer head is at entry {head.seq} and its journal at {last}",
                code="REMOTE_STATE_INVALID",
                path=f"{self.url}/{self.ledger.head_key}",
            )
        if text != local:
            write_atomic(self.journal, text)
        self._write_pointers(head.state.encode("utf-8"))
        if pending:  # a writer stopped between its entry and the head, or a fence not in it
            if changes:
                redo()
            fence = max(entry.fence for entry in pending)
            with contextlib.suppress(Conflict):  # a rival completed it first: the same state
                head = self.ledger.advance(head, last, _read(self.pointers).decode("utf-8"), fence)
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
        self._verify_grant(base, journal)
        seq = base.head.seq + 1
        try:
            self.ledger.append(seq, added.decode("utf-8"))
        except Conflict:
            raise Lost(seq) from None
        with contextlib.suppress(Conflict):  # a reader completed it for us
            self.ledger.advance(base.head, seq, _read(self.pointers).decode("utf-8"))
        self._save(seq, journal)

    def _verify_grant(self, base: Base, journal: bytes) -> None:
        """BUILD_LEASE_LOST when this process's build lease was lost or fenced off (the local
        copy put back as pulled: nothing of the change is anywhere)."""
        grant = self.remote.grant
        if grant is None:
            return
        try:
            if grant.lost.is_set():
                raise RegistryError(
                    f"the build lease (epoch {grant.epoch}) was lost; its pointer change was "
                    "refused, nothing written",
                    code="BUILD_LEASE_LOST",
                    path=f"{self.url}/{self.ledger.head_key}",
                )
            self.ledger.verify_fence(base.head, grant.epoch)
        except RegistryError as exc:
            write_atomic(self.journal, journal[: base.journal_size])
            self._write_pointers(base.head.state.encode("utf-8"))
            raise PointerRefused(exc.message, code=exc.code, path=exc.path) from None

    def _bootstrap(self) -> bool:
        """A bucket with no change yet (fence entries only, if any) takes the workspace's
        journal and pointer file as its first change (a workspace moving to object storage);
        True when there was something to take."""
        journal, pointers = _read(self.journal), _read(self.pointers)
        if not journal and not pointers:
            return False
        while not any(not entry.fence for entry in self.ledger.records(0)):
            head = self.ledger.head()
            fences = list(self.ledger.records(head.seq))
            seq = (fences[-1].seq if fences else head.seq) + 1
            try:
                self.ledger.append(seq, journal.decode("utf-8"))
            except Conflict:
                continue  # another machine's bootstrap, or a fence entry: look again
            fence = max((entry.fence for entry in fences), default=0)
            with contextlib.suppress(Conflict):  # a reader completed it for us
                self.ledger.advance(head, seq, pointers.decode("utf-8"), fence)
            break
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
