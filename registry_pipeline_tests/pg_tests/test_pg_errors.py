"""An unusable PostgreSQL is DAGSTER_STORAGE, exit 1, no password; a user's dagster.yaml is kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.lib.instance import (
    POSTGRES_INSTANCE_CONFIG,
    POSTGRES_URL_ENV,
    dagster_home,
    open_instance,
    storage_errors,
)
from registry_pipeline.lib.postgres import postgres_url
from registry_pipeline_tests._helpers import Run
from registry_pipeline_tests.pg_tests._server import (
    LOCKED,
    PASSWORD,
    PostgresServer,
    closed_port,
)

Env = Callable[[str], dict[str, str]]
BAD_URLS: dict[str, tuple[Callable[[PostgresServer, str], str], str]] = {
    "server down": (
        lambda server, db: server.url(db, port=closed_port()),
        "Connection refused",
    ),
    "no such database": (lambda server, _db: server.url("no_such_db"), "does not exist"),
    "refused login": (
        lambda server, db: server.url(db, role=LOCKED, password="wrong-pw"),
        f'password authentication failed for user "{LOCKED}"',
    ),
    "plain postgresql scheme": (
        lambda server, db: server.url(db).replace("postgresql+psycopg2://", "postgresql://"),
        "the scheme is postgresql://, not postgresql+psycopg2://",
    ),
    "postgres scheme": (
        lambda server, db: server.url(db).replace("postgresql+psycopg2://", "postgres://"),
        "the scheme is postgres://",
    ),
    "not a URL": (lambda _server, _db: f"127.0.0.1 {PASSWORD}", "it does not parse"),
}


@pytest.mark.parametrize("case", BAD_URLS)
def test_an_unusable_url_is_dagster_storage_with_its_reason(
    cli: Run, demo: Path, pg_server: PostgresServer, pg_url: str, pg_env: Env, case: str
) -> None:
    make, reason = BAD_URLS[case]
    pg_env(make(pg_server, pg_url.rsplit("/", 1)[1]))
    home = demo / ".codex" / "dagster_home"
    code, out, err = cli("build", "--workspace", str(demo))
    assert code == 1 and out == ""
    assert err.startswith(f"error: DAGSTER_STORAGE {home}:"), err
    assert reason in err and PASSWORD not in err and "wrong-pw" not in err
    assert sorted(p.name for p in (demo / ".codex" / "RUNS").iterdir()) == [".gitkeep"]
    code, out, _ = cli("build", "--workspace", str(demo), "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "DAGSTER_STORAGE"


def test_a_postgres_home_without_its_variable_says_which_one(
    cli: Run, demo: Path, pg_url: str, pg_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_env(pg_url)
    home = dagster_home(demo)
    assert (home / "dagster.yaml").read_text() == POSTGRES_INSTANCE_CONFIG
    monkeypatch.delenv(POSTGRES_URL_ENV)  # the home stays on PostgreSQL: history not split
    code, _out, err = cli("drift", "backfill", "--from", "2026-01-01", "--to", "2026-01-01",
                          "--workspace", str(demo))  # fmt: skip
    assert code == 1 and "DAGSTER_STORAGE" in err
    assert f"${POSTGRES_URL_ENV}, which is not set" in err
    assert (home / "dagster.yaml").read_text() == POSTGRES_INSTANCE_CONFIG


def test_a_lost_connection_is_dagster_storage(tmp_path: Path) -> None:
    """What dagster-postgres raises when it gives up (here at once) is said as DAGSTER_STORAGE."""
    from dagster_postgres.utils import retry_pg_connection_fn
    from sqlalchemy import create_engine

    engine = create_engine(f"postgresql+psycopg2://u:{PASSWORD}@127.0.0.1:{closed_port()}/d")
    with pytest.raises(RegistryError) as raised, storage_errors(tmp_path):
        retry_pg_connection_fn(engine.connect, retry_limit=0)
    assert raised.value.code == "DAGSTER_STORAGE" and raised.value.path == str(tmp_path)
    assert "PostgreSQL: " in raised.value.message and "Connection refused" in raised.value.message


def test_a_users_own_postgres_yaml_is_kept_and_used(
    demo: Path, pg_server: PostgresServer, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `postgres_db` form, its password from another variable (our variable unset)."""
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    monkeypatch.setenv("MY_PG_PASSWORD", PASSWORD)
    home = demo / ".codex" / "dagster_home"
    home.mkdir(parents=True)
    own = (
        "storage:\n  postgres:\n    postgres_db:\n      username: registry\n"
        "      password:\n        env: MY_PG_PASSWORD\n      hostname: 127.0.0.1\n"
        f"      port: {pg_server.port}\n      db_name: {pg_url.rsplit('/', 1)[1]}\n"
        "      scheme: postgresql+psycopg2\n"
    )
    (home / "dagster.yaml").write_text(own)
    with open_instance(demo) as instance:
        assert type(instance.run_storage).__module__.startswith("dagster_postgres")
        assert instance.get_runs() == []
        storage: Any = instance.run_storage
        assert postgres_url(home, yaml.safe_load(own)) == storage.postgres_url  # as Dagster's
    assert (home / "dagster.yaml").read_text() == own
    assert not (home / "history").exists()


def _storage(postgres: dict[str, Any]) -> dict[str, Any]:
    return {"storage": {"postgres": postgres}}


EVENT_LOG = {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage"}
URLS: dict[str, tuple[dict[str, Any], str]] = {
    "postgres_url as written": (
        _storage({"postgres_url": "postgresql+psycopg2://u:p@db:5432/registry"}),
        "postgresql+psycopg2://u:p@db:5432/registry",
    ),
    "postgres_url from a variable": (
        _storage({"postgres_url": {"env": "TEST_PG_URL"}}),
        "postgresql+psycopg2://u:from-env@db:5432/registry",
    ),
    "postgres_db, every field, password and port from variables": (
        _storage(
            {
                "postgres_db": {
                    "username": "registry",
                    "password": {"env": "TEST_PG_PASSWORD"},
                    "hostname": "db.example",
                    "db_name": "registry",
                    "port": {"env": "TEST_PG_PORT"},
                    "params": {"sslmode": "require"},
                    "scheme": "postgresql+psycopg2",
                }
            }
        ),
        "postgresql+psycopg2://registry:p%40ss@db.example:6543/registry?sslmode=require",
    ),
    "postgres_db with dagster-postgres's defaults": (
        _storage({"postgres_db": {"username": "registry", "hostname": "db", "db_name": "r"}}),
        "postgresql://registry@db:5432/r",
    ),
    "the event log's own config": (
        {"event_log_storage": {**EVENT_LOG, "config": {"postgres_url": "postgresql://u@db/r"}}},
        "postgresql://u@db/r",
    ),
}


@pytest.mark.parametrize("case", URLS)
def test_the_url_is_read_from_the_documented_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setenv("TEST_PG_URL", "postgresql+psycopg2://u:from-env@db:5432/registry")
    monkeypatch.setenv("TEST_PG_PASSWORD", "p@ss")
    monkeypatch.setenv("TEST_PG_PORT", "6543")
    settings, expected = URLS[case]
    assert postgres_url(tmp_path, settings) == expected
    assert postgres_url(tmp_path, {"telemetry": {"enabled": False}}) is None  # SQLite


DB = {"username": "registry", "hostname": "db", "db_name": "registry"}
BAD_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "both forms": (
        {"postgres_url": "postgresql+psycopg2://u@db/r", "postgres_db": DB},
        "give exactly one of postgres_url and postgres_db",
    ),
    "neither form": (
        {"should_autocreate_tables": True},
        "give exactly one of postgres_url and postgres_db",
    ),
    "an empty url": ({"postgres_url": ""}, "postgres_url is empty"),
    "no hostname": (
        {"postgres_db": {"username": "registry", "db_name": "registry"}},
        "postgres_db needs db_name, hostname, username",
    ),
    "a password variable not set": (
        {"postgres_db": {**DB, "password": {"env": "TEST_PG_UNSET"}}},
        "postgres_db.password is read from $TEST_PG_UNSET, which is not set",
    ),
    "a port that is not a number": (
        {"postgres_db": {**DB, "port": "5432"}},
        "postgres_db.port is neither a whole number nor {env: NAME} (a str)",
    ),
    "a port variable that is not a number": (
        {"postgres_db": {**DB, "port": {"env": "TEST_PG_PORT"}}},
        "postgres_db.port: $TEST_PG_PORT is not a whole number",
    ),
    "a password written as a number": (
        {"postgres_db": {**DB, "password": 271828}},
        "postgres_db.password is neither a string nor {env: NAME} (a int)",
    ),
    "a source with another key": (
        {"postgres_url": {"env": "TEST_PG_URL", "default": "x"}},
        "postgres_url is neither a string nor {env: NAME} (a mapping with keys env, default)",
    ),
}


@pytest.mark.parametrize("case", BAD_FIELDS)
def test_a_storage_block_that_gives_no_url_is_dagster_storage_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.delenv("TEST_PG_UNSET", raising=False)
    monkeypatch.setenv("TEST_PG_PORT", "not-a-port")
    postgres, reason = BAD_FIELDS[case]
    with pytest.raises(RegistryError) as raised:
        postgres_url(tmp_path, _storage(postgres))
    error = raised.value
    assert error.code == "DAGSTER_STORAGE" and error.path == str(tmp_path)
    assert error.message == f"the PostgreSQL storage of {tmp_path / 'dagster.yaml'}: {reason}"
    assert "271828" not in error.message and "not-a-port" not in error.message
