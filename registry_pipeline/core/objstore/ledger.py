"""A journal and the state it leads to, shared through a bucket by machines that share nothing
else: entry N is `journal/<N>.json`, created with If-None-Match (of two writers, one wins N);
the state after entry N is `head.json`, replaced with If-Match on the ETag it was read with.

A writer reads the head (state after entry S), creates entry S+1, then replaces the head. One
killed between the two leaves the journal one entry ahead of the head; the next reader sees
entry S+1 after the head's S and applies it before anything else (`records` after the head's
seq; `core.pointers.bucket.BucketJournal.pull`), as the pointer
store does on a disk after a crash between journal and pointer file. Bodies carry a nonce: a
write retried after a lost answer is told from a rival's write of the same bytes.

Fencing: a build that takes the build lease (`lease.BuildLease`, epoch E) raises the fence to E
with a fence entry (no text) at the end of the journal; the head carries the highest fence of
the entries it includes. A writer under a lease passes its epoch and is refused with
BUILD_LEASE_LOST when the settled head's fence is higher: a stale holder's entry either comes
before the fence entry (it was written before the takeover) or loses the race for that seq and
then reads the fence. Writers with no lease (a person's promotion) pass no epoch and keep the
fence as it is. A head written before fences existed reads as fence 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import uuid4

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.objstore.store import Conflict, ObjectStore

FORMAT = "registry-remote-head-1"
DIGITS = 12


@dataclass(frozen=True)
class Head:
    """The state after entry `seq` (0: no entry yet), and the ETag a replace must name."""

    seq: int
    state: str
    etag: str | None
    fence: int = 0
    """The highest lease epoch fenced so far: writers under a lower one are refused."""


@dataclass(frozen=True)
class Entry:
    """Journal entry `seq`: the text a change appended, or a fence entry (`fence` > 0, no text)."""

    seq: int
    text: str
    fence: int = 0
    invalid: str | None = None
    """Why the object is not an entry this release writes (`records(strict=False)` only)."""


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
            body = loads_strict(blob.data)
            if body.get("format") != FORMAT:
                raise ValueError(f"format {body.get('format')!r}")
            return Head(int(body["seq"]), str(body["state"]), blob.etag, _fence(body))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._invalid(self.head_key, exc) from None

    def begin(self) -> None:
        """Create the empty head (seq 0, no state) where there is no head yet; a head already
        there, whatever it holds, is kept."""
        if self.store.get(self.head_key) is None:
            with contextlib.suppress(Conflict):
                self.store.create(self.head_key, _body({"format": FORMAT, "seq": 0, "state": "",
                                                        "fence": 0}))  # fmt: skip

    def records(self, after: int, *, strict: bool = True) -> Iterator[Entry]:
        """The entries after `after`, in order; a gap ends them (an entry cannot be written
        before the one it follows: only the next one may be missing). An object that is not
        an entry is REMOTE_STATE_INVALID, or (`strict=False`, for a reader that verifies and
        reports it) an Entry saying why in `invalid`."""
        expected = after + 1
        for key in self.store.keys(f"{self.prefix}journal/", after=self.entry_key(after)):
            seq = int(key.rsplit("/", 1)[-1].removesuffix(".json"))
            if seq != expected:
                return
            blob = self.store.get(key)
            if blob is None:
                return
            try:
                body = loads_strict(blob.data)
                if not isinstance(body, dict) or not isinstance(body["entry"], str):
                    raise TypeError("an entry is an object whose `entry` is a string")
                entry = Entry(seq, body["entry"], _fence(body))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
                if strict:
                    raise self._invalid(key, exc) from None
                entry = Entry(seq, "", invalid=f"{type(exc).__name__}: {exc}"[:300])
            yield entry
            expected += 1

    def append(self, seq: int, entry: str, fence: int = 0) -> None:
        """Create entry `seq` (a fence entry when `fence` > 0); Conflict when another writer
        created it first."""
        fields: dict[str, object] = {"seq": seq, "entry": entry}
        self.store.create(self.entry_key(seq), _body(fields | ({"fence": fence} if fence else {})))

    def advance(self, head: Head, seq: int, state: str, fence: int = 0) -> Head:
        """Replace `head` by the state after entry `seq` (a fence entry's `fence` raising the
        head's); Conflict when the head moved since."""
        fence = max(head.fence, fence)
        body = _body({"format": FORMAT, "seq": seq, "state": state, "fence": fence})
        if head.etag is None:
            etag = self.store.create(self.head_key, body)
        else:
            etag = self.store.replace(self.head_key, body, head.etag)
        return Head(seq, state, etag, fence)

    def fence(self, epoch: int) -> None:
        """Refuse from now on every commit under an epoch below `epoch` (a build lease taken
        over: its previous holders'): a fence entry after the last entry, the head advanced
        over it when nothing else is pending. An empty ledger gets a head at entry 0 carrying
        the fence instead (the first change, a bootstrap too, is then entry 1, as ever: a
        holder fences before it writes, so no holder's entry can precede that head). A fence
        as high already is kept."""
        while True:
            head = self.head()
            pending = list(self.records(head.seq))
            if _highest(head, pending) >= epoch:
                return
            seq = (pending[-1].seq if pending else head.seq) + 1
            try:
                if head.etag is None and not pending:
                    self.advance(head, 0, "", epoch)
                    return
                self.append(seq, "", fence=epoch)
            except Conflict:
                continue  # a writer (or another fence) took that place: read again
            if not pending:
                with contextlib.suppress(Conflict):  # a reader settled it for us
                    self.advance(head, seq, head.state, epoch)
            return

    def fenced(self) -> int:
        """The highest fence raised so far (pending fence entries included)."""
        head = self.head()
        return _highest(head, list(self.records(head.seq)))

    def verify_fence(self, head: Head, epoch: int | None) -> None:
        """BUILD_LEASE_LOST when `head` (settled) is fenced above the writer's lease `epoch`
        (None: a writer with no lease, never refused)."""
        if epoch is not None and head.fence > epoch:
            raise RegistryError(
                f"the build lease this writer held (epoch {epoch}) was taken over by another "
                f"build (epoch {head.fence}); its pointer change was refused, nothing written",
                code="BUILD_LEASE_LOST",
                path=f"{self.store.url}/{self.head_key}",
            )

    def _invalid(self, key: str, exc: Exception) -> RegistryError:
        return RegistryError(
            f"{key} is not an object this release wrote ({exc})",
            code="REMOTE_STATE_INVALID",
            path=f"{self.store.url}/{key}",
        )


def _highest(head: Head, pending: list[Entry]) -> int:
    return max([head.fence, *(entry.fence for entry in pending)])


def _fence(body: dict[str, object]) -> int:
    """A body's fence: a whole number of at least 0 (0 when absent: written before fences)."""
    fence = body.get("fence", 0)
    if type(fence) is not int or fence < 0:
        raise ValueError(f"fence {fence!r}")
    return fence


def _body(fields: dict[str, object]) -> bytes:
    nonce = {"host": socket.gethostname(), "pid": os.getpid(), "nonce": uuid4().hex}
    return json.dumps({**fields, "written_by": nonce}, sort_keys=True).encode()


__all__ = ["Conflict", "Entry", "Head", "Ledger"]
