"""A build loads its definitions against its own instance, whichever Dagster last entered."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from dagster._core.storage.defs_state.base import set_defs_state_storage
from dagster._core.storage.defs_state.blob_storage_state_storage import UPathDefsStateStorage
from upath import UPath

from registry_pipeline.definitions import build_definitions
from registry_pipeline.lib.build import run_build
from registry_pipeline.lib.drift_backfill import DRIFT_DAILY_JOB, run_drift_backfill
from registry_pipeline_tests._helpers import copy_demo


def test_a_stale_state_storage_does_not_break_the_build_or_the_backfill(tmp_path: Path) -> None:
    stale = UPathDefsStateStorage(UPath(tmp_path / "other"))  # its instance is gone
    root = copy_demo(tmp_path)
    with set_defs_state_storage(stale):
        defs = build_definitions(root)
        summary = run_build(root, defs, wait=0)
        assert summary.success, [entry.problems for entry in summary.registries]
        job = defs.resolve_job_def(DRIFT_DAILY_JOB)
        outcomes = run_drift_backfill(root, [date(2026, 11, 20)], lambda: job)
    assert [outcome.success for outcome in outcomes] == [True]
