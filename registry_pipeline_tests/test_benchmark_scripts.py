"""Each benchmark runs as docs/benchmarks.md shows it, and a script's `--help` measures nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = [*sorted(p.name for p in BENCHMARKS.glob("bench_*.py")), "run_all.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_benchmark_answers_help_run_as_a_file(script: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"],
        cwd=tmp_path,  # not the repository: the script finds its package itself
        capture_output=True,
        text=True,
        timeout=60,  # a guard: a script that ignores --help measures for minutes
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    if "def main(" in (BENCHMARKS / script).read_text():  # a script a user runs
        assert done.returncode == 0 and "usage:" in done.stdout, (done.stdout, done.stderr)
