"""With nothing changed `registry build` says `up to date` without Dagster, as the schedule does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from registry_pipeline.core.freshness import up_to_date
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Entries, Run

EXPECTED = "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"


def _build(cli: Run, root: Path, *extra: str) -> dict[str, Any]:
    code, out, err = cli("build", "--workspace", str(root), "--json", *extra)
    assert code == 0, out + err
    document = json.loads(out)
    assert document["success"] is True
    return dict(document)


def _entry(document: dict[str, Any], registry_id: str) -> dict[str, Any]:
    return dict(next(e for e in document["registries"] if e["registry_id"] == registry_id))


def test_a_second_build_is_up_to_date_and_does_not_import_dagster(cli: Run, demo: Path) -> None:
    first = _build(cli, demo)
    assert first["up_to_date"] is False and first["dagster_run_id"]
    runs = sorted(p.name for p in (demo / ".codex/RUNS").iterdir())
    argv = ["-X", "importtime", "-m", "registry_pipeline", "build", "--workspace", str(demo)]
    done = subprocess.run(
        [sys.executable, *argv, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    second = json.loads(done.stdout)
    assert second["up_to_date"] is True and second["changed"] == [], second["changed"]
    assert second["dagster_run_id"] is None
    assert second["last_build"]["dagster_run_id"] == first["dagster_run_id"]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "registry_pipeline.core.freshness.state" in imported
    assert not {name for name in imported if name.split(".")[0] == "dagster"}
    assert sorted(p.name for p in (demo / ".codex/RUNS").iterdir()) == runs  # nothing sealed


def test_force_builds_and_a_forced_build_is_a_fixed_point_too(cli: Run, demo: Path) -> None:
    _build(cli, demo)  # up to date: what --force overrides (a copy of `built` is not)
    forced = _build(cli, demo, "--force")
    assert forced["up_to_date"] is False and forced["dagster_run_id"]
    assert _entry(forced, "expected_versions")["status"] == "reused"
    assert _entry(forced, "run_registry")["status"] == "built"
    code, out, _ = cli("build", "--workspace", str(demo))
    assert code == 0 and out.startswith("up to date: nothing changed"), out[-300:]


def test_a_changed_source_is_built_then_the_workspace_is_up_to_date(cli: Run, demo: Path) -> None:
    _build(cli, demo)
    source = demo / EXPECTED
    source.write_text(source.read_text().replace("\n", "\n ", 1))  # same data, other bytes
    assert "source:expected_versions" in up_to_date(Workspace(demo)).changed
    rebuilt = _build(cli, demo)
    entry = _entry(rebuilt, "expected_versions")
    assert entry["status"] == "built" and entry["promoted"] is True
    assert up_to_date(Workspace(demo)).up_to_date


def test_a_tampered_active_snapshot_is_never_up_to_date(cli: Run, demo: Path) -> None:
    """The shortcut is as strict as the build: a write to an active file is seen."""
    first = _build(cli, demo)
    folder = demo / ".codex/RUNS" / str(_entry(first, "expected_versions")["run_id"])
    with (folder / "EXPECTED_VERSIONS_v0_1.json").open("a", encoding="utf-8") as handle:
        handle.write(" ")
    freshness = up_to_date(Workspace(demo))
    assert "active:expected_versions (fails inspection)" in freshness.changed
    _code, out, _err = cli("build", "--workspace", str(demo))
    assert not out.startswith("up to date")


def test_an_active_snapshot_with_a_failed_receipt_is_never_up_to_date(cli: Run, demo: Path) -> None:
    """The gate refuses it (CHECK_FAILED), a build replaces it; the shortcut said up to date."""
    from registry_pipeline.core.gate.gate import evaluate, record
    from registry_pipeline.core.gate.verdict import CheckVerdict
    from registry_pipeline.core.workspace.snapshots import read_snapshot

    first = _build(cli, demo)
    folder = demo / ".codex/RUNS" / str(_entry(first, "expected_versions")["run_id"])
    workspace = Workspace(demo)
    verdicts = evaluate(workspace, "expected_versions", folder)
    failed = CheckVerdict("schema_valid", False, "broken", {"reason_codes": ["X"]})
    root = str(read_snapshot(folder, "expected_versions").root_sha256)
    record(workspace, "expected_versions", folder, root, [*verdicts[:1], failed],
           {"kind": "cli_user", "id": "test"})  # fmt: skip
    freshness = up_to_date(workspace)
    assert "active:expected_versions (a failed receipt)" in freshness.changed, freshness
    rebuilt = _build(cli, demo)
    assert rebuilt["up_to_date"] is False
    assert _entry(rebuilt, "expected_versions")["run_id"] != folder.name
    assert up_to_date(workspace).up_to_date  # replaced: the shortcut holds again


def test_a_folder_dated_in_the_future_is_read_once_its_date_has_come(
    cli: Run, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A future folder is left out until its date; the shortcut then said `up to date` for good."""
    from registry_pipeline.core.freshness import state

    first = _build(cli, demo)
    runs = demo / ".codex/RUNS"
    active = runs / str(_entry(first, "expected_versions")["run_id"])
    due = datetime.now(UTC) + timedelta(hours=1)  # past the skew, however slow the builds
    shutil.copytree(active, runs / f"{due:%Y-%m-%d__%H%M%S}__expected_versions_build")
    _build(cli, demo)  # a new folder: built, the future one left out, the state recorded
    assert up_to_date(Workspace(demo)).up_to_date
    monkeypatch.setattr(state, "now_utc", lambda: due)  # due: within the skew of now
    changed = up_to_date(Workspace(demo)).changed
    assert changed == (
        f"runs:.codex/RUNS ({due:%Y-%m-%d__%H%M%S}__expected_versions_build is no longer "
        "dated in the future)",
    ), changed


def test_a_released_hold_makes_the_next_build_promote(cli: Run, built: Path) -> None:
    demo = built  # after one build, whose pointers the hold holds
    ws = ("--workspace", str(demo))
    assert cli("pointers", "hold", "expected_versions", "--reason", "freeze", *ws)[0] == 0
    source = demo / EXPECTED
    source.write_text(source.read_text().replace("\n", "\n ", 1))
    held = _build(cli, demo)
    assert _entry(held, "expected_versions")["promoted"] is False
    assert up_to_date(Workspace(demo)).up_to_date
    # up to date, and saying the edit is not active, and why (issue 62: never taken as applied)
    code, out, err = cli("build", *ws)
    assert code == 0 and "up to date" in out + err, out + err
    line = next(line for line in (out + err).splitlines() if "up to date" in line)
    assert "not active" in line and "expected_versions: held: freeze" in line, line
    document = json.loads(cli("build", "--json", *ws)[1])
    assert set(document["not_active"]) == {"expected_versions"}, document
    assert cli("pointers", "release", "expected_versions", "--reason", "thaw", *ws)[0] == 0
    assert up_to_date(Workspace(demo)).changed == ("held:expected_versions",)
    assert _entry(_build(cli, demo), "expected_versions")["promoted"] is True


def test_a_rollback_is_a_change_and_the_next_build_records_it(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    demo = built  # after the session's first build, whose drift_signals snapshot is rolled back to
    old = built_entries["drift_signals"]["run_id"]
    _build(cli, demo, "--force")
    code, _, err = cli(
        "pointers", "rollback", "drift_signals", "--to", str(old), "--reason", "bad pack",
        "--workspace", str(demo),
    )  # fmt: skip
    assert code == 0, err
    assert up_to_date(Workspace(demo)).changed == ("active:drift_signals", "held:drift_signals")
    after = _build(cli, demo)  # the rollback holds the pointer: built, not promoted
    entry = _entry(after, "drift_signals")
    assert entry["promoted"] is False
    assert up_to_date(Workspace(demo)).up_to_date


def test_the_daily_schedule_decides_as_the_cli_and_its_run_is_the_same_build(
    cli: Run, demo: Path
) -> None:
    """Schedule and change sensor skip exactly when `registry build` says up to date: one rule."""
    from registry_pipeline.definitions import build_definitions
    from registry_pipeline.defs.schedules import CHANGE_SENSOR, DAILY_REBUILD
    from registry_pipeline.lib.build_run import BUILD_JOB
    from registry_pipeline.lib.instance import open_instance
    from registry_pipeline_tests._helpers import promote_as_the_sensor

    defs = build_definitions(demo)
    schedule = defs.resolve_schedule_def(DAILY_REBUILD)
    with open_instance(demo) as instance:
        tick = schedule.evaluate_tick(dg.build_schedule_context(instance))
        [request] = tick.run_requests or []  # nothing recorded yet: build
        change = defs.resolve_sensor_def(CHANGE_SENSOR)
        sensed = change(dg.build_sensor_context(instance=instance))
        assert isinstance(sensed, dg.RunRequest) and sensed.run_key
        result = defs.resolve_job_def(BUILD_JOB).execute_in_process(
            instance=instance, tags=request.tags, raise_on_error=False
        )
        assert result.success
        assert not up_to_date(Workspace(demo)).up_to_date  # built, not yet promoted
        [_promotion] = promote_as_the_sensor(defs, instance)
        freshness = up_to_date(Workspace(demo))
        assert freshness.up_to_date, freshness.changed
        skipped = schedule.evaluate_tick(dg.build_schedule_context(instance))
        assert not skipped.run_requests
        assert skipped.skip_message == freshness.summary()
        sensed = change(dg.build_sensor_context(instance=instance))
        assert isinstance(sensed, dg.SkipReason) and sensed.skip_message == freshness.summary()
    code, out, _ = cli("build", "--workspace", str(demo))
    assert code == 0 and out.strip() == freshness.summary()
