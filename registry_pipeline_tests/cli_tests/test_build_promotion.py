"""`registry build` promotes what passed its checks, through the job's code, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_pipeline.core.pointers.journal import CHECKPOINT_RELPATH, read_records, verify_journal
from registry_pipeline.core.pointers.store import PointerRefused, PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import (
    Entries,
    Run,
    break_built_schema,
    build_entries,
    stored_active_runs,
)

SOURCES = ("expected_versions", "migration_ledger", "threshold_packs_file", "allowed_operations")
BUILT_WITH_POINTER = ("run_registry", "op_status_table", "drift_signals")


def _verify(root: Path) -> None:
    store = PointerStore(Workspace(root))
    report = verify_journal(store.journal_path, store.read())
    assert report.ok, report.problems


def test_build_promotes_every_registry_with_a_pointer(built: Path, built_entries: Entries) -> None:
    """The session's green build of the demo: `built_entries`, and `built` a copy of it."""
    demo, entries = built, built_entries
    active = stored_active_runs(demo)
    for registry_id in (*SOURCES, *BUILT_WITH_POINTER):
        assert entries[registry_id]["promoted"] is True, entries[registry_id]
        assert active[registry_id] == entries[registry_id]["run_id"]
    report = entries["system_health_report"]
    assert report["promoted"] is False and report["promotion"] == "no pointer by design"
    assert "system_health_report" not in active
    store = PointerStore(Workspace(demo))
    # one build, one move: every registry of the build in one journal entry (issue 61)
    assert len(store.journal_path.read_bytes().splitlines()) == 1
    for record in read_records(store.journal_path):
        assert record.actor["kind"] == "dagster_run"  # promoted by the build's promotion run
        assert record.checks["seal_valid"]["source"].startswith("dagster asset check")
    _verify(demo)


def test_failed_check_promotes_what_passed_then_the_fix_does(cli: Run, demo: Path) -> None:
    """A failed check on one registry: the others are promoted (issue 61), it is once fixed."""
    schema = break_built_schema(demo)
    good = schema.read_text()
    code, out, _ = cli("build", "--workspace", str(demo))
    assert code == 1
    line = next(row for row in out.splitlines() if " drift_signals " in row)
    assert "schema_valid=FAIL" in line and "not promoted (build failed)" in line
    active = stored_active_runs(demo)
    assert "drift_signals" not in active
    assert set(active) == {*SOURCES, "rolepack", "run_index", "run_overrides", "run_registry",
                           "op_status_table"}  # fmt: skip

    document = json.loads(good)
    document["required"].remove("signed_off_by")
    schema.write_text(json.dumps(document, indent=2))
    code, entries = build_entries(cli, demo)
    assert code == 0
    assert entries["drift_signals"]["promoted"] is True
    assert stored_active_runs(demo)["drift_signals"] == entries["drift_signals"]["run_id"]
    assert entries["expected_versions"]["promotion"] == "already active"  # by the failed build
    _verify(demo)

    code, out, _ = cli("build", "--workspace", str(demo))  # nothing changed: nothing to do
    assert code == 0 and out.startswith("up to date: nothing changed")
    code, again = build_entries(cli, demo, "--force")  # nothing new for the sources
    assert code == 0
    for registry_id in SOURCES:
        assert again[registry_id]["status"] == "reused"
        assert again[registry_id]["promoted"] is False
        assert again[registry_id]["promotion"] == "already active"
    rules = _input_rules(demo, "op_status_table")
    assert rules["allowed_operations"] == "same_run"  # settled: reused and reported by this run
    assert rules["run_registry"] == "same_run"
    _verify(demo)


def _input_rules(root: Path, registry_id: str) -> dict[str, str]:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(root / ".codex" / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(registry_id))
        assert event is not None and event.asset_materialization is not None
        return dict(event.asset_materialization.metadata["input_rules"].value)  # type: ignore[arg-type]


def test_a_rollback_holds_across_builds_until_released(cli: Run, built: Path) -> None:
    ledger = built / "registries" / "migration_ledger" / "applied_migrations.json"
    document = json.loads(ledger.read_text())
    document["migrations"][0]["status"] = "FAILED"
    old = stored_active_runs(built)["migration_ledger"]
    ledger.write_text(json.dumps(document, indent=2))
    code, entries = build_entries(cli, built)
    assert code == 0 and entries["migration_ledger"]["promoted"] is True
    new = entries["migration_ledger"]["run_id"]
    args = ("pointers", "rollback", "migration_ledger", "--to", str(old), "--reason", "bad ledger")
    assert cli(*args, "--workspace", str(built))[0] == 0
    code, entries = build_entries(cli, built)
    assert code == 0
    assert entries["migration_ledger"]["run_id"] == new
    assert str(entries["migration_ledger"]["promotion"]).startswith("held: bad ledger, since ")
    assert stored_active_runs(built)["migration_ledger"] == old
    document["migrations"][0]["status"] = "SKIPPED"  # a newer snapshot: still held
    ledger.write_text(json.dumps(document, indent=2))
    code, out, _ = cli("build", "--workspace", str(built))
    assert code == 0
    line = next(row for row in out.splitlines() if "migration_ledger" in row)
    assert "not promoted (held: bad ledger, since " in line
    assert stored_active_runs(built)["migration_ledger"] == old
    code, out, _ = cli("pointers", "show", "--workspace", str(built))
    assert "[held: bad ledger, since " in out
    assert cli("pointers", "release", "migration_ledger", "--workspace", str(built))[0] == 0
    code, entries = build_entries(cli, built)
    assert code == 0 and entries["migration_ledger"]["promoted"] is True
    assert (
        stored_active_runs(built)["migration_ledger"]
        == entries["migration_ledger"]["run_id"]
        != old
    )
    _verify(built)


def _drift_signals(root: Path, entries: dict[str, dict[str, object]]) -> dict[str, object]:
    folder = root / ".codex" / "RUNS" / str(entries["drift_signals"]["run_id"])
    detail = json.loads((folder / "DRIFT_SIGNALS_DETAIL_v0_2.json").read_text())
    return {signal["signal_id"]: signal["value"] for signal in detail["signals"]}


def test_drift_compares_active_snapshots_with_newest_valid_and_schemas(
    cli: Run, built: Path
) -> None:
    code, entries = build_entries(cli, built)
    assert code == 0
    values = _drift_signals(built, entries)
    pointered = (*SOURCES, *BUILT_WITH_POINTER)
    assert {rid: values[f"active_snapshot_behind:{rid}"] for rid in pointered} == dict.fromkeys(
        pointered, False
    )
    assert {rid: values[f"schema_changed:{rid}"] for rid in pointered} == dict.fromkeys(
        pointered, False
    )
    # a schema edited since the active snapshot was built
    schema = built / "schemas" / "expected_versions.schema.json"
    document = json.loads(schema.read_text())
    document["description"] = document.get("description", "") + " (edited)"
    schema.write_text(json.dumps(document, indent=2))
    # an active snapshot older than the newest valid one: roll migration_ledger back
    first = stored_active_runs(built)["migration_ledger"]
    ledger = built / "registries" / "migration_ledger" / "applied_migrations.json"
    text = ledger.read_text()
    ledger.write_text(text.replace('"status": "VERIFIED"', '"status": "UNVERIFIED"', 1))
    assert ledger.read_text() != text
    assert build_entries(cli, built)[0] == 0
    assert stored_active_runs(built)["migration_ledger"] != first
    code, _out, _err = cli(
        "pointers", "rollback", "migration_ledger", "--to", str(first), "--reason", "test",
        "--workspace", str(built),
    )  # fmt: skip
    assert code == 0
    code, entries = build_entries(cli, built)
    assert code == 0
    values = _drift_signals(built, entries)
    assert values["schema_changed:expected_versions"] is True
    assert values["schema_changed:run_registry"] is False
    assert values["active_snapshot_behind:migration_ledger"] is True
    assert values["active_snapshot_behind:expected_versions"] is False


def test_the_active_pointer_rule_checks_the_root_and_the_registry(cli: Run, built: Path) -> None:
    from registry_pipeline.lib.io_manager import active_snapshot

    workspace = Workspace(built)
    snapshot, why = active_snapshot(workspace, "allowed_operations")
    assert snapshot is not None and why is None
    path = PointerStore(workspace).pointers_path
    original = path.read_text()
    document = json.loads(original)
    for entry in document["pointers"]:
        if entry["registry_id"] == "allowed_operations":
            entry["active_ref"]["manifest_sha256"] = "0" * 64  # edited by hand
    path.write_text(json.dumps(document))
    with pytest.raises(PointerRefused) as caught:  # the journal does not explain it: never read
        active_snapshot(workspace, "allowed_operations")
    assert caught.value.code == "POINTER_MISMATCH"
    PointerStore(workspace).journal_path.unlink()  # a pointer file that predates any journal:
    (built / CHECKPOINT_RELPATH).unlink()  # nothing shows one existed (else JOURNAL_MISSING)
    snapshot, why = active_snapshot(workspace, "allowed_operations")
    assert snapshot is None and why is not None and "another root" in why
    document = json.loads(original)
    other = stored_active_runs(built)["expected_versions"]
    for entry in document["pointers"]:
        if entry["registry_id"] == "allowed_operations":
            entry["active_ref"]["run_id"] = other  # a folder of another registry
    path.write_text(json.dumps(document))
    snapshot, why = active_snapshot(workspace, "allowed_operations")
    assert snapshot is None and why is not None and "TARGET_WRONG_REGISTRY" in why
