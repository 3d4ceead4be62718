"""The instance's PostgreSQL: its URL, a check that it answers, the build slot's advisory lock."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.lock import Owner

if TYPE_CHECKING:  # imported where a build runs only: the no-op build never imports dagster
    import dagster as dg

URL_FORM = "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE"
"""dagster-postgres's driver is psycopg2 (SQLAlchemy reads `postgresql://` as psycopg 3)."""
POSTGRES_EXTRA = "PostgreSQL needs the postgres extra: pip install 'registry-pipeline[postgres]'"
_reachable: set[str] = set()
"""URLs this process has connected to once."""
SLOT_TABLE = "registry_pipeline_build_slot"
SLOT_NAME = "registry-pipeline build slot"
LOCK_KEY = int.from_bytes(hashlib.sha256(SLOT_NAME.encode()).digest()[:8], "big", signed=True)
"""The advisory lock's key: one per database, as one database serves one workspace."""
DB_REQUIRED = frozenset({"username", "hostname", "db_name"})
"""The fields of `postgres_db` that have no default in Dagster's PostgreSQL storage config."""


def postgres_settings(settings: Mapping[str, Any]) -> Any:
    """A dagster.yaml's PostgreSQL storage config (of `storage` or the event log); else None."""
    storage = settings.get("storage")
    if isinstance(storage, dict) and "postgres" in storage:
        return storage["postgres"]
    event_log = settings.get("event_log_storage")
    module = str(event_log.get("module", "")) if isinstance(event_log, dict) else ""
    if isinstance(event_log, dict) and module.startswith("dagster_postgres"):
        return event_log.get("config")
    return None


def postgres_url(home: Path, settings: Mapping[str, Any]) -> str | None:
    """The URL of the PostgreSQL storage in `settings` (dagster.yaml), by `pg_url_from_config`."""
    raw = postgres_settings(settings)
    if raw is None:
        return None
    if not isinstance(raw, dict) or ("postgres_url" in raw) == ("postgres_db" in raw):
        raise _invalid(home, "give exactly one of postgres_url and postgres_db")
    config: dict[str, Any]
    if "postgres_url" in raw:
        config = {"postgres_url": _source(home, "postgres_url", raw["postgres_url"])}
    else:
        fields = raw["postgres_db"]
        if not isinstance(fields, dict) or not DB_REQUIRED.issubset(fields):
            raise _invalid(home, f"postgres_db needs {', '.join(sorted(DB_REQUIRED))}")
        config = {"postgres_db": {key: _db_field(home, key, fields[key]) for key in fields}}
    try:
        from dagster_postgres.utils import pg_url_from_config
    except ImportError as exc:
        message = f"the instance is kept in PostgreSQL, and {exc}: {POSTGRES_EXTRA}"
        raise storage_error(home, message) from None
    return str(pg_url_from_config(config))


def _db_field(home: Path, key: str, value: Any) -> Any:
    """One field of `postgres_db`: `params` a mapping kept as is, `port` an IntSource."""
    if key != "params":
        return _source(home, f"postgres_db.{key}", value, int if key == "port" else str)
    if not isinstance(value, dict):
        raise _invalid(home, f"postgres_db.params is not a mapping (a {type(value).__name__})")
    return value


def _source(home: Path, field: str, value: Any, kind: type[str] | type[int] = str) -> Any:
    """A value of Dagster's StringSource or IntSource: as written, or `{env: NAME}` read now."""
    expected = "a whole number" if kind is int else "a string"
    # the messages show no value: the one misspelled may be a password
    wrong = f"{field} is neither {expected} nor {{env: NAME}}"
    if not isinstance(value, dict):
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _invalid(home, f"{wrong} (a {type(value).__name__})")
        if field == "postgres_url" and not value:
            raise _invalid(home, "postgres_url is empty")
        return value
    variable = value.get("env") if len(value) == 1 else None
    if not isinstance(variable, str):
        raise _invalid(home, f"{wrong} (a mapping with keys {', '.join(map(str, value))})")
    found = os.environ.get(variable)
    if found is None or (field == "postgres_url" and not found):
        raise _unset(home, field, variable)
    if kind is not int:
        return found
    if not found.strip().isdigit():
        raise _invalid(home, f"{field}: ${variable} is not a whole number")
    return int(found)


def _invalid(home: Path, reason: str) -> RegistryError:
    return storage_error(home, f"the PostgreSQL storage of {home / 'dagster.yaml'}: {reason}")


def _unset(home: Path, field: str, variable: str) -> RegistryError:
    if field != "postgres_url":
        return _invalid(home, f"{field} is read from ${variable}, which is not set")
    return storage_error(
        home,
        f"the Dagster instance is kept in PostgreSQL, and its URL is read from ${variable}, "
        f"which is not set: export {variable}={URL_FORM} (or move "
        f"{home / 'dagster.yaml'} aside to go back to SQLite)",
    )


def check_reachable(home: Path, url: str, settings: Mapping[str, Any]) -> None:
    """Connect once per process and URL; DAGSTER_STORAGE with its reason (no password)."""
    raw = postgres_settings(settings)
    if url in _reachable or (isinstance(raw, dict) and raw.get("auth_provider")):
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    shown = "(not shown: it does not parse)"
    try:
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
        if parsed.drivername != "postgresql+psycopg2":
            raise ArgumentError(f"the scheme is {parsed.drivername}://, not postgresql+psycopg2://")
        engine = create_engine(parsed, poolclass=NullPool, connect_args={"connect_timeout": 10})
        try:
            engine.connect().close()
        finally:
            engine.dispose()
    except ArgumentError as exc:
        message = f"the Dagster instance's PostgreSQL URL {shown} is not usable: {exc}"
        raise storage_error(home, f"{message}; write it as {URL_FORM}") from None
    except SQLAlchemyError as exc:
        reason = first_lines(getattr(exc, "orig", None) or exc)
        raise storage_error(
            home, f"cannot connect to the Dagster instance's PostgreSQL database {shown}: {reason}"
        ) from None
    _reachable.add(url)


def config_error(message: str) -> str:
    """Dagster's config error without its stack trace: `... failed: X: the reason` -> reason."""
    head = message.split("\n\nStack Trace:")[0].strip()
    return head.rsplit("Error: ", 1)[-1].strip() if "Error: " in head else head


def first_lines(error: object) -> str:
    """An error's message on one line, without SQLAlchemy's background link."""
    text = str(error).split("(Background on this error")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def storage_error(home: Path, reason: str) -> RegistryError:
    return RegistryError.of("DAGSTER_STORAGE", path=home, reason=reason)


def postgres_slot(instance: dg.DagsterInstance) -> AdvisorySlot | None:
    """The build slot's medium in `instance`'s PostgreSQL database; None when it is not one."""
    storage: Any = instance.run_storage
    if not type(storage).__module__.startswith("dagster_postgres."):
        return None
    return AdvisorySlot(storage.postgres_url, getattr(storage, "_token_provider", None))


class AdvisorySlot:
    """The build slot in the instance's database: a lock on its own connection, freed at release."""

    where = f"the advisory lock {LOCK_KEY} of the Dagster instance's database"
    poll = 0.25

    def __init__(self, url: str, token: Any = None) -> None:
        self.url = url
        self.token = token  # the instance's own login, if a token
        self._engine: Any = None
        self._connection: Any = None
        self._holder: str | None = None

    def _connect(self) -> Any:
        if self._connection is None:
            from dagster_postgres.utils import create_pg_engine
            from sqlalchemy.pool import NullPool

            self._engine = create_pg_engine(
                self.url, self.token, poolclass=NullPool, isolation_level="AUTOCOMMIT"
            )
            self._connection = self._engine.connect()
        return self._connection

    def _sql(self, statement: str, **params: Any) -> Any:
        from sqlalchemy import text

        return self._connect().execute(text(statement), params)

    def try_take(self, owner: Owner) -> bool:
        if not self._sql("SELECT pg_try_advisory_lock(:key)", key=LOCK_KEY).scalar():
            return False
        self._holder = owner.holder
        self._sql(
            f"CREATE TABLE IF NOT EXISTS {SLOT_TABLE} (slot TEXT PRIMARY KEY, holder TEXT NOT "
            "NULL, since TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        self._sql(
            f"INSERT INTO {SLOT_TABLE} (slot, holder) VALUES (:slot, :holder) ON CONFLICT "
            "(slot) DO UPDATE SET holder = excluded.holder, since = now()",
            slot=SLOT_NAME,
            holder=owner.holder,
        )
        return True

    def holder(self) -> str:
        """Who holds the slot, as its row says ("a build on another machine" before any row)."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            select = f"SELECT holder, since FROM {SLOT_TABLE} WHERE slot = :slot"
            row = self._sql(select, slot=SLOT_NAME).first()
        except SQLAlchemyError:  # no table yet: the first holder is creating it
            row = None
        if row is None:
            return "a build on another machine"
        return f"{row[0]} (since {row[1].astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"

    def release(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            if self._connection is not None and self._holder is not None:
                delete = f"DELETE FROM {SLOT_TABLE} WHERE slot = :slot AND holder = :holder"
                self._sql(delete, slot=SLOT_NAME, holder=self._holder)
                self._sql("SELECT pg_advisory_unlock(:key)", key=LOCK_KEY)
        except SQLAlchemyError:
            pass  # the connection is gone: the server has dropped the lock already
        finally:
            connection, engine = self._connection, self._engine
            self._connection = self._engine = self._holder = None
            if connection is not None:
                connection.close()
            if engine is not None:
                engine.dispose()  # closing the connection drops the advisory lock in any case
