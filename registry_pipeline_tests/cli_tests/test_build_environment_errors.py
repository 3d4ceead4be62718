"""A full disk or damaged Dagster storage under a build: code and path, exit 1, never INTERNAL."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run


def fill(filler: Path) -> None:
    """Fill the disk `filler` lives on to its last page."""
    with open(filler, "ab", buffering=0) as handle:
        try:
            while handle.write(b"\0" * 4096):
                pass
        except OSError:
            pass


@contextmanager
def tmpfs(folder: Path, *, full: bool = True) -> Iterator[Path]:
    """`folder` on a 1 MiB tmpfs of its own holding a copy of its files, `full` (filled to its
    last page) or not; skipped where mounting is not allowed. Unmounted afterwards."""
    with tempfile.TemporaryDirectory() as spare:
        kept = shutil.copytree(folder, Path(spare) / "kept")
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                                 capture_output=True, check=False)  # fmt: skip
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
        try:
            shutil.copytree(kept, folder, dirs_exist_ok=True)
            if full:
                fill(folder / ".filler")
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_fails_the_step_with_io_error_and_enospc(cli: Run, demo: Path) -> None:
    with tmpfs(demo / ".codex" / "RUNS"):
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
