"""The workspace's persistent Dagster instance (`.codex/dagster_home`), opened safely.

Dagster's SQLite storages create their tables and stamp their schema revision on first open,
with no lock between processes: two processes opening a fresh home at once can fail (`table runs
already exists`) or leave two revisions stamped, after which every open fails. Every open here
holds an `fcntl.flock` on `.instance.lock` in the home, so a home is initialized exactly once.
`dagster dev` does not take this lock; `dagster_home()` initializes a fresh home under it before
anything else can open it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from registry_pipeline.core.errors import RegistryError

DAGSTER_HOME_RELPATH = ".codex/dagster_home"
BUILD_TAG = "registry-pipeline/build"
"""Every build run carries this tag; the instance's run queue admits one such run at a time."""
INSTANCE_CONFIG = f"""\
telemetry:
  enabled: false
# registry-pipeline: one build at a time per workspace. Runs launched from the UI or a schedule
# queue behind each other here; every build run also holds the workspace's build lock.
concurrency:
  runs:
    tag_concurrency_limits:
      - key: {BUILD_TAG}
        limit: 1
"""
_OLD_CONFIGS = ("telemetry:\n  enabled: false\n",)
"""What earlier versions wrote: replaced by INSTANCE_CONFIG (a user's own file is left alone)."""
_LOCK_NAME = ".instance.lock"


def dagster_home(root: Path) -> Path:
    """The workspace's Dagster home, created and initialized (once, under the lock) if new."""
    home = root / DAGSTER_HOME_RELPATH
    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        with _init_lock(home):
            text = config.read_text(encoding="utf-8") if config.exists() else None
            if text is None or text in _OLD_CONFIGS:
                config.write_text(INSTANCE_CONFIG, encoding="utf-8")
            if not (home / "history" / "runs.db").exists():
                with storage_errors(home):
                    dg.DagsterInstance.from_config(str(home)).dispose()
    except OSError as exc:
        raise RegistryError(
            f"cannot prepare the Dagster instance: {exc.strerror or exc}",
            code="INSTANCE_UNAVAILABLE",
            path=str(exc.filename or home),
        ) from None
    return home


@contextmanager
def open_instance(root: Path) -> Iterator[dg.DagsterInstance]:
    """The workspace's instance, opened under the init lock (created first if new)."""
    home = dagster_home(root)
    with storage_errors(home):
        with _init_lock(home):
            instance = dg.DagsterInstance.from_config(str(home))
        with instance:
            yield instance


@contextmanager
def storage_errors(home: Path) -> Iterator[None]:
    """Errors of Dagster's SQLite storage (disk full, read-only, not a database, locked) as
    DAGSTER_STORAGE naming the instance's folder, not as an internal error."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (sqlite3.Error, SQLAlchemyError) as exc:
        cause = getattr(exc, "orig", None) or exc
        raise RegistryError(
            f"Dagster's storage failed: {cause} (the instance is {home}; check free space and "
            "permissions, or move a damaged home aside: runs history is kept there, not the "
            "registries)",
            code="DAGSTER_STORAGE",
            path=str(home),
        ) from None


@contextmanager
def _init_lock(home: Path) -> Iterator[None]:
    with open(home / _LOCK_NAME, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # held for a second at most: a first initialization
        yield
