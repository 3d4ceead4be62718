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
from dataclasses import dataclass

import pytest

from registry_pipeline.lib.instance import POSTGRES_URL_ENV
from registry_pipeline_tests.pg_tests._server import SUPERUSER, PostgresServer


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str) -> str:
    """The URL of a new database for this test, with Dagster's tables."""
    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}", template=pg_template)


@dataclass(frozen=True)
class Database:
    """This test's database as its superuser sees it, beside what the instance does there."""

    server: PostgresServer
    name: str

    def rows(self, table: str) -> list[tuple[object, ...]] | None:
        """Every row of `table` (None when there is no such table)."""
        if self.server.sql(f"SELECT to_regclass('{table}')", self.name) == [(None,)]:
            return None
        return self.server.sql(f"SELECT * FROM {table}", self.name)

    def lock_free(self, key: int) -> bool:
        """Whether a fresh connection takes the advisory lock `key` (let go again at once)."""
        import psycopg2

        connection = psycopg2.connect(
            host=str(self.server.base), port=self.server.port, user=SUPERUSER, dbname=self.name
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                row = cursor.fetchone()
                taken = row is not None and bool(row[0])
                if taken:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
            return taken
        finally:
            connection.close()


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
