"""`registry build` on real temporary workspaces, through a real Dagster instance."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

from registry_pipeline.core.seal.validate import is_valid_run_folder
from registry_pipeline_tests._helpers import Entries, Run, child_env, run_folders

REPO = Path(__file__).resolve().parents[2]


def _build_json(cli: Run, root: Path, *extra: str) -> tuple[int, dict[str, dict[str, object]]]:
    code, out, _ = cli("build", "--workspace", str(root), "--json", *extra)
    document = json.loads(out)
    return code, {entry["registry_id"]: entry for entry in document["registries"]}


def test_build_seals_every_source_and_checks_it(built: Path, built_entries: Entries) -> None:
    """The session's green build of the demo (`built_entries`); `built` copies what it left."""
    demo, entries = built, built_entries
    sources = {
        "expected_versions",
        "migration_ledger",
        "threshold_packs_file",
        "allowed_operations",
        "rolepack",
    }
    append_only = {"allowed_operations", "rolepack"}  # their catalog entries have rules
    assert sources <= set(entries)
    for registry_id in sources:
        entry = entries[registry_id]
        assert entry["status"] == "built"
        extra = {"append_only": True} if registry_id in append_only else {}
        extra["coordination"] = True  # every demo source is written by add-entry
        assert entry["checks"] == {"seal_valid": True, "schema_valid": True, **extra}
        assert entry["promoted"] is True and entry["promotion"] == "promoted"
        folder = demo / ".codex" / "RUNS" / str(entry["run_id"])
        assert is_valid_run_folder(folder)
        envelope = json.loads((folder / "run.json").read_text())
        assert envelope["registry_id"] == registry_id and envelope["dagster_run_id"]
    assert entries["allowed_operations"]["record_count"] == 7
    assert (demo / ".codex" / "dagster_home" / "dagster.yaml").is_file()


def test_unchanged_sources_are_reused_and_changed_ones_sealed(cli: Run, built: Path) -> None:
    sources = (
        "expected_versions",
        "migration_ledger",
        "threshold_packs_file",
        "allowed_operations",
    )
    before = run_folders(built)
    code, entries = _build_json(cli, built, "--force")  # a build, not `up to date`
    assert code == 0
    assert all(entries[source]["status"] == "reused" for source in sources)
    new = set(run_folders(built)) - set(before)
    assert not any(source in name for name in new for source in sources)
    assert all(name in run_folders(built) for name in before)  # old folders are never touched
    ledger = built / "registries" / "migration_ledger" / "applied_migrations.json"
    document = json.loads(ledger.read_text())
    document["migrations"][0]["status"] = "FAILED"
    ledger.write_text(json.dumps(document, indent=2))
    code, entries = _build_json(cli, built)
    assert code == 0
    new = sorted(set(run_folders(built)) - set(before))
    assert any(
        name.endswith("__migration_ledger_build") or "migration_ledger_build__" in name
        for name in new
    )
    assert entries["migration_ledger"]["status"] == "built"
    assert entries["expected_versions"]["status"] == "reused"


SOURCES = (
    "expected_versions",
    "migration_ledger",
    "threshold_packs_file",
    "allowed_operations",
    "rolepack",
)


def _latest_materialization(root: Path, registry_id: str) -> tuple[str, str] | None:
    """The Dagster run that last materialized `registry_id`, and the run folder it names."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(root / ".codex" / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(registry_id))
        if event is None or event.asset_materialization is None:
            return None
        return event.run_id, str(event.asset_materialization.metadata["run_id"].value)


def test_settled_sources_are_not_sealed_again(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    demo, first = built, built_entries  # the first build: the session's (exit 0)
    code, out, _ = cli("build", "--workspace", str(demo), "--json", "--force")  # not `up to date`
    assert code == 0
    document = json.loads(out)
    second = {entry["registry_id"]: entry for entry in document["registries"]}
    for source in SOURCES:
        assert second[source]["status"] == "reused"
        assert second[source]["run_id"] == first[source]["run_id"]
        extra = {"append_only": True} if source in ("allowed_operations", "rolepack") else {}
        extra["coordination"] = True
        assert second[source]["checks"] == {"seal_valid": True, "schema_valid": True, **extra}
        # the run reports the source as materialized (as the UI shows it) by the same folder
        latest = (document["dagster_run_id"], first[source]["run_id"])
        assert _latest_materialization(demo, source) == latest
    assert second["allowed_operations"]["record_count"] == 7
    table = demo / ".codex" / "RUNS" / str(second["op_status_table"]["run_id"]) / "run.json"
    inputs = {ref["registry_id"]: ref["run_id"] for ref in json.loads(table.read_text())["inputs"]}
    assert inputs["allowed_operations"] == first["allowed_operations"]["run_id"]
    latest = _latest_materialization(demo, "op_status_table")
    assert latest is not None and latest[0] == document["dagster_run_id"]


def test_an_unchanged_source_that_no_longer_validates_is_checked_again(
    cli: Run, built: Path
) -> None:
    schema = built / "schemas" / "expected_versions.schema.json"
    document = json.loads(schema.read_text())
    document["required"] = [*document.get("required", []), "signed_off_by"]
    schema.write_text(json.dumps(document, indent=2))
    code, entries = _build_json(cli, built)
    assert code == 1
    assert entries["expected_versions"]["status"] == "failed"
    assert "signed_off_by" in json.dumps(entries["expected_versions"]["problems"])
    assert entries["drift_signals"]["status"] == "skipped"


def test_a_full_audit_materializes_and_checks_every_source(cli: Run, built: Path) -> None:
    code, out, _ = cli("build", "--workspace", str(built), "--json", "--full-audit")
    assert code == 0
    run_id = json.loads(out)["dagster_run_id"]
    for source in SOURCES:
        latest = _latest_materialization(built, source)
        assert latest is not None and latest[0] == run_id


def test_schema_violating_source_fails_with_the_field(cli: Run, demo: Path) -> None:
    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text('{"version": 3, "expected": {"schema_version": "0.1"}}\n')
    code, out, err = cli("build", "--workspace", str(demo))
    assert code == 1
    line = next(row for row in out.splitlines() if "expected_versions" in row and "FAILED" in row)
    assert "not promoted (build failed)" in line
    assert "line 1 /version" in out and "EXPECTED_VERSIONS_v0_1.json" in out
    assert ": FAILED (http://127.0.0.1:3000/runs/" in out.splitlines()[-1]
    assert "FAILED" not in err


def test_malformed_source_reports_the_line(cli: Run, demo: Path) -> None:
    source = demo / "registries" / "migration_ledger" / "applied_migrations.json"
    source.write_text('{\n  "_version": "1.0",\n  "migrations": [,]\n}\n')
    code, out, _ = cli("build", "--workspace", str(demo))
    assert code == 1
    assert "applied_migrations.json" in out and "line 3" in out


def test_select_builds_only_what_was_asked(cli: Run, demo: Path) -> None:
    code, entries = _build_json(cli, demo, "--select", "expected_versions")
    assert code == 0
    assert list(entries) == ["expected_versions"]
    assert len(run_folders(demo)) == 1
    code, entries = _build_json(cli, demo, "--select", "op_status_table")
    assert code == 1  # its inputs have no valid snapshot yet: a clear step failure
    assert entries["op_status_table"]["status"] == "failed"
    assert "NO_VALID_INPUT" in json.dumps(entries["op_status_table"]["problems"])


def test_select_given_twice_builds_both(cli: Run, demo: Path) -> None:
    """`--select A --select B` built only B (the second list replaced the first)."""
    code, entries = _build_json(
        cli, demo, "--select", "expected_versions", "--select", "migration_ledger"
    )
    assert code == 0
    assert sorted(entries) == ["expected_versions", "migration_ledger"]


def test_unknown_selection_is_bad_usage(cli: Run, demo: Path) -> None:
    code, _out, err = cli("build", "--workspace", str(demo), "--select", "nope")
    assert code == 2
    assert "UNKNOWN_REGISTRY" in err


def test_build_outside_a_workspace(cli: Run, tmp_path: Path) -> None:
    code, _out, err = cli("build", "--workspace", str(tmp_path))
    assert code == 2
    assert "NOT_A_WORKSPACE" in err


BUILT = ("run_registry", "op_status_table", "drift_signals", "system_health_report")


def test_full_graph_builds_every_registry(built: Path, built_entries: Entries) -> None:
    demo, entries = built, built_entries  # the session's green build (exit 0) and a copy
    for registry_id in BUILT:
        assert entries[registry_id]["status"] == "built", entries[registry_id]
        folder = demo / ".codex" / "RUNS" / str(entries[registry_id]["run_id"])
        assert is_valid_run_folder(folder)
    report = demo / ".codex" / "RUNS" / str(entries["system_health_report"]["run_id"])
    assert {
        "SYSTEM_HEALTH_REPORT_v0_1.md",
        "SYSTEM_HEALTH_REPORT_v0_1.html",
        "SYSTEM_HEALTH_SUMMARY_v0_1.json",
    } <= {p.name for p in report.iterdir()}
    drift = json.loads(
        (
            demo / ".codex" / "RUNS" / str(entries["drift_signals"]["run_id"]) / "run.json"
        ).read_text()
    )
    assert {ref["registry_id"] for ref in drift["inputs"]} == {
        "op_status_table",
        "run_registry",
        "expected_versions",
        "threshold_packs_file",
    }


def test_failed_check_stops_downstream(cli: Run, demo: Path) -> None:
    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text('{"version": "0.1"}\n')
    code, entries = _build_json(cli, demo)
    assert code == 1
    assert entries["expected_versions"]["status"] == "failed"
    assert entries["drift_signals"]["status"] == "skipped"
    assert entries["system_health_report"]["status"] == "skipped"
    assert entries["op_status_table"]["status"] == "built"
    assert not any("drift_signals_build" in name for name in run_folders(demo))


def test_rebuilding_from_the_same_inputs_is_byte_identical(cli: Run, built: Path) -> None:
    folders = []
    for _ in range(2):
        code, entries = _build_json(cli, built, "--select", "op_status_table")
        assert code == 0
        folders.append(built / ".codex" / "RUNS" / str(entries["op_status_table"]["run_id"]))
    assert folders[0] != folders[1]
    for name in ("OPERATION_STATUS_TABLE_v0_1.json", "OPERATION_STATUS_DETAIL_v0_2.json"):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes()


def _on_a_terminal(*args: str) -> tuple[int, list[str]]:
    """`registry ARGS...` on a pseudo-terminal, as in a shell: its exit code and the lines shown."""
    leader, follower = os.openpty()
    with subprocess.Popen([sys.executable, "-m", "registry_pipeline", *args], env=child_env(),
                          stdin=subprocess.DEVNULL, stdout=follower, stderr=follower) as process:
        os.close(follower)
        shown = b""
        while select.select([leader], [], [], 600)[0]:  # readable: output, or the end (EIO)
            try:
                data = os.read(leader, 1 << 16)
            except OSError:  # the last writer closed the terminal: the process ended
                break
            shown += data
        os.close(leader)
        code = process.wait(timeout=60)
    return code, shown.decode().splitlines()


def test_on_a_terminal_each_registrys_line_is_shown_once(built: Path) -> None:
    """A registry's line shows as its checks finish; the summary says the promotion and totals."""
    source = built / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text('{"version": 3, "expected": {"schema_version": "0.1"}}\n')
    code, lines = _on_a_terminal("build", "--force", "--workspace", str(built))
    assert code == 1, lines
    statuses = ("BUILT", "REUSED", "FAILED", "SKIPPED")
    rows = [line.split()[1] for line in lines if line.split()[:1] and line.split()[0] in statuses]
    assert sorted(rows) == sorted(set(rows)) and len(rows) >= 9, lines  # each once, every one
    assert sum("/version" in line for line in lines) == 1, lines  # its problem said once too
    assert any(line.startswith("promoted: ") for line in lines), lines
    assert lines[-1].startswith("dagster run ") and ": FAILED (http" in lines[-1], lines
