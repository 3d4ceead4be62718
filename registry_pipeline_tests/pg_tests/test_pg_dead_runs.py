"""Nothing dead blocks the living on a Dagster instance kept in PostgreSQL (issue 62): a
`registry build` killed by SIGKILL while its run seals (its run STARTED in the database, its
build slot's advisory lock and holder row left to the server) and a run a gone `registry build`
left QUEUED there: the next build marks the first FAILURE and the second CANCELED, a line for
each, takes the slot, builds and promotes, and exits 0; nothing of either is promoted or runs."""

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
from registry_pipeline_tests.pg_tests.conftest import Database


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
