"""A full disk or damaged Dagster storage under a build: code and path, exit 1, never INTERNAL."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run


@pytest.fixture
def full_runs(demo: Path) -> Iterator[Path]:
    """The demo with `.codex/RUNS` on a full small tmpfs (skipped where mounting is not allowed)."""
    runs = demo / ".codex" / "RUNS"
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(runs)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with open(runs / ".filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        yield demo
    finally:
        subprocess.run(["umount", "-l", str(runs)], check=False)


def test_a_full_disk_fails_the_step_with_io_error_and_enospc(cli: Run, full_runs: Path) -> None:
    code, out, err = cli("build", "--json", "--workspace", str(full_runs))
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
