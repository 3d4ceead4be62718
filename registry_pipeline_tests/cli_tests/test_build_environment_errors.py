"""A full disk or damaged Dagster storage under a build: code and path, exit 1, never INTERNAL."""

from __future__ import annotations

import json
from pathlib import Path

from registry_pipeline_tests._helpers import Run, tmpfs


def test_a_full_disk_fails_the_step_with_io_error_and_enospc(cli: Run, demo: Path) -> None:
    with tmpfs(demo / ".codex" / "RUNS", full=True):
        code, out, err = cli("build", "--json", "--workspace", str(demo))
    assert code == 1, err
    entries = {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}
    problems = " ".join(json.dumps(entry["problems"]) for entry in entries.values())
    assert "IO_ERROR" in problems and "ENOSPC" in problems
    assert "INTERNAL" not in problems and "DagsterExecutionStepExecutionError" not in problems


def test_a_damaged_dagster_storage_is_dagster_storage_with_its_path(cli: Run, built: Path) -> None:
    home = built / ".codex" / "dagster_home"
    database = home / "history" / "runs.db"
    database.write_bytes(b"this is not a SQLite database, it was overwritten\n" * 100)
    code, out, err = cli("build", "--workspace", str(built), "--force")  # Dagster must open it
    assert code == 1
    assert err.startswith(f"error: DAGSTER_STORAGE {home}:"), err
    assert "INTERNAL" not in err
    code, out, _ = cli("build", "--json", "--workspace", str(built), "--force")
    assert code == 1 and json.loads(out)["error"]["code"] == "DAGSTER_STORAGE"
