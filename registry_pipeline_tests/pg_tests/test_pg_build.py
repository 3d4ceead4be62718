"""`registry build` on PostgreSQL: fresh tables, a second build reuses, every run in it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from registry_pipeline.definitions import BUILD_JOB
from registry_pipeline.lib.instance import POSTGRES_INSTANCE_CONFIG, open_instance
from registry_pipeline.lib.postgres import LOCK_KEY, SLOT_TABLE
from registry_pipeline_tests._helpers import Run
from registry_pipeline_tests.pg_tests._server import PostgresServer

SOURCES = {"expected_versions", "migration_ledger", "threshold_packs_file", "allowed_operations"}


def _build(cli: Run, root: Path, *extra: str) -> dict[str, dict[str, object]]:
    code, out, err = cli("build", "--workspace", str(root), "--json", "--wait", "30", *extra)
    assert code == 0, err
    document = json.loads(out)
    assert document["success"] is True
    return {entry["registry_id"]: entry for entry in document["registries"]}


def test_a_build_on_an_empty_database_then_one_that_reuses(
    cli: Run,
    demo: Path,
    pg_server: PostgresServer,
    blank_pg_url: str,
    pg_env: Callable[[str], dict[str, str]],
) -> None:
    pg_env(blank_pg_url)
    first = _build(cli, demo)
    assert {entry["status"] for entry in first.values()} == {"built"}
    home = demo / ".codex" / "dagster_home"
    assert (home / "dagster.yaml").read_text() == POSTGRES_INSTANCE_CONFIG
    assert not (home / "history").exists()  # nothing went to SQLite
    second = _build(cli, demo, "--force")  # a build, not the answer that nothing changed
    for source in SOURCES:
        assert second[source]["status"] == "reused"
        assert second[source]["run_id"] == first[source]["run_id"]  # not sealed again
    with open_instance(demo) as instance:
        assert type(instance.run_storage).__module__.startswith("dagster_postgres")
        runs = instance.get_runs(dg.RunsFilter(job_name=BUILD_JOB))
        assert runs and {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
        assert instance.get_latest_materialization_event(dg.AssetKey("op_status_table"))
    database = blank_pg_url.rsplit("/", 1)[1]
    assert pg_server.sql(f"SELECT holder FROM {SLOT_TABLE}", database) == []  # released by both
    low = LOCK_KEY & 0xFFFFFFFF  # an advisory lock's key, as pg_locks shows it: its low 32 bits
    locks = (f"SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = {low} AND database"
             " = (SELECT oid FROM pg_database WHERE datname = current_database())")  # fmt: skip
    assert pg_server.sql(locks, database) == []
    rows = pg_server.sql(f"SELECT run_id FROM runs WHERE pipeline_name = '{BUILD_JOB}'", database)
    assert {row[0] for row in rows} == {run.run_id for run in runs}  # in PostgreSQL itself
