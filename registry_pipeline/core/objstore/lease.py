"""One build at a time across machines that share only a bucket: a lease object.

`locks/build.json` names its holder (pid, command, host, since) and when the lease ends. Taking
it is one conditional write: create when there is none, else replace (If-Match on the ETag just
read) one that was released or has ended; of two machines racing, one write wins. The holder
renews it (If-Match again) every third of its term from a thread of its own, so a holder that
is killed frees the slot within one term (TERM, 60 s) without anyone freeing it by hand. Terms
compare the machines' clocks: keep them in sync (NTP), as for any lease.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore.store import Conflict, ObjectStore

KEY = "locks/build.json"
TERM = 60.0
POLL = 0.5


@dataclass(frozen=True)
class Holder:
    """Who holds the lease, as its object says."""

    holder: str
    until: float
    released: bool
    token: str | None = None
    """What the holder lets its delegate name (`registry build`: the id of the run it launched)."""

    @property
    def free(self) -> bool:
        return self.released or self.until < time.time()


class BuildLease:
    """The build slot of one store: `hold()` for the length of a build."""

    def __init__(self, store: ObjectStore, key: str = KEY, term: float = TERM) -> None:
        self.store = store
        self.key = key
        self.term = term

    def current(self) -> tuple[Holder | None, str | None]:
        """The lease as it is now and its ETag (None, None: never taken)."""
        blob = self.store.get(self.key)
        if blob is None:
            return None, None
        try:
            body = json.loads(blob.data)
            token = body.get("token")
            holder = Holder(
                str(body["holder"]),
                float(body["until"]),
                bool(body["released"]),
                None if token is None else str(token),
            )
            return holder, blob.etag
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(
                f"{self.key} is not a lease this release wrote ({exc})",
                code="REMOTE_STATE_INVALID",
                path=f"{self.store.url}/{self.key}",
            ) from None

    @contextmanager
    def hold(
        self,
        command: str,
        wait: float,
        on_wait: Callable[[str], None] | None = None,
        token: str | None = None,
    ) -> Iterator[str]:
        """Take the lease (waiting up to `wait` seconds for its holder), keep it renewed, and
        release it at the end, however the block ends; BUILD_IN_PROGRESS naming the holder when
        it stays taken. Yields the holder text written. The holder names `token`; a request
        naming the token of a live holder is its delegate (the run `registry build` launched,
        perhaps on another machine) and goes on without taking the lease."""
        me = f"pid {os.getpid()} ({command}) on {socket.gethostname()} since " + datetime.now(
            UTC
        ).strftime("%Y-%m-%dT%H:%M:%SZ")
        etag = self._take(me, wait, on_wait, token)
        if etag is None:
            yield me
            return
        lock = threading.Lock()
        stop = threading.Event()
        state = {"etag": etag}

        def renew() -> None:
            while not stop.wait(self.term / 3):
                with lock:
                    try:
                        state["etag"] = self.store.replace(
                            self.key, self._body(me, False, token), state["etag"]
                        )
                    except (Conflict, RegistryError):
                        return  # taken over (we were too late) or unreachable: stop renewing

        renewer = threading.Thread(target=renew, name="build-lease", daemon=True)
        renewer.start()
        try:
            yield me
        finally:
            stop.set()
            renewer.join()
            # taken over after our term ended, or unreachable: then it ends by itself
            with contextlib.suppress(Conflict, RegistryError):
                self.store.replace(self.key, self._body(me, True, token), state["etag"])

    def _take(
        self, me: str, wait: float, on_wait: Callable[[str], None] | None, token: str | None
    ) -> str | None:
        """The ETag of the lease taken, or None for the live holder's delegate."""
        deadline = time.monotonic() + wait
        told = False
        while True:
            current, etag = self.current()
            try:
                if current is None:
                    return self.store.create(self.key, self._body(me, False, token))
                if current.free and etag is not None:
                    return self.store.replace(self.key, self._body(me, False, token), etag)
            except Conflict:
                continue  # another machine took it first: read who
            assert current is not None
            if token is not None and current.token == token:
                return None
            if time.monotonic() >= deadline:
                raise RegistryError(
                    f"another build holds the workspace: {current.holder} (the lease "
                    f"{self.store.url}/{self.key}, until "
                    f"{datetime.fromtimestamp(current.until, UTC):%H:%M:%SZ})",
                    code="BUILD_IN_PROGRESS",
                    path=f"{self.store.url}/{self.key}",
                )
            if on_wait is not None and not told:
                on_wait(current.holder)
                told = True
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))  # a poll: S3 has no wait

    def _body(self, me: str, released: bool, token: str | None = None) -> bytes:
        until = time.time() + self.term
        body = {"holder": me, "until": until, "released": released, "token": token,
                "nonce": uuid4().hex}  # fmt: skip
        return json.dumps(body, sort_keys=True).encode()
