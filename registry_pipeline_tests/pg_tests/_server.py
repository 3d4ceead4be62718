"""A real PostgreSQL server for tests: Debian's server binaries, a cluster made by `initdb` in a
temporary folder, run as an unprivileged user when we are root, listening on 127.0.0.1 (a free
port) and on a Unix socket in that folder, one for the whole test run (`python -m` this module
is its supervisor: `_helpers.serve_the_run`), and a child of a watchdog (`_helpers.watched`) so
that it ends with the process that started it."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline_tests._helpers import serve_the_run, watched
from registry_pipeline_tests._webserver import free_port

SUPERUSER = "postgres"
"""The cluster's superuser; it logs in without a password (trust), from this machine only."""
ROLE = "registry"
"""The role the tests' instances log in as. Its URLs carry a password, but it is trusted from
127.0.0.1: Dagster opens a connection per storage call (~280 a build) and each scram-sha-256
login costs ~30 ms of hashing; LOCKED shows that a refused login is said clearly."""
PASSWORD = "s3cret-pw"
LOCKED = "locked"
"""A role that must log in with its password (scram-sha-256)."""
START_ATTEMPTS = 3
"""A free port can be taken between choosing it and the server binding it: start again."""
SUPERVISOR = "registry_pipeline_tests.pg_tests._server"
"""This module, run as the supervisor of the test run's server."""
READY_WITHIN = 60.0
"""Seconds a starting server may take before it accepts connections (~1 s here)."""
PROGRAMS = ("initdb", "postgres", "pg_isready")
HBA = """\
local all all trust
host all locked 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""


@dataclass(frozen=True)
class Binaries:
    """The folder of one PostgreSQL version's server programs."""

    bin_dir: Path

    def __getitem__(self, program: str) -> str:
        return str(self.bin_dir / program)


def find_binaries() -> Binaries | None:
    """The newest `/usr/lib/postgresql/<version>/bin` (Debian), else the programs on PATH."""
    found = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        version = re.fullmatch(r"\d+(\.\d+)?", folder.parent.name)
        if version and all((folder / name).is_file() for name in PROGRAMS):
            found.append((tuple(int(part) for part in folder.parent.name.split(".")), folder))
    if found:
        return Binaries(max(found)[1])
    postgres = shutil.which("postgres")
    if postgres is not None:
        folder = Path(postgres).resolve().parent
        if all((folder / name).is_file() for name in PROGRAMS):
            return Binaries(folder)
    return None


@dataclass
class PostgresServer:
    """One running cluster; `url(database)` is what a dagster.yaml would be given."""

    binaries: Binaries
    base: Path
    port: int
    uid: int | None
    gid: int | None
    process: subprocess.Popen[bytes] | None = None
    """The server's watchdog, in the process that started it (None in the run's other ones)."""

    @property
    def data(self) -> Path:
        return self.base / "data"

    @classmethod
    def start(cls, binaries: Binaries) -> PostgresServer:
        """initdb into a new temporary folder and start the server on a free port."""
        base = Path(tempfile.mkdtemp(prefix="registry-pg-"))  # short: a socket path's limit
        uid = gid = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            user = _unprivileged_user()
            uid, gid = user.pw_uid, user.pw_gid
            os.chown(base, uid, gid)
        server = cls(binaries, base, 0, uid, gid)
        try:
            server._run(binaries["initdb"], "-D", str(server.data), "-U", SUPERUSER, "-A",
                        "trust", "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
            (server.data / "pg_hba.conf").write_text(HBA)
            for attempt in range(START_ATTEMPTS):
                server.port = free_port()
                if server._launch():
                    break
                if attempt == START_ATTEMPTS - 1:
                    raise RuntimeError(f"PostgreSQL did not start:\n{server.log()}")
            server.sql(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
            server.sql(f"CREATE ROLE {LOCKED} LOGIN PASSWORD '{PASSWORD}'")
        except BaseException:
            server.stop()
            raise
        return server

    def settings(self) -> dict[str, Any]:
        """What another process of the run is given to use this server (`from_settings`)."""
        return {"bin_dir": str(self.binaries.bin_dir), "base": str(self.base), "port": self.port,
                "uid": self.uid, "gid": self.gid}  # fmt: skip

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> PostgresServer:
        binaries = Binaries(Path(settings["bin_dir"]))
        return cls(binaries, Path(settings["base"]), settings["port"], settings["uid"],
                   settings["gid"])  # fmt: skip

    def url(
        self, database: str, *, role: str = ROLE, password: str = PASSWORD, port: int = 0
    ) -> str:
        """The SQLAlchemy URL of `database` (dagster-postgres's driver)."""
        return f"postgresql+psycopg2://{role}:{password}@127.0.0.1:{port or self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database owned by ROLE (a copy of `template` when given); its URL."""
        copy = f" TEMPLATE {template}" if template else ""
        self.sql(f"CREATE DATABASE {name} OWNER {ROLE}{copy}")
        return self.url(name)

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement as the superuser over the Unix socket; its rows."""
        import psycopg2

        connection = psycopg2.connect(
            host=str(self.base), port=self.port, user=SUPERUSER, dbname=database
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    def stop(self) -> None:
        """A fast shutdown (the watchdog's SIGINT once its stdin ends), then the folder removed
        (whatever state it is in)."""
        try:
            if self.process is not None:
                assert self.process.stdin is not None
                self.process.stdin.close()
                self.process.wait(timeout=60)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def log(self) -> str:
        path = self.base / "server.log"
        return path.read_text(errors="replace") if path.exists() else "(no server log)"

    def _launch(self) -> bool:
        """Start the server (room for the connections of every process of the run) and wait
        until `pg_isready` says it accepts connections; False when it exited first (the port was
        taken)."""
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                   "-c", f"unix_socket_directories={self.base}", "-c", "fsync=off",
                   "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                   "-c", "max_connections=400"]  # fmt: skip
        command = [self.binaries["postgres"], "-D", str(self.data), *options]
        user = (self.uid, self.gid) if self.uid is not None and self.gid is not None else None
        with (self.base / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                watched(command, stop="SIGINT", as_user=user), stdin=subprocess.PIPE,
                stdout=log, stderr=subprocess.STDOUT, cwd=self.base, env=self._env(),
            )  # fmt: skip
        deadline = time.monotonic() + READY_WITHIN
        while self.process.poll() is None:
            ready = self._run(self.binaries["pg_isready"], "-q", "-h", "127.0.0.1", "-p",
                              str(self.port), "-t", "5", check=False)  # fmt: skip
            if ready.returncode == 0:
                return True
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL not ready in {READY_WITHIN} s:\n{self.log()}")
            time.sleep(0.1)  # a readiness poll of a server that cannot notify us
        return False

    def _env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.base), "LC_ALL": "C"}

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A server program, as the unprivileged user when we are root."""
        result = subprocess.run(
            command,
            cwd=self.base,
            env=self._env(),
            user=self.uid,
            group=self.gid,
            extra_groups=[] if self.uid is not None else None,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        return result


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a `postgres` nor a `nobody` user")


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (for a server that is down)."""
    return free_port()


def _start() -> tuple[dict[str, Any], Callable[[], None]]:
    binaries = find_binaries()
    assert binaries is not None, "no PostgreSQL server binaries"
    server = PostgresServer.start(binaries)
    return server.settings(), server.stop


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


if __name__ == "__main__":
    serve_the_run(Path(sys.argv[1]), SUPERVISOR, _start)
