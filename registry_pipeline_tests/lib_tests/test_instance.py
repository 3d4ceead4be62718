"""The workspace's Dagster instance is initialized once, even by processes racing on it; its
dagster.yaml is ours (SQLite, or PostgreSQL when the variable is set) or the user's, kept."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

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

OPEN = """
import sys
from pathlib import Path
from registry_pipeline.lib.instance import open_instance
with open_instance(Path(sys.argv[1])) as instance:
    instance.get_runs(limit=1)
print("ok")
"""


@pytest.mark.slow
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


def test_an_earlier_default_config_is_upgraded_and_a_users_own_is_kept(tmp_path: Path) -> None:
    home = tmp_path / ".codex" / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert BUILD_TAG in (dagster_home(tmp_path) / "dagster.yaml").read_text()
    own = "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(own)
    assert (dagster_home(tmp_path) / "dagster.yaml").read_text() == own


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


def test_a_users_own_file_is_kept_whatever_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POSTGRES_URL_ENV, _closed_url())
    home = tmp_path / DAGSTER_HOME_RELPATH
    home.mkdir(parents=True)
    own = "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(own)
    assert (dagster_home(tmp_path) / "dagster.yaml").read_text() == own
    assert (home / "history" / "runs.db").is_file()  # SQLite, initialized under the lock


@pytest.mark.parametrize("text", [INSTANCE_CONFIG, POSTGRES_INSTANCE_CONFIG])
def test_the_generated_files_pass_dagsters_own_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    from dagster._core.instance.config import dagster_instance_config

    monkeypatch.setenv(POSTGRES_URL_ENV, _closed_url())
    (tmp_path / "dagster.yaml").write_text(text)
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None and config["telemetry"] == {"enabled": False}
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limits == [{"key": BUILD_TAG, "limit": 1}]
    if text == POSTGRES_INSTANCE_CONFIG:
        assert config["storage"]["postgres"]["postgres_url"] == {"env": POSTGRES_URL_ENV}
