"""Nothing dead blocks the living, on the local SQLite instance (issue 62): a run left QUEUED by
a `registry build` of an earlier release (it queued its runs, tagged with its `pid@host`) whose
process is gone is marked CANCELED by the next build, which says so and proceeds, so that no
daemon starts it later; a queued run whose submitter still runs, or that a daemon's queue holds
(the UI, a schedule), or of another host, is not the build's to judge.

The killed build's STARTED run on this medium: test_build_killed.py; the same guards on
PostgreSQL: pg_tests/test_pg_dead_runs.py; on a bucket: s3_tests/test_bucket_dead_runs.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.runs import SUBMITTER_TAG, clear_dead_runs
from registry_pipeline_tests._dead_runs import (
    gone_pid,
    next_build_clears,
    queued_by_a_gone_submitter,
    queued_run,
)
from registry_pipeline_tests._helpers import copy_demo


def test_only_a_run_queued_by_a_gone_build_of_this_host_is_canceled(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    here = socket.gethostname()
    dead = queued_by_a_gone_submitter(root)
    alive = queued_run(root, {SUBMITTER_TAG: f"{os.getpid()}@{here}"})  # still waiting for it
    daemons = queued_run(root, {})  # the UI's, a schedule's: a daemon starts it
    elsewhere = queued_run(root, {SUBMITTER_TAG: f"{gone_pid()}@another-host"})
    odd = queued_run(root, {SUBMITTER_TAG: f"x{gone_pid()}@{here}"})  # names no process
    with open_instance(root) as instance:
        said = clear_dead_runs(instance)
        status = {run_id: instance.get_run_by_id(run_id).status  # type: ignore[union-attr]
                  for run_id in (dead, alive, daemons, elsewhere, odd)}  # fmt: skip
        assert clear_dead_runs(instance) == []  # said once
    assert len(said) == 1 and dead in said[0], said
    assert said[0].endswith("marked CANCELED") and "was left QUEUED" in said[0]
    queued = dg.DagsterRunStatus.QUEUED
    assert status == {dead: dg.DagsterRunStatus.CANCELED, alive: queued, daemons: queued,
                      elsewhere: queued, odd: queued}  # fmt: skip


def test_a_run_queued_by_a_gone_build_is_canceled_by_the_next_which_proceeds(built: Path) -> None:
    queued = queued_by_a_gone_submitter(built)
    next_build_clears(built, queued=[queued])
