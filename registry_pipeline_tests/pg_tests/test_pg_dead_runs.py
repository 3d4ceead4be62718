"""On PostgreSQL the next build fails a killed run, cancels a gone build's queued one, promotes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from registry_pipeline.lib.postgres import LOCK_KEY, SLOT_TABLE
from registry_pipeline_tests._dead_runs import (
    killed_mid_run,
    next_build_clears,
    queued_by_a_gone_submitter,
)
from registry_pipeline_tests.pg_tests._server import Database


def test_a_killed_build_and_a_gone_builds_queued_run_never_block_the_next(
    demo: Path,
    tmp_path: Path,
    pg_url: str,
    pg_database: Database,
    pg_env: Callable[[str], dict[str, str]],
) -> None:
    pg_env(pg_url)  # this process's instance and the builds' (child_env carries it)
    started = killed_mid_run(demo, tmp_path)
    queued = queued_by_a_gone_submitter(demo)  # after: a build's run cancels it as it begins
    status = f"SELECT run_id, status FROM runs WHERE run_id IN ('{started}', '{queued}')"
    assert dict(pg_database.server.sql(status, pg_database.name)) == {  # type: ignore[arg-type]
        started: dg.DagsterRunStatus.STARTED.value,
        queued: dg.DagsterRunStatus.QUEUED.value,
    }  # in PostgreSQL itself, as the killed build left them
    next_build_clears(demo, started=[started], queued=[queued])
    assert dict(pg_database.server.sql(status, pg_database.name)) == {  # type: ignore[arg-type]
        started: dg.DagsterRunStatus.FAILURE.value,
        queued: dg.DagsterRunStatus.CANCELED.value,
    }
    assert pg_database.lock_free(LOCK_KEY)  # the next build's slot, freed at its end
    assert pg_database.rows(SLOT_TABLE) == []  # the killed build's holder row freed too
