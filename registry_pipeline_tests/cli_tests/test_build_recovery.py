"""A build killed at any crash point, or a lost Dagster history: the next plain build promotes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import BUILD_JOB
from registry_pipeline_tests._helpers import Run, copy_built

SOURCE = Path("registries") / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
BUILD_POINTS = (
    "staging_created", "manifest_sha256_written", "published", "runs_synced",
    "pointer_locked", "journal_appended", "pointer_temp_written", "pointer_renamed",
)  # fmt: skip
"""Crash points a build passes; the seal's own crash tests cover the per-file points between."""


def _killed_build(root: Path, crash_at: str) -> int:
    """`registry build` in its own process, killed (SIGKILL) at the named crash point."""
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "REGISTRY_WORKSPACE")}
    env["REGISTRY_PIPELINE_CRASH_AT"] = crash_at
    result = subprocess.run(
        [sys.executable, "-m", "registry_pipeline", "build", "--workspace", str(root)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    return result.returncode


def _edit(root: Path, version: str) -> None:
    source = root / SOURCE
    text = source.read_text()
    source.write_text(text.replace('"op_status_table": "0.1.0"', f'"op_status_table": "{version}"'))


def _newest(root: Path, registry_id: str) -> str:
    runs = root / ".codex" / "RUNS"
    return sorted(p.name for p in runs.iterdir() if f"__{registry_id}_" in p.name)[-1]


KilledAt = Callable[[str], Path]


@pytest.fixture(scope="module")
def killed_states() -> dict[str, Path]:
    """The state each crash point leaves (source edited to 0.1.1), made once, then copied."""
    return {}


@pytest.fixture
def killed_at(
    killed_states: dict[str, Path],
    built_demo_once: tuple[Path, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> KilledAt:
    """A private copy of the state `registry build` left when SIGKILLed at the named point."""

    def state(point: str) -> Path:
        if point not in killed_states:
            root = copy_built(built_demo_once[0], tmp_path_factory.mktemp(f"killed_{point}"))
            _edit(root, "0.1.1")
            assert _killed_build(root, point) == -9  # SIGKILL at the named point
            killed_states[point] = root
        return copy_built(killed_states[point], tmp_path)

    return state


def _green_and_promoted(cli: Run, root: Path) -> dict[str, object]:
    code, out, err = cli("build", "--json", "--workspace", str(root))
    assert code == 0, (out, err)
    entries = {e["registry_id"]: e for e in json.loads(out)["registries"]}
    active = PointerStore(Workspace(root)).read().active("expected_versions")
    assert active is not None and active.run_id == _newest(root, "expected_versions")
    for args in (("validate", "--all"), ("pointers", "verify"), ("delta", "verify")):
        assert cli(*args, "--workspace", str(root))[0] == 0, args
    return entries


@pytest.mark.parametrize("point", BUILD_POINTS)
def test_a_build_killed_at_any_point_is_completed_by_the_next_plain_build(
    cli: Run, killed_at: KilledAt, point: str
) -> None:
    root = killed_at(point)  # edited, then SIGKILL at the named point
    _green_and_promoted(cli, root)
    with dg.DagsterInstance.from_config(str(root / ".codex" / "dagster_home")) as instance:
        started = instance.get_run_records(
            dg.RunsFilter(job_name=BUILD_JOB, statuses=[dg.DagsterRunStatus.STARTED])
        )
    assert started == []  # the killed build's run was marked failed


def test_a_source_published_by_a_killed_build_is_promoted_by_the_next_one(
    cli: Run, built_demo_once: tuple[Path, dict[str, Any]], killed_at: KilledAt
) -> None:
    green = PointerStore(Workspace(built_demo_once[0])).read()  # read only: the green build's
    before = green.active("expected_versions")
    root = killed_at("published")  # a copy of it edited, killed once it published its snapshot
    new = _newest(root, "expected_versions")
    assert before is not None and before.run_id != new
    entries = _green_and_promoted(cli, root)
    assert entries["expected_versions"]["status"] == "reused"
    assert entries["expected_versions"]["promoted"] is True
    drift = root / ".codex" / "RUNS" / str(entries["drift_signals"]["run_id"]) / "run.json"
    inputs = {ref["registry_id"]: ref["run_id"] for ref in json.loads(drift.read_text())["inputs"]}
    assert inputs["expected_versions"] == new  # drift_signals consumes the user's edit


def test_a_lost_dagster_history_does_not_block_promotion(cli: Run, killed_at: KilledAt) -> None:
    root = killed_at("published")  # edited, killed once it published its snapshot
    shutil.rmtree(root / ".codex" / "dagster_home")
    entries = _green_and_promoted(cli, root)
    assert entries["expected_versions"]["promoted"] is True
