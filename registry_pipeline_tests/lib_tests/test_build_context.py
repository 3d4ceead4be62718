"""A build loads its definitions against its own instance, whichever Dagster last entered."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import dagster as dg

from registry_pipeline.definitions import build_definitions
from registry_pipeline.lib.build import run_build
from registry_pipeline.lib.drift_backfill import DRIFT_DAILY_JOB, run_drift_backfill
from registry_pipeline_tests._helpers import copy_demo


def test_an_instance_left_entered_does_not_break_the_build_or_the_backfill(tmp_path: Path) -> None:
    """Another instance entered and never left, its folder since removed (an earlier caller's
    or test's): Dagster keeps the last entered instance's state storage for every later load."""
    root = copy_demo(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    with ExitStack() as left:
        left.enter_context(dg.instance_for_test(set_dagster_home=False, temp_dir=str(other)))
        shutil.rmtree(other)
        defs = build_definitions(root)
        summary = run_build(root, defs, wait=0)
        assert summary.success, [entry.problems for entry in summary.registries]
        job = defs.resolve_job_def(DRIFT_DAILY_JOB)
        outcomes = run_drift_backfill(root, [date(2026, 11, 20)], lambda: job)
    assert [outcome.success for outcome in outcomes] == [True]
