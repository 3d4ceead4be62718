"""The workspace's persistent Dagster instance (`.codex/dagster_home`), opened under its lock."""

from __future__ import annotations

import errno
import math
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.errors import IO_ERROR, TRY_AGAIN, RegistryError, io_advice
from registry_pipeline.core.fs import require_safe_all, write_atomic
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.lock import exclusive_lock
from registry_pipeline.core.workspace.input_files import read_regular_file
from registry_pipeline.core.workspace.layout import DAGSTER_HOME_RELPATH as DAGSTER_HOME_RELPATH
from registry_pipeline.core.workspace.layout import point_dagster_here
from registry_pipeline.core.yaml_io import loads_yaml_strict
from registry_pipeline.lib.postgres import (
    POSTGRES_EXTRA,
    check_reachable,
    config_error,
    first_lines,
    postgres_url,
    storage_error,
)
from registry_pipeline.lib.runs import BUILD_TAG as BUILD_TAG

POSTGRES_URL_ENV = "REGISTRY_DAGSTER_POSTGRES_URL"
"""When set as the home is prepared: the instance's PostgreSQL URL, read at every open."""
INSTANCE_CONFIG = f"""\
telemetry:
  enabled: false
# registry-pipeline: one build at a time per workspace. A second build run launched from the
# UI, a schedule or a sensor waits in Dagster's run queue, shown Queued in the UI, until the first
# one ends; every build run, `registry build`'s too, holds the workspace's build slot
# (docs/OPERATIONS.md). Dagster's own run coordinator and run launcher: none is named here.
concurrency:
  runs:
    tag_concurrency_limits:
      - key: {BUILD_TAG}
        limit: 1
# The daemon (`dagster dev`) fails a run whose worker died and finishes a cancel that hangs.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 30
"""
"""The generated dagster.yaml: Dagster's SQLite storage in the home."""
_POSTGRES_STORAGE = f"""\
# registry-pipeline: runs, events and schedules in PostgreSQL (docs/DEPLOYMENT.md);
# the URL is read from the environment at every open, so no password is written here.
storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL_ENV}
"""
POSTGRES_INSTANCE_CONFIG = INSTANCE_CONFIG + _POSTGRES_STORAGE
"""The generated dagster.yaml when $REGISTRY_DAGSTER_POSTGRES_URL is set."""
_RELEASE_1_CONFIG = f"""\
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
_RELEASE_2_CONFIG = f"""\
telemetry:
  enabled: false
# registry-pipeline: one build at a time per workspace. A second build run (CLI, UI, schedule,
# sensor) waits in this queue, shown Queued in the UI, until the first one ends; every build run
# then holds the workspace's build slot (docs/OPERATIONS.md).
concurrency:
  runs:
    tag_concurrency_limits:
      - key: {BUILD_TAG}
        limit: 1
# Dagster's queue, which also tags as a build a run of a selection of registries (the UI's
# Materialize button), so it waits here too (lib/launcher.py).
run_coordinator:
  module: registry_pipeline.lib.launcher
  class: RegistryRunCoordinator
# Dagster's launcher, and for a run `registry build` launches a run worker forked from the
# command, which has Dagster and the definitions loaded already (lib/launcher.py).
run_launcher:
  module: registry_pipeline.lib.launcher
  class: RegistryRunLauncher
# The daemon (`dagster dev`) fails a run whose worker died and finishes a cancel that hangs.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 30
"""
"""The previous release's, which named our run coordinator and launcher (since removed)."""
_OLD_CONFIGS = ("telemetry:\n  enabled: false\n", _RELEASE_1_CONFIG, _RELEASE_2_CONFIG)
"""What earlier versions wrote on SQLite: replaced by INSTANCE_CONFIG."""
_OLD_POSTGRES_CONFIGS = tuple(old + _POSTGRES_STORAGE for old in _OLD_CONFIGS[1:])
"""What earlier versions wrote on PostgreSQL: replaced by POSTGRES_INSTANCE_CONFIG."""
REMOVED_MODULES = ("registry_pipeline.lib.launcher", "registry_pipeline.lib.storage")
"""Modules earlier versions had a dagster.yaml name (run coordinator, launcher, storage)."""
_LOCK_NAME = ".instance.lock"


def dagster_home(root: Path) -> Path:
    """The workspace's Dagster home, set up once under its lock; UNSAFE_PATH through a symlink."""
    home = root / DAGSTER_HOME_RELPATH
    require_safe_all(root, [home / "dagster.yaml", home / _LOCK_NAME])
    try:
        home.mkdir(parents=True, exist_ok=True)
        point_dagster_here(root)  # `dagster dev` in the workspace opens this home
        config = home / "dagster.yaml"
        with _init_lock(home):
            text = _config_text(home)
            generated = _generated(text)
            if generated is not None and generated != text:  # atomic: a torn file breaks a home
                write_atomic(config, generated.encode("utf-8"))
            settings = _instance_settings(home)
            _refuse_removed_classes(home, settings)
            url = postgres_url(home, settings)
            if url is not None:
                check_reachable(home, url, settings)
            elif not (home / "history" / "runs.db").exists():
                with storage_errors(home):  # SQLite storage in the home, not yet created
                    _from_config(home).dispose()
    except OSError as exc:
        where, reason = exc.filename or home, exc.strerror or exc
        raise RegistryError.of("INSTANCE_UNAVAILABLE", path=where, reason=reason) from None
    return home


def _generated(text: str | None) -> str | None:
    """The dagster.yaml to write over `text` (None: a user's own, kept); ours on Postgres stays."""
    ours_sqlite = text is None or text in (INSTANCE_CONFIG, *_OLD_CONFIGS)
    if (ours_sqlite and os.environ.get(POSTGRES_URL_ENV)) or text in _OLD_POSTGRES_CONFIGS:
        return POSTGRES_INSTANCE_CONFIG
    return INSTANCE_CONFIG if ours_sqlite else None


def _refuse_removed_classes(home: Path, settings: Mapping[str, Any]) -> None:
    """DAGSTER_STORAGE when a user's own dagster.yaml names a class earlier versions had."""
    named = [
        f"{key}: {block.get('module')}.{block.get('class')}"
        for key, block in _blocks(settings)
        if block.get("module") in REMOVED_MODULES
    ]
    if named:
        blocks = "that block" if len(named) == 1 else "those blocks"
        raise storage_error(
            home,
            f"{home / 'dagster.yaml'} names {', '.join(named)}, which registry-pipeline no "
            f"longer has: remove {blocks} (Dagster's own run coordinator, run launcher and "
            "storage take their place), or move the file aside to have it written again",
        )


def _blocks(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(dotted key, mapping) of every mapping nested in `node`."""
    for key, value in node.items():
        if isinstance(value, Mapping):
            where = f"{path}.{key}" if path else str(key)
            yield where, value
            yield from _blocks(value, where)


@contextmanager
def open_instance(root: Path) -> Iterator[dg.DagsterInstance]:
    """The workspace's instance, opened under the init lock (created first if new)."""
    home = dagster_home(root)
    with storage_errors(home), _unlogged_writes(home):
        with _init_lock(home):
            instance = _from_config(home)
        with instance:
            yield instance


@contextmanager
def storage_errors(home: Path) -> Iterator[None]:
    """Dagster's storage errors as DAGSTER_STORAGE, a disk's fault as IO_ERROR naming its file."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    failure: RegistryError | None = None
    try:
        yield
    except Exception as exc:
        if isinstance(exc, sqlite3.Error | SQLAlchemyError):
            failure = _disk_fault(home, exc) or _storage_failed(
                home, first_lines(getattr(exc, "orig", None) or exc)
            )
        elif type(exc).__name__ == "DagsterPostgresException":  # dagster-postgres gave up retrying
            cause = exc.__cause__
            reason = first_lines(getattr(cause, "orig", None) or cause or exc)
            failure = _storage_failed(home, f"PostgreSQL: {reason}")
        else:
            raise
    if failure is not None:  # raised here, the storage's error (and its connections) let go
        raise failure


def _storage_failed(home: Path, reason: str) -> RegistryError:
    return storage_error(
        home,
        f"Dagster's storage failed: {reason} (the instance is {home}; check free space and "
        "permissions, or the PostgreSQL server and its URL, or move a damaged home aside: "
        "runs history is kept there, not the registries)",
    )


_SQLITE_DISK_FAULTS = frozenset({10, 13})
"""SQLite's primary result codes of a disk's fault: SQLITE_IOERR, SQLITE_FULL."""
_SQLITE_DISK_TEXTS = ("database or disk is full", "disk I/O error")


def _disk_fault(home: Path, error: BaseException) -> RegistryError | None:
    """IO_ERROR when SQLite failed on the disk under `home` (full, failing), else None."""
    orig = getattr(error, "orig", None) or error
    code = getattr(orig, "sqlite_errorcode", None)
    said = first_lines(orig)
    if (code & 0xFF if isinstance(code, int) else None) not in _SQLITE_DISK_FAULTS and not any(
        text in said for text in _SQLITE_DISK_TEXTS
    ):
        return None
    params = getattr(error, "params", None)
    run_id = params[0] if isinstance(params, list | tuple) and params else None
    path = _storage_file(home, str(getattr(error, "statement", "") or ""), run_id)
    return _storage_io_error(home, path, said)


NEARLY_FULL = 1 << 20
"""Free bytes below which a disk is full for SQLite (whose "disk I/O error" names no cause)."""


def _storage_io_error(home: Path, path: Path, said: str) -> RegistryError:
    """IO_ERROR of Dagster's storage file `path`, SQLite having `said` why."""
    try:
        space = os.statvfs(home)
        full = space.f_bavail * space.f_frsize < NEARLY_FULL
    except OSError:
        full = False
    if full or "disk is full" in said:
        reason, advice = f"{os.strerror(errno.ENOSPC)} (ENOSPC)", io_advice(errno.ENOSPC)
    else:  # full then, maybe, or failing
        reason = said
        advice = "the disk that holds it was full or failed: free space on it (`df`) or check it "
        advice += f"(`dmesg`), {TRY_AGAIN}"
    reason += f": Dagster's storage could not be written (SQLite: {said})"
    advice += " (its runs history is kept there, not the registries)"
    return RegistryError.of(IO_ERROR, path=path, reason=reason, advice=advice)


_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+\"?(\w+)|\btable_x?info\(\"?(\w+)", re.IGNORECASE)
_SCHEDULE_TABLES = frozenset({"jobs", "job_ticks", "instigators"})


def _storage_file(home: Path, statement: str, run_id: object = None) -> Path:
    """The file of Dagster's SQLite storage that `statement` writes, else its history folder."""
    history = home / "history"
    found = _TABLE.search(statement)
    table = (found.group(1) or found.group(2)).lower() if found else ""
    if table == "event_logs":
        shard = history / "runs" / f"{run_id}.db"
        return (
            shard if isinstance(run_id, str) and shard.is_file() else history / "runs" / "index.db"
        )
    if table in ("runs", "run_tags"):
        return history / "runs.db"
    if table in _SCHEDULE_TABLES:
        return home / "schedules" / "schedules.db"
    return history


_UNLOGGED = "Exception while writing logger call to event log: "
"""How Dagster starts the text it writes to stderr when it cannot store a log message."""


@contextmanager
def _unlogged_writes(home: Path) -> Iterator[None]:
    """Dagster's pages-long report of a log message its storage refused, as that IO_ERROR."""
    kept = _Unlogged(sys.stderr)
    sys.stderr = kept
    try:
        yield
    finally:
        if sys.stderr is kept:
            sys.stderr = kept.stream
    if kept.refused is not None:
        raise _refused_write(home, kept.refused)


class _Unlogged:
    """A stderr that sets aside Dagster's reports of log messages it could not store."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.refused: str | None = None

    def write(self, text: str) -> int:
        if text.startswith(_UNLOGGED):
            self.refused = self.refused or text[len(_UNLOGGED) :]
            return len(text)
        return int(self.stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _refused_write(home: Path, text: str) -> RegistryError:
    """The error of Dagster's report `text` (the error, `[SQL: ...]`, `[parameters: ...]`)."""
    said = first_lines(text.split("\n[SQL:")[0]).removeprefix("(sqlite3.OperationalError) ")
    statement = re.search(r"\[SQL: ([^\]]*)", text)
    run_id = re.search(r"\[parameters: \('([^']*)'", text)
    if not any(fault in said for fault in _SQLITE_DISK_TEXTS):
        return _storage_failed(home, f"a log message was not stored: {said}")
    path = _storage_file(home, statement.group(1) if statement else "",
                        run_id.group(1) if run_id else None)  # fmt: skip
    return _storage_io_error(home, path, said)


def _from_config(home: Path) -> dg.DagsterInstance:
    """The instance `home`'s dagster.yaml describes (DAGSTER_STORAGE if it cannot be loaded)."""
    try:
        return dg.DagsterInstance.from_config(str(home))
    except dg.DagsterInvalidConfigError as exc:
        reason = "; ".join(config_error(error.message) for error in exc.errors) or str(exc)
    except ImportError as exc:
        postgres = any(name in str(exc) for name in ("dagster_postgres", "psycopg"))
        reason = f"{exc} ({POSTGRES_EXTRA})" if postgres else str(exc)
    raise _config_refused(home, reason) from None


def _config_refused(home: Path, reason: str) -> RegistryError:
    message = f"cannot load the Dagster instance's configuration {home / 'dagster.yaml'}: {reason}"
    return storage_error(home, message)


MAX_CONFIG_BYTES = 1 << 20
"""A dagster.yaml is a page of settings: more is no configuration of ours to read."""


def _config_text(home: Path) -> str | None:
    """The home's dagster.yaml (None: absent), a bounded regular file (a FIFO: never waited on)."""
    try:
        data = read_regular_file(home / "dagster.yaml", limit=MAX_CONFIG_BYTES,
                                 what="Dagster configuration")  # fmt: skip
    except FileNotFoundError:
        return None
    return data.decode("utf-8", errors="replace")


_NOT_YAML = frozenset({"YAML_SYNTAX", "YAML_ENCODING", "YAML_MULTIPLE_DOCUMENTS"})
"""What the strict reader refuses that Dagster's reader refuses too."""


def _instance_settings(home: Path) -> Mapping[str, Any]:
    """dagster.yaml as a mapping (DAGSTER_STORAGE: not YAML; empty: absent, or not strict YAML)."""
    text = _config_text(home)
    try:
        loaded = loads_yaml_strict(text) if text is not None else None
    except JSONDecodeProblem as problem:
        if problem.code in _NOT_YAML:
            raise _config_refused(home, f"not valid YAML: {problem.message}") from None
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _init_lock(home: Path) -> AbstractContextManager[None]:
    """The home's init lock, waited for as long as it takes (a first initialization's second)."""
    return exclusive_lock(home / _LOCK_NAME, timeout=math.inf, holder="initializing the home")
