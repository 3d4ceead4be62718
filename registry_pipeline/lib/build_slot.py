"""The build slot's PostgreSQL backend: machines that share one Dagster instance kept in
PostgreSQL (and so one workspace: docs/DEPLOYMENT.md) build one at a time.

The slot is a session-level advisory lock of the instance's database, held on a connection of
its own for the whole build: the server drops it when that connection closes, however its
holder ends (killed, its machine gone), so nobody ever frees it by hand. Beside it, one row of a
table of our own, `registry_pipeline_build_slot`, says who holds it, so that a waiter names the
holder; Dagster's own tables are not touched. The row is written by the lock's holder only (it
creates the table first if needed), so its writes never race.

On SQLite the instance lives in the workspace, on one machine, where the file lock already
serializes every process that can open it: there is no backend (`postgres_slot` is None).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import dagster as dg

from registry_pipeline.core.workspace.build_slot import POLL_LIMIT, Backend, Waiting, in_progress

SLOT_TABLE = "registry_pipeline_build_slot"
SLOT_NAME = "registry-pipeline build slot"
LOCK_KEY = int.from_bytes(hashlib.sha256(SLOT_NAME.encode()).digest()[:8], "big", signed=True)
"""The advisory lock's key: one per database, as one database serves one workspace."""


def postgres_slot(instance: dg.DagsterInstance) -> Backend | None:
    """The slot's backend on `instance`'s PostgreSQL database; None when it is not PostgreSQL."""
    storage: Any = instance.run_storage
    if not type(storage).__module__.startswith("dagster_postgres."):
        return None
    url = storage.postgres_url
    token = getattr(storage, "_token_provider", None)  # the instance's own login, if a token

    @contextmanager
    def hold(holder: str, wait: float, on_wait: Waiting | None) -> Iterator[None]:
        from dagster_postgres.utils import create_pg_engine
        from sqlalchemy.pool import NullPool

        engine = create_pg_engine(url, token, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                _take(connection, holder, wait, on_wait)
                try:
                    yield
                finally:
                    _release(connection, holder)
        finally:
            engine.dispose()  # closing the connection drops the advisory lock in any case

    return hold


def _take(connection: Any, holder: str, wait: float, on_wait: Waiting | None) -> None:
    from sqlalchemy import text

    deadline = time.monotonic() + max(wait, 0.0)
    delay = 0.02
    take = text("SELECT pg_try_advisory_lock(:key)")
    while not connection.execute(take, {"key": LOCK_KEY}).scalar():
        who = holder_in(connection)
        if time.monotonic() >= deadline:
            where = f"the advisory lock {LOCK_KEY} of the Dagster instance's database"
            raise in_progress(who, where, wait)
        if on_wait is not None:
            on_wait(who)
            on_wait = None
        time.sleep(delay)  # waiting on another machine, not synchronizing a test
        delay = min(delay * 2, POLL_LIMIT)
    connection.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {SLOT_TABLE} (slot TEXT PRIMARY KEY, holder TEXT NOT "
            "NULL, since TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
    )
    connection.execute(
        text(
            f"INSERT INTO {SLOT_TABLE} (slot, holder) VALUES (:slot, :holder) ON CONFLICT (slot) "
            "DO UPDATE SET holder = excluded.holder, since = now()"
        ),
        {"slot": SLOT_NAME, "holder": holder},
    )


def _release(connection: Any, holder: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        connection.execute(
            text(f"DELETE FROM {SLOT_TABLE} WHERE slot = :slot AND holder = :holder"),
            {"slot": SLOT_NAME, "holder": holder},
        )
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    except SQLAlchemyError:
        pass  # the connection is gone: the server has dropped the lock already


def holder_in(connection: Any) -> str:
    """Who holds the slot, as its row says ("a build on another machine" before any row)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        row = connection.execute(
            text(f"SELECT holder, since FROM {SLOT_TABLE} WHERE slot = :slot"), {"slot": SLOT_NAME}
        ).first()
    except SQLAlchemyError:  # no table yet: the first holder is creating it
        return "a build on another machine"
    if row is None:
        return "a build on another machine"
    return f"{row[0]} (since {row[1].astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"
