"""The kept-connection SQLite storage writes Dagster's own files: a plain Dagster instance over the
same home reads what it wrote, and it reads what plain Dagster wrote."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from registry_pipeline.lib.storage import KeptSqliteEventLogStorage, KeptSqliteStorage


@dg.asset
def numbers() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"count": 3})


def _kept(home: Path) -> dg.DagsterInstance:
    custom = {
        "module": "registry_pipeline.lib.storage",
        "class": "KeptSqliteStorage",
        "config": {"base_dir": str(home)},
    }
    return dg.DagsterInstance.from_ref(
        InstanceRef.from_dir(str(home), overrides={"storage": {"custom": custom}})
    )


def _materialize(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([numbers], instance=instance)
    assert result.success
    return result.run_id


def test_plain_dagster_reads_what_the_kept_storage_wrote_and_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with _kept(home) as kept:
        assert isinstance(kept._event_storage, KeptSqliteEventLogStorage)
        first = _materialize(kept)
    with dg.DagsterInstance.from_config(str(home)) as plain:
        assert not isinstance(plain._event_storage, KeptSqliteEventLogStorage)
        assert plain.get_run_by_id(first) is not None
        event = plain.get_latest_materialization_event(dg.AssetKey("numbers"))
        assert event is not None and event.run_id == first
        second = _materialize(plain)
    with _kept(home) as kept:
        event = kept.get_latest_materialization_event(dg.AssetKey("numbers"))
        assert event is not None and event.run_id == second
        assert {r.dagster_run.run_id for r in kept.get_run_records()} == {first, second}


def test_the_run_shards_stay_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with _kept(home) as kept:
        run_id = _materialize(kept)
        storage = kept._event_storage
        assert isinstance(storage, KeptSqliteEventLogStorage)
        with storage.run_connection(run_id) as connection:
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        assert synchronous == 1  # NORMAL (FULL is 2)
    shard = home / "history" / "runs" / f"{run_id}.db"
    with sqlite3.connect(shard) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_storage_class_is_dagsters_composite(tmp_path: Path) -> None:
    storage = KeptSqliteStorage.from_local(str(tmp_path / "home"))
    try:
        assert isinstance(storage, DagsterSqliteStorage)
        assert (tmp_path / "home" / "history" / "runs.db").exists()
    finally:
        storage.dispose()


def test_the_workspace_instance_uses_it_unless_dagster_yaml_names_a_storage(tmp_path: Path) -> None:
    from registry_pipeline.lib.instance import open_instance

    with open_instance(tmp_path) as instance:
        assert isinstance(instance._event_storage, KeptSqliteEventLogStorage)
        run_id = _materialize(instance)
    config = tmp_path / ".codex" / "dagster_home" / "dagster.yaml"
    home = config.parent
    config.write_text(f"storage:\n  sqlite:\n    base_dir: {home}\n", encoding="utf-8")
    with open_instance(tmp_path) as instance:  # a user's own file: Dagster's classes, same files
        assert not isinstance(instance._event_storage, KeptSqliteEventLogStorage)
        assert instance.get_run_by_id(run_id) is not None
