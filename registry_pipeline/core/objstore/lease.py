"""One build at a time across machines sharing only a bucket: a fenced lease (docs/SCALE.md)."""

from __future__ import annotations

import functools
import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from uuid import uuid4

from registry_pipeline.core import lock
from registry_pipeline.core.errors import BuildInProgress, RegistryError
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.lock import Owner
from registry_pipeline.core.objstore.ledger import MAX_EPOCH, Ledger
from registry_pipeline.core.objstore.store import Blob, Conflict, ObjectStore, not_ours

KEY = "locks/build.json"
TERM = 60.0
MARGIN = 0.1
"""The share of a term kept in hand on each side (the holder gives up, a waiter takes over)."""
POLL = 0.5
"""The longest pause between two reads of a taken lease (S3 cannot notify a waiter)."""
MAX_TERM = 3600.0
"""The longest term a lease object may name (a waiter waits it: 1e300 would wedge the slot)."""
MAX_UNTIL = 253402300799.0
"""The last second of the year 9999."""
MAX_HOLDER = 1000
MAX_OBJECT = 64 * 1024
"""The largest lease object read (this release writes ~200 bytes)."""

Tell = Callable[[str], None]


@dataclass(frozen=True)
class Grant:
    """The lease as taken: what pointer writes under it carry (`BucketJournal.push`)."""

    holder: str
    """Who holds it, as waiters are told."""
    epoch: int
    """One more than the previous holder's: the fence this holder raises."""
    lost: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    """Set (before `on_lost` is told) once the lease can no longer be proven held."""


@dataclass(frozen=True)
class Lease:
    """The lease object as read."""

    holder: str
    epoch: int
    term: float
    """The holder's term in seconds: a waiter waits the longer of its own and this one."""
    until: float
    """When the holder's clock says its term ends: for people reading the object only."""
    released: bool
    etag: str


class BuildLease:
    """The build slot of one store; each take fences `ledger`, `on_lost` is told once it is lost."""

    def __init__(
        self,
        store: ObjectStore,
        key: str = KEY,
        term: float = TERM,
        *,
        ledger: Ledger | None = None,
        on_lost: Tell | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.key, self.term, self.ledger = store, key, term, ledger
        self.on_lost, self.clock, self.wall = on_lost, clock, wall
        self.where = self.path = f"{store.url}/{key}"
        self.poll = min(POLL, term / 10)
        self.grant: Grant | None = None
        """The lease as taken, while held: what pointer writes under it carry."""
        self._seen: tuple[Lease, float] | None = None
        """The lease as last read held by another, and when its ETag was first seen."""
        self._keeper: _Keeper | None = None

    def current(self) -> Lease | None:
        """The lease as it is now (None: never taken); REMOTE_STATE_INVALID if not ours."""
        blob = self.store.get(self.key, limit=MAX_OBJECT)
        return None if blob is None else self._parse(blob)

    @contextmanager
    def hold(self, holder: str, wait: float, on_wait: Tell | None = None) -> Iterator[Grant]:
        """The lease held as `holder` for the block (`core.lock.hold`; BUILD_IN_PROGRESS)."""
        with lock.hold(self, Owner(holder), wait=wait, refused=self.refused, on_wait=on_wait):
            assert self.grant is not None
            yield self.grant

    def try_take(self, owner: Owner) -> bool:
        """Take the lease if free (a conditional write), fence the ledger, renew until `release`."""
        while True:
            current, now = self.current(), self.clock()
            if current is not None:
                if self._seen is None or self._seen[0].etag != current.etag:
                    self._seen = (current, now)
                if not current.released and now - self._seen[1] < self._expiry(current):
                    return False
            tail = self.ledger.tail() if self.ledger is not None else (0, 0)  # read once
            grant = Grant(owner.holder, self._epoch(current, tail[1]) + 1)
            body = self._body(grant, released=False)
            try:
                if current is None:
                    etag = self.store.create(self.key, body)
                else:
                    etag = self.store.replace(self.key, body, current.etag)
            except Conflict:
                continue
            self.grant, self._keeper = grant, _Keeper(self, grant, etag, now)
            if self.ledger is not None:
                self.ledger.fence(grant.epoch, tail)
            return True

    def holder(self) -> str:
        """Who holds the lease, as last read."""
        lease = self._seen[0] if self._seen is not None else self.current()
        return lease.holder if lease is not None else "nobody"

    def refused(self, holder: str) -> BuildInProgress:
        """BUILD_IN_PROGRESS naming `holder`, the lease's epoch and when it may be taken over."""
        assert self._seen is not None  # refused after a read that found it held
        lease = self._seen[0]
        return BuildInProgress(
            f"another build holds the workspace: {holder} (the lease {self.path}, epoch "
            f"{lease.epoch}; taken over once unrenewed for {self._expiry(lease):g} s)",
            path=self.path,
        )

    def release(self) -> None:
        """Stop renewing and release the lease if it was taken (and not lost)."""
        keeper, self._keeper, self.grant, self._seen = self._keeper, None, None, None
        if keeper is not None:
            keeper.close()

    def _epoch(self, current: Lease | None, fenced: int) -> int:
        """The epoch the lease was last taken with, or the ledger's fence if higher."""
        # a lease removed by hand never restarts the epochs; a fence raised by hand is outgrown
        epoch = max(current.epoch if current is not None else 0, fenced)
        if epoch >= MAX_EPOCH:  # no higher epoch: a stale holder could never be fenced off
            raise RegistryError.of(
                "REMOTE_STATE_INVALID",
                path=self.path,
                what="a lease",
                reason=f"it or the pointer ledger's fence is at the highest epoch, {MAX_EPOCH}, "
                "set by hand: no build can be fenced above it",
                remedy="remove it and the fence entry of that epoch under pointers/journal/",
            )
        return epoch

    def _expiry(self, current: Lease) -> float:
        """How long a waiter must see one ETag before taking the lease over."""
        return max(self.term, current.term) * (1 + MARGIN)

    def _body(self, grant: Grant, released: bool) -> bytes:
        body = {"holder": grant.holder, "epoch": grant.epoch, "term": self.term,
                "until": self.wall() + self.term, "released": released,
                "nonce": uuid4().hex}  # fmt: skip
        return json.dumps(body, sort_keys=True).encode()

    def _parse(self, blob: Blob) -> Lease:
        try:
            holder, epoch, term, until, released = _fields(loads_strict(blob.data))
        except (JSONDecodeProblem, ValueError) as exc:
            raise not_ours(self.path, "a lease", f"{exc}; it is never taken for released") from None
        return Lease(holder, epoch, term, until, released, blob.etag)


class _Keeper:
    """Renews one grant from a thread of its own until closed, then releases it."""

    def __init__(self, lease: BuildLease, grant: Grant, etag: str, sent: float) -> None:
        self.lease, self.grant, self.on_lost = lease, grant, lease.on_lost
        self.etag = etag
        self.proven = sent
        """When the write that gave `etag` was sent: no waiter's term started before."""
        self.unsure: float | None = None
        """When the oldest renewal whose outcome is unknown (no answer in time) was sent."""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="build-lease", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop renewing; release the lease unless it was lost, which `on_lost` is told by now
        (a holder paused past its term and released at once: here)."""
        self.stop.set()
        self.thread.join()
        if self.grant.lost.is_set():
            return
        if self.lease.clock() >= self.proven + self.lease.term * (1 - MARGIN):
            return self._lose(f"the lease {self.lease.path} went unrenewed for its term")
        body = self.lease._body(self.grant, released=True)
        release = functools.partial(self.lease.store.replace, self.lease.key, body, self.etag)
        _ask(release, self.lease.term / 4)

    def _run(self) -> None:
        clock, tick = self.lease.clock, self.lease.term / 4
        due, failure = self.proven + tick, "no answer"
        while True:
            lapse = self.proven + self.lease.term * (1 - MARGIN)
            if clock() >= lapse:
                return self._lose(
                    f"no renewal of the lease {self.lease.path} succeeded for "
                    f"{clock() - self.proven:.1f} s (last: {failure}); its term ends before "
                    "another build may take it over"
                )
            if self.stop.wait(min(due, lapse) - clock()):
                return
            if clock() >= lapse:
                continue
            sent = clock()
            due = sent + tick
            outcome = _ask(functools.partial(self._renew, self.etag), min(due, lapse) - sent)
            kind, text = outcome or ("failed", f"no answer in {tick:g} s")
            if kind == "renewed":
                self.etag, self.proven, self.unsure = text, sent, None
            elif kind == "mine":  # an earlier renewal, unanswered in time, landed after all
                self.etag = text
                self.proven = self.proven if self.unsure is None else self.unsure
                self.unsure = None
            elif kind == "lost":
                return self._lose(text)
            else:
                self.unsure, failure = sent if self.unsure is None else self.unsure, text
            if self.stop.is_set():
                return

    def _renew(self, etag: str) -> tuple[str, str]:
        """One renewal of the lease read as `etag`: ("renewed"/"mine", ETag) or ("lost", why)."""
        lease, grant = self.lease, self.grant
        try:
            return "renewed", lease.store.replace(lease.key, lease._body(grant, False), etag)
        except Conflict:
            pass
        try:
            now = lease.current()
        except RegistryError as exc:
            if exc.code != "REMOTE_STATE_INVALID":
                raise
            return "lost", exc.message
        if now is None or now.released:
            return "lost", f"the lease {lease.path} was removed or released by someone else"
        if (now.epoch, now.holder) != (grant.epoch, grant.holder):
            return "lost", f"the lease {lease.path} was taken over by {now.holder}"
        return "mine", now.etag

    def _lose(self, reason: str) -> None:
        self.grant.lost.set()
        if self.on_lost is not None:
            self.on_lost(reason)


def _ask(call: Callable[[], object], timeout: float) -> tuple[str, str] | None:
    """`call`'s outcome within `timeout` s on a daemon thread, else None; error: ("failed", why)."""
    answer: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()

    def run() -> None:
        try:
            outcome = call()
        except Exception as exc:
            outcome = ("failed", str(exc) or type(exc).__name__)
        answer.put(outcome if isinstance(outcome, tuple) else ("renewed", str(outcome)))

    threading.Thread(target=run, name="build-lease-request", daemon=True).start()
    try:
        return answer.get(timeout=max(timeout, 0.0))
    except queue.Empty:
        return None


def _fields(body: object) -> tuple[str, int, float, float, bool]:
    """A lease object's holder, epoch, term, until and released (ValueError: not ours)."""
    if not isinstance(body, dict) or "holder" not in body or "released" not in body:
        raise ValueError("not an object with a holder and released")
    holder, released = body["holder"], body["released"]
    if not isinstance(holder, str) or len(holder) > MAX_HOLDER or not holder.isprintable():
        raise ValueError(f"holder: printable text of at most {MAX_HOLDER} characters expected")
    if type(released) is not bool:
        raise ValueError("released: true or false expected")
    epoch = body.get("epoch", 0)  # a lease of the release before epochs: 0, TERM
    if type(epoch) is not int or not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"epoch: a whole number from 0 to {MAX_EPOCH} expected")
    term, until = _number(body, "term", TERM), _number(body, "until")
    if not 0 < term <= MAX_TERM:
        raise ValueError(f"term: {term:g} s is not in (0, {MAX_TERM:g}]")
    if not 0 <= until <= MAX_UNTIL:
        raise ValueError(f"until: {until:g} is no time from 1970 to the year 9999")
    return holder, epoch, term, until, released


def _number(body: dict[str, object], name: str, default: float | None = None) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: a finite number expected")
    return float(value)


__all__ = ["KEY", "TERM", "BuildLease", "Grant", "Lease"]
