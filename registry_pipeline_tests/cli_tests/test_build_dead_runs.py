"""The next local build cancels a QUEUED run whose `registry build` is gone, only it (issue 62)."""

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
