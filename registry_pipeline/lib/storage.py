"""Dagster's SQLite storage with connections kept open, WAL synced NORMAL (docs/benchmarks.md)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

KEPT_SHARDS = 8
"""Engines kept open per process: the run index, the runs database, a few recent run shards."""


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class _Engines:
    """Open engines by connection string, most recently used last, for this process only."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, conn_string: str) -> Engine:
        """The engine of `conn_string`, made if this process has none open."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours
                for inherited in self._engines.values():
                    inherited.dispose(close=False)
                self._engines.clear()
                self._pid = os.getpid()
            kept = self._engines.get(conn_string)
            if kept is not None:
                self._engines.move_to_end(conn_string)
                return kept
            # SQLAlchemy's default pool for a SQLite file: connections are returned to it, not
            # closed; a nested use in one thread gets a connection of its own
            engine = create_engine(
                conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )
            event.listen(engine, "connect", _pragmas)
            self._engines[conn_string] = engine
            while len(self._engines) > KEPT_SHARDS:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class _Kept:
    """A Dagster SQLite storage whose engines are this process's kept ones (see the module)."""

    def __init__(self, where: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines = _Engines()
        super().__init__(where, inst_data)  # type: ignore[call-arg]  # the storage's own

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class KeptSqliteEventLogStorage(_Kept, SqliteEventLogStorage):
    """Dagster's sharded SQLite event log with kept connections."""

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engines.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as connection, connection.begin():
                yield connection


class KeptSqliteRunStorage(_Kept, SqliteRunStorage):
    """Dagster's SQLite run storage with its connection kept."""

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        engine = self._engines.get(self._conn_string)
        with engine.connect() as connection, connection.begin():
            yield connection


class KeptSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage under `base_dir`, its run and event log connections kept."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        self._run_storage = KeptSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = KeptSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()  # type: ignore[no-untyped-call]

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> KeptSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
