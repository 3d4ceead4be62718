"""PostgreSQL fixtures: one database per test on the test run's server (`pg_server`, and
`pg_template`, a database with Dagster's tables to copy: the root conftest's), and the `registry`
command on a workspace whose Dagster instance is kept there.

Where the server binaries are absent the tests are skipped, saying so, except under CI
(`$CI` set), where they fail: CI installs Debian's `postgresql` package.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import pytest

from registry_pipeline.lib.instance import POSTGRES_URL_ENV
from registry_pipeline_tests.pg_tests._server import Database, PostgresServer


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str) -> str:
    """The URL of a new database for this test, with Dagster's tables."""
    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}", template=pg_template)


@pytest.fixture
def pg_database(pg_server: PostgresServer, pg_url: str) -> Database:
    """The database of `pg_url`, seen by its superuser."""
    return Database(pg_server, pg_url.rsplit("/", 1)[1])


@pytest.fixture
def blank_pg_url(pg_server: PostgresServer) -> str:
    """The URL of a new, empty database for this test (Dagster makes its tables)."""
    return pg_server.create_database(f"blank_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], dict[str, str]]:
    """Point this process (and the returned environment, for subprocesses) at a database."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)

    def point(url: str) -> dict[str, str]:
        monkeypatch.setenv(POSTGRES_URL_ENV, url)
        env = dict(os.environ)
        env.pop("DAGSTER_HOME", None)
        return env

    return point
