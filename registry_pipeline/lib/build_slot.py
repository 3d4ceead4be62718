"""One build at a time across machines: the one slot of the pool `registry_build`, held in the
Dagster instance for a whole build when the instance is kept in PostgreSQL.

The workspace's file lock (`core/workspace/build_lock.py`) serializes the processes of one
machine; processes of several machines that share one PostgreSQL instance (and one workspace)
meet here, in the instance's own concurrency tables: the pool `registry_build` with limit 1,
which the UI lists under Deployment > Concurrency with who holds its slot.

- A holder is its slot row: `run_id` is its token (the Dagster run's id for a run the UI or a
  schedule launched; `registry-build-for-<run id>` for `registry build`, naming the run it
  executes; else `registry-build-<uuid>`), `step_key` says who it is (pid, command, host,
  since when).
- The claim is one conditional `UPDATE` of the pool's free row (`... WHERE run_id IS NULL`):
  PostgreSQL lets exactly one of two racing claimers change it. Dagster's own
  `claim_concurrency_slot` reads, then writes, over autocommit connections, so two processes
  can both see the slot free; it is not used for that reason. Release changes only the
  holder's own row (the steps of one run in several processes share its token).
- A holder that dies frees its slot: before claiming, the holder takes a PostgreSQL advisory
  lock named after its row, on a connection it keeps for the whole build. The server drops the
  lock when that connection closes, however the process ends, so a waiter that can take the
  lock of the slot's holder knows the holder is gone and frees the slot, as the kernel frees
  the file lock of a killed build.
- Re-entrant in one thread, like the file lock: `registry build` holds the slot and the
  `build_lock` resource of the run it executes in process asks again.
- Delegated, like the file lock: `registry build` holds the slot naming the Dagster run it
  executes (`registry-build-for-<run id>`); that run's `build_lock` resource (in a run worker,
  another process) asks with its run id as token, finds the slot held, by a holder alive, for
  that very run, and goes on without claiming it. Every other run waits (a re-execution has a
  new run id; a holder's own token names no delegate).

On SQLite the instance lives in the workspace, on one machine, where the file lock already
serializes every process that can open it: there the slot is not used.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.workspace.build_lock import DEFAULT_WAIT, BuildInProgress
from registry_pipeline.lib.instance import open_instance, uses_postgres

BUILD_POOL = "registry_build"
"""The pool whose one slot a build holds: one per instance, and an instance per workspace (a
PostgreSQL database serves one workspace; docs/DEPLOYMENT.md)."""

DELEGATING = "registry-build-for-"
"""The token of a holder that names its delegate: this, then the delegate run's id."""
_held: dict[tuple[str, int], int] = {}
"""(workspace root, thread id) -> how many times that thread holds the slot (re-entrance)."""
_guard = threading.Lock()


@contextmanager
def workspace_build_slot(
    root: Path,
    *,
    wait: float = DEFAULT_WAIT,
    command: str = "build",
    on_wait: Callable[[str], None] | None = None,
    delegate: str | None = None,
) -> Iterator[None]:
    """`build_slot` on the workspace's own instance, opened only when it is on PostgreSQL."""
    if _reentered(root) or not uses_postgres(root):
        yield
        return
    with (
        open_instance(root) as instance,
        build_slot(instance, root, wait=wait, command=command, on_wait=on_wait, delegate=delegate),
    ):
        yield


@contextmanager
def build_slot(
    instance: dg.DagsterInstance | None,
    root: Path,
    *,
    wait: float = DEFAULT_WAIT,
    command: str = "build",
    token: str | None = None,
    on_wait: Callable[[str], None] | None = None,
    delegate: str | None = None,
) -> Iterator[None]:
    """Hold the instance's build slot for the block, waiting up to `wait` seconds for it (then
    BUILD_IN_PROGRESS naming the holder); `on_wait` is told once, with the holder, when it is
    busy. `token` names the holder in the instance (a Dagster run id; else one is made); a
    holder names the run `delegate` (its token is then `registry-build-for-<delegate>`). A
    request whose `token` a live holder names its delegate claims nothing (module doc)."""
    key = (os.path.realpath(root), threading.get_ident())
    with _guard:
        depth = _held.get(key, 0)
        if depth:
            _held[key] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    storage = instance.event_log_storage if instance is not None else None
    if storage is None or not _on_postgres(storage):
        yield  # SQLite: the file lock serializes every process of the one machine
        return
    label = (
        f"pid {os.getpid()} ({command}) on {socket.gethostname()} "
        f"since {now_utc().strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    if delegate is not None:
        token = f"{DELEGATING}{delegate}"
    with _Claimer(storage, token or f"registry-build-{uuid.uuid4().hex}", label) as claimer:
        if not claimer.acquire(wait, on_wait):  # the holder's delegate: it keeps the slot
            yield
            return
        with _guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _guard:
                _held.pop(key, None)


def slot_holders(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """(token, who) of whoever holds the build slot now (empty when free, or not PostgreSQL)."""
    storage = instance.event_log_storage
    if not _on_postgres(storage) or BUILD_POOL not in storage.get_concurrency_keys():
        return []
    info = storage.get_concurrency_info(BUILD_POOL)
    return [(slot.run_id, slot.step_key) for slot in info.claimed_slots]


def _reentered(root: Path) -> bool:
    with _guard:
        return bool(_held.get((os.path.realpath(root), threading.get_ident())))


def _on_postgres(storage: Any) -> bool:
    """Whether the event log storage is dagster-postgres's (read without importing it)."""
    return type(storage).__module__.startswith("dagster_postgres.")


class _Claimer:
    """One holder's connection: its advisory lock (its liveness), its claim and its release.
    Leaving it releases the claim (if made) and closes the connection (dropping the lock)."""

    def __init__(self, storage: Any, token: str, label: str) -> None:
        from dagster_postgres.utils import create_pg_engine
        from sqlalchemy.pool import NullPool

        self.storage, self.token, self.label = storage, token, label
        self.engine = create_pg_engine(
            storage.postgres_url,
            getattr(storage, "_token_provider", None),  # the instance's own login, if a token
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
        )

    def __enter__(self) -> _Claimer:
        self.connection = self.engine.connect()  # NullPool: nothing else to close
        try:
            self._advisory("pg_advisory_lock", self.token, self.label)  # before any claim
        except BaseException:
            self.connection.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._free(self.token, self.label)
        finally:
            self.connection.close()  # drops the advisory lock
            self.engine.dispose()

    def acquire(self, wait: float, on_wait: Callable[[str], None] | None) -> bool:
        """Claim the slot, freeing it from a holder that is gone, waiting up to `wait` s; False
        (nothing claimed) when a live holder holds it under this claimer's own token."""
        self._ensure_pool()
        deadline = time.monotonic() + max(wait, 0.0)
        delay = 0.02
        while not self._claim():
            holders = [h for h in self._holders() if h != (self.token, self.label)]
            if any(self._free_if_gone(token, who) for token, who in holders):
                continue  # claim again at once
            if any(token == f"{DELEGATING}{self.token}" for token, _who in holders):
                return False  # held, alive (not freed just above), by the one that named us
            if not holders:  # freed meanwhile, or the pool's limit was changed (in the UI)
                self._ensure_pool()
            who = "; ".join(who for _token, who in holders) or "a build that is just finishing"
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait:g} s" if wait > 0 else ""
                raise BuildInProgress(
                    f"another build of this workspace is running: {who}, holding the pool "
                    f"{BUILD_POOL} of the workspace's Dagster instance{waited}; retry when it "
                    "finishes or pass --wait SECONDS"
                )
            if on_wait is not None:
                on_wait(f"waiting up to {wait:g} s for another build of this workspace: {who} "
                        f"(the pool {BUILD_POOL} of the Dagster instance; Ctrl-C to stop "
                        "waiting)")  # fmt: skip
                on_wait = None
            time.sleep(delay)  # waiting on another process, not synchronizing a test
            delay = min(delay * 2, 0.5)
        return True

    def _ensure_pool(self) -> None:
        """The pool exists with limit 1 (two first builds may race to create it: one wins)."""
        from sqlalchemy.exc import IntegrityError

        for attempt in range(3):
            info = self.storage.get_concurrency_info(BUILD_POOL)
            if info.slot_count == 1 and info.limit == 1:
                return
            try:
                self.storage.set_concurrency_slots(BUILD_POOL, 1)
            except IntegrityError:
                if attempt == 2:
                    raise

    def _claim(self) -> bool:
        from sqlalchemy import select

        free = (
            select(_slots().c.id)
            .where(
                _slots().c.concurrency_key == BUILD_POOL,
                _slots().c.run_id.is_(None),
                _slots().c.deleted.is_(False),
            )
            .order_by(_slots().c.id)
            .limit(1)
            .scalar_subquery()
        )
        claim = (
            _slots()
            .update()
            .where(_slots().c.id == free, _slots().c.run_id.is_(None))
            .values(run_id=self.token, step_key=self.label)
        )
        return bool(self.connection.execute(claim).rowcount == 1)

    def _holders(self) -> list[tuple[str, str]]:
        info = self.storage.get_concurrency_info(BUILD_POOL)
        return [(slot.run_id, slot.step_key) for slot in info.claimed_slots]

    def _free_if_gone(self, token: str, who: str) -> bool:
        """Free the holder's slot if its advisory lock is free (its connection is closed)."""
        if not self._advisory("pg_try_advisory_lock", token, who):
            return False
        try:
            self._free(token, who)
        finally:
            self._advisory("pg_advisory_unlock", token, who)
        return True

    def _free(self, token: str, who: str) -> None:
        """Release one holder's row (a row the pool's limit removed meanwhile is deleted)."""
        slots = _slots()
        mine = (
            slots.c.concurrency_key == BUILD_POOL,
            slots.c.run_id == token,
            slots.c.step_key == who,
        )
        self.connection.execute(slots.delete().where(*mine, slots.c.deleted.is_(True)))
        self.connection.execute(slots.update().where(*mine).values(run_id=None, step_key=None))

    def _advisory(self, function: str, token: str, who: str) -> bool:
        from sqlalchemy import func, select

        name = f"registry-pipeline build slot\n{token}\n{who}".encode()
        lock_id = int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)
        return bool(self.connection.execute(select(getattr(func, function)(lock_id))).scalar())


def _slots() -> Any:
    """Dagster's table of concurrency slots (its event log storage's schema)."""
    from dagster._core.storage.event_log.schema import ConcurrencySlotsTable

    return ConcurrencySlotsTable
