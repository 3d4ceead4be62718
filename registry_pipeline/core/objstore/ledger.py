"""A journal in a bucket: one object per entry, each created only where none is (If-None-Match),
so two writers never both write entry N; no head object: the last entry is (docs/POINTERS.md)."""

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
from registry_pipeline.core.objstore.store import Conflict, ObjectStore, not_ours

DIGITS = 12
ENTRY_NAME = re.compile(rf"[0-9]{{{DIGITS}}}\.json", re.ASCII)
"""The one name of a journal entry (`entry_key`): no other object belongs under journal/."""
MAX_EPOCH = 2**63 - 1
"""The highest lease epoch and fence: a fence above it is no object this release wrote."""
LEGACY_HEAD = "head.json"
"""Where the release before entries carried their pointer file kept it, for the entry it named."""


@dataclass(frozen=True)
class Entry:
    """Entry `seq`: journal lines and the pointer file after them (a change), or a fence (`fence`
    > 0, nothing else); entry 0, empty, begins a history."""

    seq: int
    text: str = ""
    state: str | None = None
    """The pointer file after this entry (a change; None: one the release before wrote)."""
    fence: int = 0
    etag: str = ""
    invalid: str | None = None
    """Why the object is not an entry this release writes (`read(strict=False)` only)."""

    @property
    def changes(self) -> bool:
        """Whether it is a change (what it holds is applied), not a fence nor entry 0."""
        return bool(self.text or self.state is not None or self.invalid)


class Ledger:
    """The journal under `prefix` ('pointers/') of one store."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix.strip("/") + "/"

    def entry_key(self, seq: int) -> str:
        return f"{self.prefix}journal/{seq:0{DIGITS}d}.json"

    def listed(self, after: int) -> list[tuple[int, str]]:
        """(number, ETag) of the entries after entry `after`, in order (no read of one); an
        object there that is no entry is REMOTE_STATE_INVALID."""
        found = []
        for key, etag in self.store.listing(f"{self.prefix}journal/", self.entry_key(after)):
            name = key.removeprefix(f"{self.prefix}journal/")
            if not ENTRY_NAME.fullmatch(name):  # `12.json`, `０１２.json`, `sub/...`: no entry
                raise self._invalid(key, ValueError("no entry is named so"))
            found.append((int(name[:DIGITS]), etag))
        return found

    def read(self, seq: int, *, strict: bool = True) -> Entry | None:
        """Entry `seq` (None: there is none); not one this release writes: REMOTE_STATE_INVALID,
        or with `strict=False` an entry saying why (`invalid`)."""
        key = self.entry_key(seq)
        blob = self.store.get(key)
        if blob is None:
            return None
        try:
            body = loads_strict(blob.data)
            if not isinstance(body, dict) or not isinstance(body["entry"], str):
                raise TypeError("an entry is an object whose `entry` is a string")
            state = body.get("state")
            if state is not None and not isinstance(state, str):
                raise TypeError("its state is not text")
            entry = Entry(seq, body["entry"], state, _fence(body), blob.etag)
            if entry.fence and (entry.text or state is not None):  # never checked nor applied
                raise TypeError("a fence entry holds no text")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            if strict:
                raise self._invalid(key, exc) from None
            return Entry(seq, etag=blob.etag, invalid=f"{type(exc).__name__}: {exc}"[:300])
        return entry

    def entries(self, after: int, *, strict: bool = True) -> Iterator[Entry]:
        """The entries after `after`, in order, up to a gap."""
        expected = after + 1
        for seq, _etag in self.listed(after):
            entry = self.read(seq, strict=strict) if seq == expected else None
            if entry is None:
                return
            yield entry
            expected += 1

    def create(self, seq: int, text: str = "", state: str | None = None, fence: int = 0) -> str:
        """Create entry `seq` (a fence entry if `fence` > 0), its ETag; Conflict if one is there."""
        fields: dict[str, object] = {"seq": seq, "entry": text, "state": state, "fence": fence}
        fields = {name: value for name, value in fields.items() if value not in (None, 0)}
        return self.store.create(self.entry_key(seq), _body(fields))

    def begin(self) -> None:
        """Create entry 0, which says a history has begun (one there is kept, whatever it holds)."""
        with contextlib.suppress(Conflict):
            self.create(0)

    def begun(self) -> bool:
        """Whether a history began here (entry 0, or the release before's head)."""
        return any(self.store.get(key) for key in (self.entry_key(0), self.prefix + LEGACY_HEAD))

    def legacy_state(self) -> str:
        """The pointer file the release before kept in head.json ("" when none)."""
        key = self.prefix + LEGACY_HEAD
        blob = self.store.get(key)
        try:
            state = loads_strict(blob.data)["state"] if blob is not None else ""
            if not isinstance(state, str):
                raise TypeError("a state that is not text")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise self._invalid(key, exc) from None
        return state

    def fence(self, epoch: int, tail: tuple[int, int] | None = None) -> None:
        """Refuse every later change under an epoch below `epoch`: a fence entry after the last
        entry (`tail`, if just read); nothing written when the last fence is as high."""
        while True:
            last, fenced = tail or self.tail()
            if fenced >= epoch:
                return
            with contextlib.suppress(Conflict):  # a writer (or another fence) took that place
                self.create(last + 1, fence=epoch)
                return
            tail = None

    def fenced(self) -> int:
        """The epoch of the last fence entry (0: none), the one changes are held to."""
        return self.tail()[1]

    def tail(self) -> tuple[int, int]:
        """(the last entry's number, the last fence's epoch), read back from the end."""
        numbers = [seq for seq, _etag in self.listed(0)]
        for seq in reversed(numbers):
            entry = self.read(seq)
            if entry is not None and entry.fence:
                return numbers[-1], entry.fence
        return (numbers[-1] if numbers else 0), 0

    def strays(self) -> list[str]:
        """The objects under journal/ that are no entry (`pointers repair` sets them aside)."""
        folder = f"{self.prefix}journal/"
        return [key for key in self.store.keys(folder)
                if not ENTRY_NAME.fullmatch(key.removeprefix(folder))]  # fmt: skip

    def _invalid(self, key: str, exc: Exception) -> RegistryError:
        return not_ours(f"{self.store.url}/{key}", "an object", exc)


def _fence(body: dict[str, object]) -> int:
    """A body's fence, a whole number (0 when absent)."""
    fence = body.get("fence", 0)
    if type(fence) is not int or not 0 <= fence <= MAX_EPOCH:
        raise ValueError(f"fence {fence!r}")
    return fence


def _body(fields: dict[str, object]) -> bytes:
    nonce = {"host": socket.gethostname(), "pid": os.getpid(), "nonce": uuid4().hex}
    return json.dumps({**fields, "written_by": nonce}, sort_keys=True).encode()


__all__ = ["Conflict", "Entry", "Ledger"]
