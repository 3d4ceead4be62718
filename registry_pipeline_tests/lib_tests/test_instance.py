"""The workspace's Dagster instance: set up once under races; dagster.yaml ours, upgraded, kept."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.lib.instance import (
    BUILD_TAG,
    DAGSTER_HOME_RELPATH,
    INSTANCE_CONFIG,
    POSTGRES_INSTANCE_CONFIG,
    POSTGRES_URL_ENV,
    dagster_home,
    open_instance,
)
from registry_pipeline_tests._helpers import Run

PREVIOUS_RELEASE = """\
telemetry:
  enabled: false
# registry-pipeline: one build at a time per workspace. A second build run (CLI, UI, schedule,
# sensor) waits in this queue, shown Queued in the UI, until the first one ends; every build run
# then holds the workspace's build slot (docs/OPERATIONS.md).
concurrency:
  runs:
    tag_concurrency_limits:
      - key: registry-pipeline/build
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
"""The dagster.yaml the previous release generated (byte for byte), naming its own classes."""
PREVIOUS_POSTGRES = (
    PREVIOUS_RELEASE
    + """\
# registry-pipeline: runs, events and schedules in PostgreSQL (docs/DEPLOYMENT.md);
# the URL is read from the environment at every open, so no password is written here.
storage:
  postgres:
    postgres_url:
      env: REGISTRY_DAGSTER_POSTGRES_URL
"""
)
OWN_WITH_OUR_LAUNCHER = PREVIOUS_RELEASE.replace(
    "telemetry:\n  enabled: false", "telemetry:\n  enabled: true"
)
"""A user's own file (not byte for byte ours) that names the removed launcher."""

OPEN = """
import sys
from pathlib import Path
from registry_pipeline.lib.instance import open_instance
with open_instance(Path(sys.argv[1])) as instance:
    instance.get_runs(limit=1)
print("ok")
"""


def test_racing_processes_on_a_fresh_home_initialize_it_once(tmp_path: Path) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0 and out.strip() == "ok", err
    home = dagster_home(tmp_path)
    for database in ("history/runs.db", "history/runs/index.db", "schedules/schedules.db"):
        with sqlite3.connect(home / database) as connection:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        assert len(rows) == 1, (database, rows)  # one schema revision, not two heads
    with open_instance(tmp_path) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": BUILD_TAG, "limit": 1} in limits


def _home_holding(root: Path, text: str) -> Path:
    """The workspace's Dagster home, made, with `text` as its dagster.yaml."""
    home = root / DAGSTER_HOME_RELPATH
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(text)
    return home


def _closed_url() -> str:
    """A PostgreSQL URL where nothing listens (no server is needed to test the choice of file)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql+psycopg2://registry:pw@127.0.0.1:{port}/registry"


def test_the_variable_makes_a_new_home_and_our_sqlite_home_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    ours = tmp_path / "ours"
    config = dagster_home(ours) / "dagster.yaml"
    assert config.read_text() == INSTANCE_CONFIG
    monkeypatch.setenv(POSTGRES_URL_ENV, _closed_url())
    for root in (tmp_path / "new", ours):
        with pytest.raises(RegistryError) as raised:
            dagster_home(root)  # written, then its server checked: nothing listens there
        assert raised.value.code == "DAGSTER_STORAGE" and "Connection refused" in str(raised.value)
        assert "registry:***@" in str(raised.value) and ":pw@" not in str(raised.value)
        text = (root / DAGSTER_HOME_RELPATH / "dagster.yaml").read_text()
        assert text == POSTGRES_INSTANCE_CONFIG


def test_an_earlier_default_is_upgraded_and_a_users_own_file_kept_whatever_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = "telemetry:\n  enabled: true\n"
    earlier = _home_holding(tmp_path / "earlier", "telemetry:\n  enabled: false\n")
    assert BUILD_TAG in (dagster_home(tmp_path / "earlier") / "dagster.yaml").read_text()
    (earlier / "dagster.yaml").write_text(own)  # an earlier default is upgraded; own is kept
    assert (dagster_home(tmp_path / "earlier") / "dagster.yaml").read_text() == own
    monkeypatch.setenv(POSTGRES_URL_ENV, _closed_url())
    home = _home_holding(tmp_path, own)
    assert (dagster_home(tmp_path) / "dagster.yaml").read_text() == own
    assert (home / "history" / "runs.db").is_file()  # SQLite, initialized under the lock


def test_the_previous_releases_file_is_upgraded_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    _home_holding(tmp_path, PREVIOUS_RELEASE)
    assert (dagster_home(tmp_path) / "dagster.yaml").read_text() == INSTANCE_CONFIG
    with open_instance(tmp_path) as instance:
        assert type(instance.run_coordinator) is dg.QueuedRunCoordinator
        assert type(instance.run_launcher) is dg.DefaultRunLauncher
    postgres = tmp_path / "pg"
    _home_holding(postgres, PREVIOUS_POSTGRES)
    monkeypatch.setenv(POSTGRES_URL_ENV, _closed_url())
    with pytest.raises(RegistryError) as raised:
        dagster_home(postgres)  # written, then its server checked: nothing listens there
    assert raised.value.code == "DAGSTER_STORAGE" and "Connection refused" in str(raised.value)
    text = (postgres / DAGSTER_HOME_RELPATH / "dagster.yaml").read_text()
    assert text == POSTGRES_INSTANCE_CONFIG


def test_a_users_own_file_naming_the_removed_launcher_is_refused_with_what_to_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    home = _home_holding(tmp_path, OWN_WITH_OUR_LAUNCHER)
    with pytest.raises(RegistryError) as raised:
        dagster_home(tmp_path)
    error = raised.value
    assert error.code == "DAGSTER_STORAGE" and error.path == str(home)
    assert "run_coordinator: registry_pipeline.lib.launcher.RegistryRunCoordinator" in error.message
    assert "run_launcher: registry_pipeline.lib.launcher.RegistryRunLauncher" in error.message
    assert "remove those blocks" in error.message
    assert (home / "dagster.yaml").read_text() == OWN_WITH_OUR_LAUNCHER  # never rewritten
    kept = "module: registry_pipeline.lib.storage\n    class: KeptSqliteStorage\n"
    (home / "dagster.yaml").write_text(f"storage:\n  custom:\n    {kept}")
    with pytest.raises(RegistryError) as raised:
        dagster_home(tmp_path)
    message = raised.value.message
    assert "storage.custom: registry_pipeline.lib.storage.KeptSqliteStorage" in message
    assert "remove that block" in message


def test_the_cli_says_it_as_dagster_storage_without_a_traceback(cli: Run, demo: Path) -> None:
    home = _home_holding(demo, OWN_WITH_OUR_LAUNCHER)
    code, out, err = cli("build", "--force", "--workspace", str(demo))
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith(f"error: DAGSTER_STORAGE {home}:"), err
    assert "RegistryRunLauncher" in err and "remove those blocks" in err


def test_a_home_that_cannot_be_made_is_instance_unavailable(tmp_path: Path) -> None:
    (tmp_path / ".codex").write_text("a file where the workspace's state folder should be\n")
    with pytest.raises(RegistryError) as raised:
        dagster_home(tmp_path)
    assert raised.value.code == "INSTANCE_UNAVAILABLE"
    assert raised.value.path is not None and raised.value.path.startswith(str(tmp_path / ".codex"))


def test_the_instance_is_dagsters_own_sqlite_storage_in_the_home(tmp_path: Path) -> None:
    """The file we write loads in Dagster as meant: its own storage, queue and run monitoring, a
    build tag limit of one, no telemetry (POSTGRES_INSTANCE_CONFIG is this file and a storage
    block: the PostgreSQL builds load it)."""
    with open_instance(tmp_path) as instance:
        for storage in (instance.run_storage, instance.event_log_storage):
            assert type(storage).__module__.partition(".")[0] == "dagster", storage
        assert type(instance.run_coordinator) is dg.QueuedRunCoordinator
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert limits == [{"key": BUILD_TAG, "limit": 1}]
        assert instance.run_monitoring_enabled and not instance.telemetry_enabled
        assert instance.get_runs(limit=1) == []
    home = tmp_path / DAGSTER_HOME_RELPATH
    assert (home / "history" / "runs.db").is_file()
    assert (home / "dagster.yaml").read_text() == INSTANCE_CONFIG


@pytest.mark.parametrize("text", ["\ttelemetry: {}\n", "telemetry: [\n"])
def test_a_dagster_yaml_that_is_not_yaml_is_dagster_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    home = _home_holding(tmp_path, text)
    with pytest.raises(RegistryError) as raised:
        dagster_home(tmp_path)
    assert (raised.value.code, raised.value.path) == ("DAGSTER_STORAGE", str(home))
    assert not (home / "history").exists()  # refused before Dagster made its storage


def test_a_dagster_yaml_dagster_reads_opens_though_the_strict_reader_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    own = "telemetry:\n  enabled: true\ntelemetry:\n  enabled: false\n"  # a duplicate key
    home = _home_holding(tmp_path, own)
    with open_instance(tmp_path) as instance:
        assert instance.get_runs(limit=1) == []
    assert (home / "dagster.yaml").read_text() == own
