"""A journal and its state shared through a bucket by conditional writes, fenced (docs/SCALE.md)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import uuid4

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.objstore.store import Conflict, ObjectStore

FORMAT = "registry-remote-head-1"
DIGITS = 12
ENTRY_NAME = re.compile(rf"[0-9]{{{DIGITS}}}\.json", re.ASCII)
"""The one name of a journal entry (`entry_key`): no other object belongs under journal/."""
MAX_EPOCH = 2**63 - 1
"""The highest lease epoch and fence: a fence above it is no object this release wrote."""


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
            seq, state = body["seq"], body["state"]
            if type(seq) is not int or seq < 0:  # int() would read "１２", 12.9 or true
                raise ValueError(f"seq {seq!r}")
            if not isinstance(state, str):
                raise ValueError("a state that is not text")
            return Head(seq, state, blob.etag, _fence(body))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._invalid(self.head_key, exc) from None

    def begin(self) -> None:
        """Create the empty head where there is none (one there is kept, whatever it holds)."""
        if self.store.get(self.head_key) is None:
            with contextlib.suppress(Conflict):
                self.advance(Head(0, "", None), 0, "")

    def records(self, after: int, *, strict: bool = True) -> Iterator[Entry]:
        """The entries after `after`, in order, up to a gap; a non-entry is REMOTE_STATE_INVALID."""
        expected = after + 1
        for key in self.store.keys(f"{self.prefix}journal/", after=self.entry_key(after)):
            seq = self._seq(key)
            if seq is None:
                raise self._invalid(key, ValueError("no entry is named so"))
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
                if entry.fence and entry.text:  # its text would be neither checked nor applied
                    raise TypeError("a fence entry holds no text")
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
                if strict:
                    raise self._invalid(key, exc) from None
                entry = Entry(seq, "", invalid=f"{type(exc).__name__}: {exc}"[:300])
            yield entry
            expected += 1

    def strays(self) -> list[str]:
        """The objects under journal/ that are no entry (`pointers repair` sets them aside)."""
        return [key for key in self.store.keys(f"{self.prefix}journal/") if self._seq(key) is None]

    def _seq(self, key: str) -> int | None:
        """The number of the entry `key` names exactly, else None (`12.json`, `０１２.json`)."""
        name = key.removeprefix(f"{self.prefix}journal/")
        return int(name[:DIGITS]) if ENTRY_NAME.fullmatch(name) else None

    def append(self, seq: int, entry: str, fence: int = 0) -> None:
        """Create entry `seq` (a fence entry if `fence` > 0); Conflict if another wrote it first."""
        fields: dict[str, object] = {"seq": seq, "entry": entry}
        self.store.create(self.entry_key(seq), _body(fields | ({"fence": fence} if fence else {})))

    def advance(self, head: Head, seq: int, state: str, fence: int = 0) -> Head:
        """Replace `head` by the state after entry `seq`; Conflict when the head moved since."""
        fence = max(head.fence, fence)
        body = _body({"format": FORMAT, "seq": seq, "state": state, "fence": fence})
        if head.etag is None:
            etag = self.store.create(self.head_key, body)
        else:
            etag = self.store.replace(self.head_key, body, head.etag)
        return Head(seq, state, etag, fence)

    def fence(self, epoch: int) -> None:
        """Refuse every later commit under an epoch below `epoch`; a fence as high is kept."""
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
        """BUILD_LEASE_LOST when `head` is fenced above the writer's `epoch` (None: no lease)."""
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
    """A body's fence, a whole number (0 when absent)."""
    fence = body.get("fence", 0)
    if type(fence) is not int or not 0 <= fence <= MAX_EPOCH:
        raise ValueError(f"fence {fence!r}")
    return fence


def _body(fields: dict[str, object]) -> bytes:
    nonce = {"host": socket.gethostname(), "pid": os.getpid(), "nonce": uuid4().hex}
    return json.dumps({**fields, "written_by": nonce}, sort_keys=True).encode()


__all__ = ["Conflict", "Entry", "Head", "Ledger"]
