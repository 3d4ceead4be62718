"""The Dagster instance's PostgreSQL storage as its dagster.yaml names it: the URL (environment
variables read by Dagster's own config schema) and one connection to check it, so that a wrong
URL, a server that is down, a refused login or a missing database fail at once with the
server's reason, as DAGSTER_STORAGE, instead of after dagster-postgres's retries (about 12 s)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError

URL_FORM = "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE"
"""dagster-postgres's driver is psycopg2; SQLAlchemy 2.1 reads a plain `postgresql://` as
psycopg 3, which is not installed."""
POSTGRES_EXTRA = "PostgreSQL needs the postgres extra: pip install 'registry-pipeline[postgres]'"
_reachable: set[str] = set()
"""URLs this process has connected to once."""


def postgres_settings(settings: Mapping[str, Any]) -> Any:
    """The PostgreSQL storage's config in a dagster.yaml (`storage: postgres:`, or the event log
    storage's config when each storage is configured on its own); None for any other storage."""
    storage = settings.get("storage")
    if isinstance(storage, dict) and "postgres" in storage:
        return storage["postgres"]
    event_log = settings.get("event_log_storage")
    module = str(event_log.get("module", "")) if isinstance(event_log, dict) else ""
    if isinstance(event_log, dict) and module.startswith("dagster_postgres"):
        return event_log.get("config")
    return None


def postgres_url(home: Path, settings: Mapping[str, Any]) -> str | None:
    """The URL of the PostgreSQL storage in `settings` (the home's dagster.yaml), or None."""
    raw = postgres_settings(settings)
    if raw is None:
        return None
    source = raw.get("postgres_url") if isinstance(raw, dict) else None
    variable = source.get("env") if isinstance(source, dict) else None
    if isinstance(variable, str) and not os.environ.get(variable):
        raise _error(
            home,
            f"the Dagster instance is kept in PostgreSQL, and its URL is read from ${variable}, "
            f"which is not set: export {variable}={URL_FORM} (or move "
            f"{home / 'dagster.yaml'} aside to go back to SQLite)",
        )
    from dagster._config import process_config
    from dagster._core.storage.config import pg_config

    result = process_config(pg_config(), raw)
    if not result.success or result.value is None:
        reason = "; ".join(config_error(error.message) for error in result.errors or ())
        raise _error(home, f"the PostgreSQL storage of {home / 'dagster.yaml'}: {reason}")
    try:
        from dagster_postgres.utils import pg_url_from_config
    except ImportError as exc:
        message = f"the instance is kept in PostgreSQL, and {exc}: {POSTGRES_EXTRA}"
        raise _error(home, message) from None
    return str(pg_url_from_config(result.value))


def check_reachable(home: Path, url: str, settings: Mapping[str, Any]) -> None:
    """Connect once (per process and URL); DAGSTER_STORAGE with the reason when that fails.
    The URL is shown with its password hidden. A storage that logs in with a cloud token
    (`auth_provider`) is left to dagster-postgres, which fetches the token."""
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
        raise _error(home, f"{message}; write it as {URL_FORM}") from None
    except SQLAlchemyError as exc:
        reason = first_lines(getattr(exc, "orig", None) or exc)
        raise _error(
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


def _error(home: Path, message: str) -> RegistryError:
    return RegistryError(message, code="DAGSTER_STORAGE", path=str(home))
