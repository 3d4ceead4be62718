"""`make run`'s own commands (read from the Makefile) through a typo and its fix: one mistake in
a hand-edited registry fails the build, and the first run after the fix is green again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from registry_pipeline_tests._helpers import copy_demo

REPO = Path(__file__).resolve().parents[1]
EXPECTED = Path("registries/expected_versions/EXPECTED_VERSIONS_v0_1.json")


def _make_run_commands() -> list[str]:
    """The recipe of the Makefile's `run` target, `$(BIN)/` resolved to this venv."""
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe is not None
    bin_dir = Path(sys.executable).parent
    return [line.strip().replace("$(BIN)", str(bin_dir)) for line in recipe.group(1).splitlines()]


def _make_run(root: Path) -> list[tuple[str, int, str]]:
    """Each command of `make run` in `root` as make would (stopping at the first failure)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_WORKSPACE", "DAGSTER_HOME")}
    results = []
    for command in _make_run_commands():
        done = subprocess.run(
            ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600
        )
        results.append((command, done.returncode, done.stdout + done.stderr))
        assert "Traceback" not in done.stdout + done.stderr
        if done.returncode != 0:
            break
    return results


def test_the_makefile_runs_the_commands_this_test_runs() -> None:
    commands = [command.split("/")[-1] for command in _make_run_commands()]
    assert commands == ["registry init .", "registry build", "registry validate --active"]


def test_a_typo_and_its_fix_leave_make_run_green(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    assert all(code == 0 for _, code, _ in _make_run(root))
    source = root / EXPECTED
    good = source.read_bytes()
    source.write_bytes(good.replace(b"}", b"", 1))  # the typo: a brace lost

    broken = _make_run(root)
    command, code, output = broken[-1]
    assert command.endswith("registry build") and code == 1
    assert "BAD_SOURCE" in output and str(EXPECTED) in output and "JSON_INVALID" in output

    source.write_bytes(good)  # the fix
    fixed = _make_run(root)
    assert [code for _, code, _ in fixed] == [0, 0, 0], fixed[-1][2]
    assert "0 FAIL" in fixed[-1][2]
    all_folders = subprocess.run(
        [str(Path(sys.executable).parent / "registry"), "validate", "--all"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert all_folders.returncode == 0, all_folders.stdout  # the typo sealed nothing
