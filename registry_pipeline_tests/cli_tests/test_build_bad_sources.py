"""A bad hand-edited source is refused before sealing, naming its code, file, line and field."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run, build_entries, run_folders

EXPECTED = Path("registries/expected_versions/EXPECTED_VERSIONS_v0_1.json")


def test_a_broken_source_is_not_sealed_and_the_fix_is_green(cli: Run, built: Path) -> None:
    before = set(run_folders(built))
    source = built / EXPECTED
    good = source.read_bytes()
    source.write_bytes(good.replace(b'"', b"", 1))  # one typo: the JSON no longer parses
    code, entries = build_entries(cli, built)
    assert code == 1
    entry = entries["expected_versions"]
    assert entry["status"] == "failed" and entry["run_id"] is None
    problems = "\n".join(map(str, entry["problems"]))
    assert "BAD_SOURCE" in problems and str(EXPECTED) in problems
    assert "JSON_INVALID" in problems and "line 2" in problems
    assert "DagsterExecutionStepExecutionError" not in problems
    # what reads it is skipped, downstream of it too; the rest is built
    assert entries["drift_signals"]["status"] == entries["system_health_report"]["status"]
    assert entries["drift_signals"]["status"] == "skipped"
    assert entries["op_status_table"]["status"] == "built"
    new = set(run_folders(built)) - before  # the failed source and what reads it sealed nothing
    assert not any(rid in name for name in new for rid in ("expected_versions", "drift_signals"))
    source.write_bytes(good)
    code, entries = build_entries(cli, built)
    assert code == 0
    code, out, err = cli("validate", "--all", "--workspace", str(built))
    assert code == 0, out + err


def test_a_schema_violation_names_file_line_and_field(cli: Run, demo: Path) -> None:
    source = demo / EXPECTED
    document = json.loads(source.read_text())
    document["version"] = 3
    source.write_text(json.dumps(document, indent=2) + "\n")
    line = 1 + next(
        n for n, text in enumerate(source.read_text().splitlines()) if '"version"' in text
    )
    code, out, err = cli("build", "--workspace", str(demo))
    assert code == 1
    row = next(r for r in out.splitlines() if r.startswith("FAILED") and "expected_versions" in r)
    assert "not promoted" in row
    assert f"SCHEMA_VIOLATION  {EXPECTED}: line {line} /version" in out
    assert not any("expected_versions" in name for name in run_folders(demo))
    assert ": FAILED (http" in out.splitlines()[-1] and err == ""  # the verdict is a result
    code, out, _ = cli("build", "--workspace", str(demo), "--json")
    (problem,) = [p for e in json.loads(out)["registries"] for p in e["problems"]
                  if p["code"] == "SCHEMA_VIOLATION"]  # fmt: skip
    assert (problem["path"], problem["line"], problem["field"]) == (str(EXPECTED), line, "/version")


def test_the_failure_is_the_failed_steps_message_in_dagster(cli: Run, demo: Path) -> None:
    (demo / EXPECTED).write_text("{}\n")
    code, out, _ = cli("build", "--workspace", str(demo), "--json")
    assert code == 1
    run_id = json.loads(out)["dagster_run_id"]
    import dagster as dg

    with dg.DagsterInstance.from_config(str(demo / ".codex" / "dagster_home")) as instance:
        failures = [
            record.event_log_entry.dagster_event
            for record in instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.STEP_FAILURE
            ).records
        ]
    event = next(e for e in failures if e and e.step_key == "expected_versions")
    user = event.step_failure_data.user_failure_data
    assert user is not None and user.description.startswith("BAD_SOURCE")
    assert user.metadata["reason_code"].value == "BAD_SOURCE"
    assert "SCHEMA_VIOLATION" in json.dumps(user.metadata["problems"].value)


def test_a_stray_file_beside_a_globbed_source_is_reported_not_sealed(cli: Run, demo: Path) -> None:
    stray = demo / "registries" / "threshold_packs" / "README.txt"
    stray.write_text("notes\n")
    code, entries = build_entries(cli, demo)
    assert code == 0
    packs = entries["threshold_packs_file"]
    assert packs["notes"] == [
        "registries/threshold_packs/README.txt is not matched by the catalog's sources "
        "pattern: not sealed"
    ]
    folder = demo / ".codex" / "RUNS" / str(packs["run_id"])
    assert not (folder / "README.txt").exists()
    code, entries = build_entries(cli, demo, "--force")  # settled, unchanged: still said
    assert entries["threshold_packs_file"]["status"] == "reused"
    assert entries["threshold_packs_file"]["notes"] == packs["notes"]
    _code, out, _ = cli("build", "--workspace", str(demo), "--force")
    assert "note: registries/threshold_packs/README.txt is not matched" in out


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_special_file_as_source_fails_with_its_code(cli: Run, demo: Path, kind: str) -> None:
    source = demo / EXPECTED
    real = demo / "elsewhere.json"
    real.write_bytes(source.read_bytes())
    source.unlink()
    if kind == "symlink":
        source.symlink_to(real)
    else:
        os.mkfifo(source)
    code, entries = build_entries(cli, demo)
    assert code == 1
    problems = " ".join(map(str, entries["expected_versions"]["problems"]))
    assert "NOT_A_REGULAR_FILE" in problems and "EXPECTED_VERSIONS_v0_1.json" in problems
    assert not any("expected_versions" in name for name in run_folders(demo))


def test_a_catalog_missing_a_builders_input_is_refused_before_dagster(cli: Run, demo: Path) -> None:
    path = demo / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog = json.loads(path.read_text())
    catalog["registries"] = [
        entry for entry in catalog["registries"] if entry["registry_id"] != "allowed_operations"
    ]
    for entry in catalog["registries"]:
        entry["depends_on"] = [d for d in entry["depends_on"] if d != "allowed_operations"]
    path.write_text(json.dumps(catalog, indent=2))
    code, out, err = cli("build", "--workspace", str(demo))
    assert code == 2
    assert "CATALOG_INVALID" in err and "'allowed_operations'" in err
    assert "op_status_table" in err and "KeyError" not in out + err
    assert not (demo / ".codex" / "dagster_home").exists() or not run_folders(demo)
