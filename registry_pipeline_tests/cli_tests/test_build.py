"""`registry build` on real temporary workspaces, through a real Dagster instance."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

from registry_pipeline.core.seal.validate import is_valid_run_folder
from registry_pipeline_tests._helpers import Entries, Run, build_entries, child_env, run_folders

SOURCES = (
    "expected_versions",
    "migration_ledger",
    "threshold_packs_file",
    "allowed_operations",
    "rolepack",
)
SOURCE_CHECKS = {
    source: {"seal_valid": True, "schema_valid": True, "coordination": True}  # add-entry's
    | ({"append_only": True} if source in ("allowed_operations", "rolepack") else {})
    for source in SOURCES
}
BUILT = ("run_registry", "op_status_table", "drift_signals", "system_health_report")


def test_build_seals_and_checks_every_registry(built: Path, built_entries: Entries) -> None:
    """The session's green build of the demo (`built_entries`); `built` copies what it left."""
    demo, entries = built, built_entries
    for registry_id in (*SOURCES, *BUILT):
        entry = entries[registry_id]
        assert entry["status"] == "built", entry
        folder = demo / ".codex" / "RUNS" / str(entry["run_id"])
        assert is_valid_run_folder(folder)
        envelope = json.loads((folder / "run.json").read_text())
        assert envelope["registry_id"] == registry_id and envelope["dagster_run_id"]
    for source in SOURCES:
        assert entries[source]["checks"] == SOURCE_CHECKS[source]
        assert entries[source]["promoted"] is True and entries[source]["promotion"] == "promoted"
    assert entries["allowed_operations"]["record_count"] == 7
    assert (demo / ".codex" / "dagster_home" / "dagster.yaml").is_file()
    report = demo / ".codex" / "RUNS" / str(entries["system_health_report"]["run_id"])
    assert {
        "SYSTEM_HEALTH_REPORT_v0_1.md",
        "SYSTEM_HEALTH_REPORT_v0_1.html",
        "SYSTEM_HEALTH_SUMMARY_v0_1.json",
    } <= {p.name for p in report.iterdir()}
    drift = demo / ".codex" / "RUNS" / str(entries["drift_signals"]["run_id"]) / "run.json"
    assert {ref["registry_id"] for ref in json.loads(drift.read_text())["inputs"]} == {
        "op_status_table",
        "run_registry",
        "expected_versions",
        "threshold_packs_file",
    }


def _latest_materialization(root: Path, registry_id: str) -> tuple[str, str] | None:
    """The Dagster run that last materialized `registry_id`, and the run folder it names."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(root / ".codex" / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(registry_id))
        if event is None or event.asset_materialization is None:
            return None
        return event.run_id, str(event.asset_materialization.metadata["run_id"].value)


def test_unchanged_sources_are_reused_and_changed_ones_sealed(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    demo, first = built, built_entries  # the first build: the session's (exit 0)
    before = run_folders(demo)
    code, out, _ = cli("build", "--workspace", str(demo), "--json", "--force")  # not `up to date`
    assert code == 0
    document = json.loads(out)
    second = {entry["registry_id"]: entry for entry in document["registries"]}
    for source in SOURCES:
        assert second[source]["status"] == "reused"
        assert second[source]["run_id"] == first[source]["run_id"]
        assert second[source]["checks"] == SOURCE_CHECKS[source]
        # the run reports the source as materialized (as the UI shows it) by the same folder
        latest = (document["dagster_run_id"], first[source]["run_id"])
        assert _latest_materialization(demo, source) == latest
    assert second["allowed_operations"]["record_count"] == 7
    table = demo / ".codex" / "RUNS" / str(second["op_status_table"]["run_id"]) / "run.json"
    inputs = {ref["registry_id"]: ref["run_id"] for ref in json.loads(table.read_text())["inputs"]}
    assert inputs["allowed_operations"] == first["allowed_operations"]["run_id"]
    latest_table = _latest_materialization(demo, "op_status_table")
    assert latest_table is not None and latest_table[0] == document["dagster_run_id"]
    new = set(run_folders(demo)) - set(before)
    assert not any(source in name for name in new for source in SOURCES)

    ledger = demo / "registries" / "migration_ledger" / "applied_migrations.json"
    changed = json.loads(ledger.read_text())
    changed["migrations"][0]["status"] = "FAILED"
    ledger.write_text(json.dumps(changed, indent=2))
    code, entries = build_entries(cli, demo)
    assert code == 0
    assert entries["migration_ledger"]["status"] == "built"
    assert entries["migration_ledger"]["run_id"] in set(run_folders(demo)) - set(before)
    assert entries["expected_versions"]["status"] == "reused"
    assert all(name in run_folders(demo) for name in before)  # old folders are never touched


def test_an_unchanged_source_that_no_longer_validates_is_checked_again(
    cli: Run, built: Path
) -> None:
    schema = built / "schemas" / "expected_versions.schema.json"
    document = json.loads(schema.read_text())
    document["required"] = [*document.get("required", []), "signed_off_by"]
    schema.write_text(json.dumps(document, indent=2))
    code, entries = build_entries(cli, built)
    assert code == 1
    assert entries["expected_versions"]["status"] == "failed"
    assert "signed_off_by" in json.dumps(entries["expected_versions"]["problems"])
    assert entries["drift_signals"]["status"] == "skipped"


def test_select_builds_only_what_was_asked(cli: Run, demo: Path) -> None:
    code, entries = build_entries(cli, demo, "--select", "expected_versions")
    assert code == 0
    assert list(entries) == ["expected_versions"]
    assert len(run_folders(demo)) == 1
    code, entries = build_entries(cli, demo, "--select", "op_status_table")
    assert code == 1  # its inputs have no valid snapshot yet: a clear step failure
    assert entries["op_status_table"]["status"] == "failed"
    assert "NO_VALID_INPUT" in json.dumps(entries["op_status_table"]["problems"])


def test_select_given_twice_builds_both(cli: Run, demo: Path) -> None:
    """`--select A --select B` built only B (the second list replaced the first)."""
    code, entries = build_entries(
        cli, demo, "--select", "expected_versions", "--select", "migration_ledger"
    )
    assert code == 0
    assert sorted(entries) == ["expected_versions", "migration_ledger"]


def test_unknown_selection_is_bad_usage(cli: Run, demo: Path) -> None:
    code, _out, err = cli("build", "--workspace", str(demo), "--select", "nope")
    assert code == 2
    assert "UNKNOWN_REGISTRY" in err


def test_rebuilding_from_the_same_inputs_is_byte_identical(cli: Run, built: Path) -> None:
    folders = []
    for _ in range(2):
        code, entries = build_entries(cli, built, "--select", "op_status_table")
        assert code == 0
        folders.append(built / ".codex" / "RUNS" / str(entries["op_status_table"]["run_id"]))
    assert folders[0] != folders[1]
    for name in ("OPERATION_STATUS_TABLE_v0_1.json", "OPERATION_STATUS_DETAIL_v0_2.json"):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes()


def _on_a_terminal(*args: str) -> tuple[int, list[str]]:
    """`registry ARGS...` on a pseudo-terminal, as in a shell: its exit code and the lines shown."""
    leader, follower = os.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "registry_pipeline", *args],
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    ) as process:
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
