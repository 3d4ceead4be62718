"""The workspace's Dagster instance is initialized once, even by processes racing on it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from registry_pipeline.lib.instance import BUILD_TAG, dagster_home, open_instance

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
