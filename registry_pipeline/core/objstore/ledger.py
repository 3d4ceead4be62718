"""A journal and the state it leads to, shared through a bucket by machines that share nothing
else: entry N is `journal/<N>.json`, created with If-None-Match (of two writers, one wins N);
the state after entry N is `head.json`, replaced with If-Match on the ETag it was read with.

A writer reads the head (state after entry S), creates entry S+1, then replaces the head. One
killed between the two leaves the journal one entry ahead of the head; the next reader sees
entry S+1 after the head's S and applies it (`pending`) before anything else, as the pointer
store does on a disk after a crash between journal and pointer file. Bodies carry a nonce: a
write retried after a lost answer is told from a rival's write of the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import uuid4

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore.store import Conflict, ObjectStore

FORMAT = "registry-remote-head-1"
DIGITS = 12


Apply = Callable[[str, str], str]
"""The state after an entry, given the state before it."""


@dataclass(frozen=True)
class Committed:
    """A change written: its entry's seq, and how many times another writer won first."""

    seq: int
    conflicts: int


@dataclass(frozen=True)
class Head:
    """The state after entry `seq` (0: no entry yet), and the ETag a replace must name."""

    seq: int
    state: str
    etag: str | None


class Ledger:
    """The journal and head under `prefix` ('pointers/') of one store."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix.strip("/") + "/"

    def entry_key(self, seq: int) -> str:
        return f"{self.prefix}journal/{seq:0{DIGITS}d}.json"

    @property
    def head_key(self) -> str:
        return f"{self.prefix}head.json"

    def head(self) -> Head:
        """The head as it is now (seq 0 and an empty state before the first write)."""
        blob = self.store.get(self.head_key)
        if blob is None:
            return Head(0, "", None)
        try:
            body = json.loads(blob.data)
            if body.get("format") != FORMAT:
                raise ValueError(f"format {body.get('format')!r}")
            return Head(int(body["seq"]), str(body["state"]), blob.etag)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._invalid(self.head_key, exc) from None

    def entries(self, after: int) -> Iterator[tuple[int, str]]:
        """The entries after `after`, in order, as (seq, text); a gap ends them (an entry
        cannot be written before the one it follows: only the next one may be missing)."""
        expected = after + 1
        for key in self.store.keys(f"{self.prefix}journal/", after=self.entry_key(after)):
            seq = int(key.rsplit("/", 1)[-1].removesuffix(".json"))
            if seq != expected:
                return
            blob = self.store.get(key)
            if blob is None:
                return
            try:
                yield seq, str(json.loads(blob.data)["entry"])
            except (ValueError, KeyError, TypeError) as exc:
                raise self._invalid(key, exc) from None
            expected += 1

    def pending(self, head: Head) -> list[tuple[int, str]]:
        """Entries written after `head`'s and not yet in it: a writer stopped between the two
        writes; whoever reads next applies them (then `advance`s) before its own change."""
        return list(self.entries(head.seq))

    def append(self, seq: int, entry: str) -> None:
        """Create entry `seq`; Conflict when another writer created it first."""
        self.store.create(self.entry_key(seq), _body({"seq": seq, "entry": entry}))

    def advance(self, head: Head, seq: int, state: str) -> Head:
        """Replace `head` by the state after entry `seq`; Conflict when the head moved since."""
        body = _body({"format": FORMAT, "seq": seq, "state": state})
        if head.etag is None:
            etag = self.store.create(self.head_key, body)
        else:
            etag = self.store.replace(self.head_key, body, head.etag)
        return Head(seq, state, etag)

    def settle(self, apply: Apply) -> Head:
        """The head with every pending entry applied (written back when it can be: a rival
        that moved the head first has applied them too)."""
        head = self.head()
        for seq, entry in self.pending(head):
            state = apply(head.state, entry)
            try:
                head = self.advance(head, seq, state)
            except Conflict:
                return self.settle(apply)
        return head

    def commit(self, entry_for: Callable[[Head], str], apply: Apply) -> Committed:
        """One change, retried until it wins: settle, ask `entry_for` the entry for that head
        (it may raise to refuse: a compare-and-swap that finds another state), write it as the
        next entry, then advance the head. Its seq and how many times a rival won first."""
        conflicts = 0
        while True:
            head = self.settle(apply)
            entry = entry_for(head)
            try:
                self.append(head.seq + 1, entry)
            except Conflict:
                conflicts += 1
                continue
            with contextlib.suppress(Conflict):  # a reader settled it for us
                self.advance(head, head.seq + 1, apply(head.state, entry))
            return Committed(head.seq + 1, conflicts)

    def _invalid(self, key: str, exc: Exception) -> RegistryError:
        return RegistryError(
            f"{key} is not an object this release wrote ({exc})",
            code="REMOTE_STATE_INVALID",
            path=f"{self.store.url}/{key}",
        )


def _body(fields: dict[str, object]) -> bytes:
    nonce = {"host": socket.gethostname(), "pid": os.getpid(), "nonce": uuid4().hex}
    return json.dumps({**fields, "written_by": nonce}, sort_keys=True).encode()


__all__ = ["Conflict", "Head", "Ledger"]
