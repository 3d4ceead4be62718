"""The op_status_table builder: statuses, unauthorized operations, tri-state drift, determinism,
and rows valid against our schemas and the seed system's v0.1 array schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from registry_pipeline.core.builders.model import BuildResult
from registry_pipeline.core.builders.op_status_table import (
    DETAIL_ARTIFACT,
    TABLE_ARTIFACT,
    build_op_status_table,
)
from registry_pipeline.core.builders.operations_catalog import INPUT_INVALID
from registry_pipeline.core.builders.run_registry import (
    REGISTRY_ARTIFACT,
    SEAL_STATUS_ARTIFACT,
    RunRoot,
    build_run_registry,
    with_seal_warnings,
)
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.hashing import jsonl_records
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.layout import Workspace

REPO = Path(__file__).resolve().parents[3]
AS_OF = "2026-11-21T12:00:00Z"
TABLE_SCHEMA = "urn:registry-pipeline:schema:op_status_table_v0_1"
DETAIL_SCHEMA = "urn:registry-pipeline:schema:op_status_detail_v0_2"
SEED_ARRAY_SCHEMA = "schemas/REGISTRY_op_status_table_v0_1.array.schema.json"

OPERATIONS: dict[str, Any] = {
    "catalog_version": "0.2",
    "operations": [
        {
            "operation_id": "OP-T01",
            "name": "Always fine",
            "option": "QA",
            "builder": None,
            "enforcement_level": "C4",
            "threshold_pack": "daily",
        },
        {
            "operation_id": "OP-T02",
            "name": "Broken lately",
            "option": "QA",
            "builder": None,
            "enforcement_level": "C3",
            "threshold_pack": "daily",
        },
        {
            "operation_id": "OP-T03",
            "name": "Left behind",
            "option": "B",
            "builder": None,
            "enforcement_level": "C2",
            "threshold_pack": "daily",
        },
        {
            "operation_id": "OP-T04",
            "name": "Never started",
            "option": "D",
            "builder": None,
            "enforcement_level": "C1",
        },
    ],
}
PACKS: dict[str, dict[str, Any]] = {"daily": {"max_age_hours": 24}}

ROW_FIELDS = (  # the seed's v0.1 row, in its order
    "status_version",
    "option",
    "operation_id",
    "operation_name",
    "coverage_level",
    "last_run_id",
    "last_run_created_utc",
    "run_evidence_state",
    "manifest_state",
    "run_json_state",
    "staleness_days",
    "op_drift",
    "op_drift_reasons",
    "warnings",
)


def line(
    run_id: str,
    operation_id: str | None,
    created_utc: str | None,
    seal: str = "seal:PASS",
    **changes: Any,
) -> dict[str, Any]:
    """A run registry line in the v0.1 shape, with our seal status in `warnings`."""
    root = ".codex/RUNS"
    record: dict[str, Any] = {
        "registry_version": "0.1",
        "run_id": run_id,
        "run_root": root,
        "run_key": f"{root}::{run_id}",
        "run_path": f"{root}/{run_id}/",
        "created_utc": created_utc,
        "run_type": "op_run",
        "option": None,
        "operation_id": operation_id,
        "git_commit": "a" * 40,
        "working_tree_state": "clean",
        "has_run_json": True,
        "has_manifest_sha256": True,
        "has_manifest_json": True,
        "manifest_root_sha256": "b" * 64,
        "files": [],
        "warnings": [seal],
    }
    record.update(changes)
    return record


LINES = [
    line(
        "r01",
        "OP-T01",
        "2026-11-20T08:00:00Z",
        warnings=["seal:FAIL", "seal:FAIL:HASH_MISMATCH:out.json"],
    ),
    line("r02", "OP-T01", "2026-11-21T06:00:00Z"),
    line("r03", "OP-T02", "2026-11-19T10:00:00Z"),
    line("r04", "OP-T02", "2026-11-21T07:00:00Z", "seal:TAMPERED"),
    line("r05", "OP-T03", "2026-11-18T12:00:00Z"),
    line("r06", "OP-T03", "2026-11-21T11:00:00Z", "seal:UNSEALED"),
    line("r07", "OP-X99", "2026-11-21T09:00:00Z"),
    line("r08", "OP-X99", "2026-11-20T09:00:00Z", "seal:UNSEALED"),
    line("r09", "OP-X42", "2026-11-21T09:30:00Z"),
]


def status_table(result: BuildResult) -> list[dict[str, Any]]:
    """The v0.1 rows a build wrote."""
    return list(json.loads(result.files[TABLE_ARTIFACT]))


def status_detail(result: BuildResult) -> dict[str, Any]:
    """The v0.2 detail document a build wrote."""
    return dict(json.loads(result.files[DETAIL_ARTIFACT]))


def build(lines: list[dict[str, Any]] = LINES, **kwargs: Any) -> BuildResult:
    return build_op_status_table(lines, OPERATIONS, PACKS, as_of=AS_OF, **kwargs)


def by_op(result: BuildResult) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = {row["operation_id"]: row for row in status_table(result)}
    details = {entry["operation_id"]: entry for entry in status_detail(result)["operations"]}
    return rows, details


def test_ok_when_the_last_run_passed_within_its_limit() -> None:
    rows, details = by_op(build())
    assert details["OP-T01"]["status"] == "ok"
    assert details["OP-T01"]["last_run_id"] == "r02"
    assert details["OP-T01"]["last_success_run_id"] == "r02"
    assert details["OP-T01"]["last_success_utc"] == "2026-11-21T06:00:00Z"
    assert details["OP-T01"]["run_count"] == 2
    assert details["OP-T01"]["failed_count"] == 1
    assert details["OP-T01"]["stale_after_hours"] == 24
    assert details["OP-T01"]["evidence"] == [".codex/RUNS::r01", ".codex/RUNS::r02"]
    row = rows["OP-T01"]
    assert row["last_run_id"] == "r02"
    assert row["run_evidence_state"] == "OBSERVED"
    assert row["staleness_days"] == 0
    assert "status:ok" in row["warnings"]


def test_failing_when_the_last_run_is_tampered_even_after_a_success() -> None:
    rows, details = by_op(build())
    assert details["OP-T02"]["status"] == "failing"
    assert details["OP-T02"]["last_success_run_id"] == "r03"
    assert details["OP-T02"]["last_seal_status"] == "TAMPERED"
    assert details["OP-T02"]["failed_count"] == 1
    assert "last_run_seal:TAMPERED" in rows["OP-T02"]["warnings"]


def test_tamper_flag_after_the_verdict_counts_as_tampered() -> None:
    tampered = line("r1", "OP-T01", "2026-11-21T10:00:00Z", warnings=["seal:FAIL", "seal:TAMPERED"])
    rows, details = by_op(build([tampered]))
    assert details["OP-T01"]["last_seal_status"] == "TAMPERED"
    assert details["OP-T01"]["status"] == "failing"
    assert rows["OP-T01"]["warnings"][1:3] == ["last_run_seal:FAIL", "last_run_seal:TAMPERED"]


def test_failing_when_the_last_seal_failed() -> None:
    lines = [
        line(
            "r1",
            "OP-T01",
            "2026-11-21T10:00:00Z",
            warnings=["seal:FAIL", "seal:FAIL:ROOT_MISMATCH:x"],
        )
    ]
    _, details = by_op(build(lines))
    assert details["OP-T01"]["status"] == "failing"
    assert details["OP-T01"]["last_success_run_id"] is None


def test_stale_when_the_last_success_is_older_than_the_pack_allows() -> None:
    rows, details = by_op(build())
    assert details["OP-T03"]["status"] == "stale"
    assert details["OP-T03"]["last_run_id"] == "r06"
    assert details["OP-T03"]["last_success_run_id"] == "r05"
    assert rows["OP-T03"]["staleness_days"] == 0
    assert "coverage_below_C3:C2" in rows["OP-T03"]["warnings"]


def test_stale_boundary_is_the_pack_limit_exactly() -> None:
    at_limit = [line("r1", "OP-T01", "2026-11-20T12:00:00Z")]
    past_limit = [line("r1", "OP-T01", "2026-11-20T11:59:59Z")]
    assert by_op(build(at_limit))[1]["OP-T01"]["status"] == "ok"
    assert by_op(build(past_limit))[1]["OP-T01"]["status"] == "stale"


def test_stale_when_an_operation_ran_but_never_succeeded() -> None:
    lines = [line("r1", "OP-T04", "2026-11-21T10:00:00Z", "seal:UNSEALED")]
    _, details = by_op(build(lines))
    assert details["OP-T04"]["stale_after_hours"] is None
    assert details["OP-T04"]["status"] == "stale"


def test_never_run_and_unobserved_without_runs() -> None:
    rows, details = by_op(build())
    assert details["OP-T04"]["status"] == "never_run"
    assert details["OP-T04"]["run_count"] == 0
    assert details["OP-T04"]["evidence"] == []
    assert details["OP-T04"]["stale_after_hours"] is None
    row = rows["OP-T04"]
    assert row["run_evidence_state"] == "UNOBSERVED"
    assert row["last_run_id"] is None
    assert row["staleness_days"] is None
    assert row["manifest_state"] == row["run_json_state"] == "UNKNOWN"


def test_legacy_only_when_folders_without_run_json_exist() -> None:
    legacy = line("p1_old", None, None, "seal:UNSEALED", has_run_json=False)
    rows, _ = by_op(build([*LINES, legacy]))
    assert rows["OP-T04"]["run_evidence_state"] == "LEGACY_ONLY"
    assert "runs_legacy_only" in rows["OP-T04"]["warnings"]
    assert rows["OP-T01"]["run_evidence_state"] == "OBSERVED"


def test_unauthorized_operations_are_listed_with_their_runs() -> None:
    result = build()
    assert status_detail(result)["unauthorized"] == [
        {"operation_id": "OP-X42", "run_count": 1, "run_keys": [".codex/RUNS::r09"]},
        {
            "operation_id": "OP-X99",
            "run_count": 2,
            "run_keys": [".codex/RUNS::r07", ".codex/RUNS::r08"],
        },
    ]
    assert {row["operation_id"] for row in status_table(result)} == {
        "OP-T01",
        "OP-T02",
        "OP-T03",
        "OP-T04",
    }
    counts = status_detail(result)["counts"]
    assert counts["unauthorized_operations"] == 2
    assert counts["unauthorized_runs"] == 3
    assert (counts["ok"], counts["failing"], counts["stale"], counts["never_run"]) == (1, 1, 1, 1)
    assert counts["runs_indexed"] == len(LINES)


def test_op_drift_false_with_full_evidence_true_when_dirty_or_other_commit() -> None:
    rows, _ = by_op(build())
    assert rows["OP-T01"]["op_drift"] is False
    assert rows["OP-T01"]["op_drift_reasons"] == []
    dirty = [line("r1", "OP-T01", "2026-11-21T10:00:00Z", working_tree_state="dirty")]
    assert by_op(build(dirty))[0]["OP-T01"]["op_drift_reasons"] == ["op_drift_last_run_dirty"]
    moved, _ = by_op(build(reference_commit="c" * 40))
    assert moved["OP-T01"]["op_drift"] is True
    assert moved["OP-T01"]["op_drift_reasons"] == ["op_drift_commit_mismatch"]
    same, _ = by_op(build(reference_commit="a" * 40))
    assert same["OP-T01"]["op_drift"] is False


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([], "no_run"),
        ([line("r1", "OP-T01", "2026-11-21T10:00:00Z", git_commit=None)], "no_git_commit"),
        (
            [line("r1", "OP-T01", "2026-11-21T10:00:00Z", working_tree_state=None)],
            "no_working_tree_state",
        ),
        ([line("r1", "OP-T01", "2026-11-21T10:00:00Z", "seal:UNSEALED")], "last_run_seal_UNSEALED"),
        ([line("r1", "OP-T01", "2026-11-21T10:00:00Z", warnings=[])], "last_run_seal_UNKNOWN"),
    ],
)
def test_op_drift_is_null_when_evidence_is_missing(lines: list[dict[str, Any]], why: str) -> None:
    rows, _ = by_op(build(lines))
    assert rows["OP-T01"]["op_drift"] is None
    assert rows["OP-T01"]["op_drift_reasons"] == []
    assert f"op_drift_unknown:{why}" in rows["OP-T01"]["warnings"]


def test_last_run_state_fields_follow_the_last_run() -> None:
    lines = [line("r1", "OP-T01", "2026-11-10T18:00:00Z", has_manifest_sha256=False)]
    row = by_op(build(lines))[0]["OP-T01"]
    assert row["manifest_state"] == "MISSING"
    assert row["run_json_state"] == "PRESENT"
    assert row["staleness_days"] == 10
    assert row["last_run_created_utc"] == "2026-11-10T18:00:00Z"
    assert "last_run_manifest_missing" in row["warnings"]


def test_runs_without_a_time_count_as_oldest() -> None:
    lines = [
        line("z_no_time", "OP-T01", None),
        line("a_timed", "OP-T01", "2026-11-21T10:00:00Z"),
    ]
    _, details = by_op(build(lines))
    assert details["OP-T01"]["last_run_id"] == "a_timed"


def test_same_inputs_in_any_order_give_identical_bytes() -> None:
    first = build().files
    second = build(list(reversed(LINES))).files
    assert first == second
    assert set(first) == {TABLE_ARTIFACT, DETAIL_ARTIFACT}
    for data in first.values():
        assert data.endswith(b"}\n") or data.endswith(b"]\n")
        assert data.startswith(b'[\n  {\n    "') or data.startswith(b'{\n  "')


def test_as_of_moves_staleness_and_nothing_reads_the_clock() -> None:
    later = build_op_status_table(LINES, OPERATIONS, PACKS, as_of="2026-12-01T12:00:00Z")
    rows, details = by_op(later)
    assert details["OP-T01"]["status"] == "stale"
    assert rows["OP-T01"]["staleness_days"] == 10
    assert later.files != build().files


def test_rendered_rows_keep_the_seed_field_order() -> None:
    table = json.loads(build().files[TABLE_ARTIFACT])
    assert [row["operation_id"] for row in table] == ["OP-T01", "OP-T02", "OP-T03", "OP-T04"]
    assert all(tuple(row) == ROW_FIELDS for row in table)
    detail = build().files[DETAIL_ARTIFACT].decode()
    assert detail == json.dumps(json.loads(detail), indent=2, sort_keys=True) + "\n"


def test_bad_inputs_are_input_errors_with_a_path() -> None:
    with pytest.raises(UsageError) as bad_time:
        build_op_status_table(LINES, OPERATIONS, PACKS, as_of="yesterday")
    assert bad_time.value.path == "as_of"
    duplicate = {"operations": [OPERATIONS["operations"][0], OPERATIONS["operations"][0]]}
    with pytest.raises(UsageError) as dup:
        build_op_status_table(LINES, duplicate, PACKS, as_of=AS_OF)
    assert dup.value.path == "/operations/1/operation_id"
    with pytest.raises(UsageError) as no_key:
        build_op_status_table([{"run_id": "x"}], OPERATIONS, PACKS, as_of=AS_OF)
    assert no_key.value.path == "line 1"
    assert {e.value.code for e in (bad_time, dup, no_key)} == {INPUT_INVALID}


def test_missing_threshold_pack_is_a_warning_not_a_limit() -> None:
    result = build_op_status_table(LINES, OPERATIONS, {}, as_of=AS_OF)
    rows, details = by_op(result)
    assert details["OP-T01"]["stale_after_hours"] is None
    assert "threshold_pack_missing:daily" in rows["OP-T01"]["warnings"]


def _valid_against_ours(result: BuildResult) -> None:
    catalog = SchemaCatalog.for_workspace(REPO)
    files = result.files
    for artifact, schema_id in ((TABLE_ARTIFACT, TABLE_SCHEMA), (DETAIL_ARTIFACT, DETAIL_SCHEMA)):
        schema = catalog.for_artifact(artifact)
        assert schema is not None and schema.schema_id == schema_id
    assert catalog.validate(TABLE_SCHEMA, json.loads(files[TABLE_ARTIFACT])) == []
    assert catalog.validate(DETAIL_SCHEMA, json.loads(files[DETAIL_ARTIFACT])) == []


def test_output_is_valid_against_our_schemas() -> None:
    _valid_against_ours(build())
    _valid_against_ours(build([]))


def test_our_schema_rejects_an_extra_field() -> None:
    table = json.loads(build().files[TABLE_ARTIFACT])
    table[0]["status"] = "ok"
    violations = SchemaCatalog.for_workspace(REPO).validate(TABLE_SCHEMA, table)
    assert [v.field for v in violations] == ["/0"]


def _demo_inputs() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    operations = json.loads(
        (REPO / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json").read_text()
    )
    packs = {
        path.stem: json.loads(path.read_text())
        for path in sorted((REPO / "registries/threshold_packs").glob("*.json"))
    }
    return operations, packs


def _demo_lines() -> list[dict[str, Any]]:
    return [
        line("2026-11-21__110000__run_registry", "OP-QA07", "2026-11-21T11:00:00Z"),
        line("2026-11-20__080000__op_status", "OP-QA08", "2026-11-20T08:00:00Z"),
        line(
            "2026-11-21__113000__drift",
            "OP-QA09",
            "2026-11-21T11:30:00Z",
            warnings=["seal:FAIL", "seal:FAIL:X:y"],
        ),
        line("2026-11-21__114500__seal", None, "2026-11-21T11:45:00Z"),
        line("2026-11-21__115000__rogue", "OP-Z01", "2026-11-21T11:50:00Z"),
    ]


def test_demo_registries_give_a_row_per_operation() -> None:
    operations, packs = _demo_inputs()
    result = build_op_status_table(_demo_lines(), operations, packs, as_of=AS_OF)
    rows, details = by_op(result)
    catalog_ids = [op["operation_id"] for op in operations["operations"]]
    assert [row["operation_id"] for row in status_table(result)] == catalog_ids
    assert details["OP-QA07"]["status"] == "ok"
    assert details["OP-QA07"]["stale_after_hours"] == 12
    assert details["OP-QA08"]["status"] == "stale"
    assert details["OP-QA09"]["status"] == "failing"
    assert details["OP-QA10"]["status"] == "never_run"
    assert details["OP-QA10"]["stale_after_hours"] == 26
    assert rows["OP-B07"]["coverage_level"] == "C2"
    assert [entry["operation_id"] for entry in status_detail(result)["unauthorized"]] == ["OP-Z01"]
    _valid_against_ours(result)


@pytest.mark.reference
def test_rows_pass_the_seed_array_schema(reference: Path) -> None:
    seed_schema = json.loads((reference / SEED_ARRAY_SCHEMA).read_text())
    Draft202012Validator.check_schema(seed_schema)
    validator = Draft202012Validator(seed_schema)
    operations, packs = _demo_inputs()
    legacy = line("p1_old", None, None, "seal:UNSEALED", has_run_json=False)
    results = [
        build(),
        build([]),
        build_op_status_table([*_demo_lines(), legacy], operations, packs, as_of=AS_OF),
    ]
    for result in results:
        table = json.loads(result.files[TABLE_ARTIFACT])
        assert [error.message for error in validator.iter_errors(table)] == []


@pytest.mark.reference
def test_seed_example_rows_pass_our_schema(reference: Path) -> None:
    folder = reference / "sealed_by_reference/2026-11-21__121403__op_status_table_build"
    seed_table = json.loads((folder / TABLE_ARTIFACT).read_text())
    assert SchemaCatalog.for_workspace(REPO).validate(TABLE_SCHEMA, seed_table) == []


def test_lines_from_the_run_registry_builder_over_real_run_folders(
    workspace: Workspace, store: RunStore
) -> None:
    passed = seal_files(store, RunSpec("run_registry", operation_id="OP-T01"), {"a.json": b"{}\n"})
    broken = seal_files(store, RunSpec("run_registry", operation_id="OP-T02"), {"b.json": b"{}\n"})
    (broken.path / "b.json").write_bytes(b"[]\n")
    seal_files(store, RunSpec("expected_versions"), {"c.json": b"{}\n"})
    index = build_run_registry(
        [RunRoot(".codex/RUNS", workspace.runs_dir)],
        previous=None,
        full_audit=True,
        schemas=SchemaCatalog.for_workspace(workspace.root),
    )
    lines = with_seal_warnings(
        [record for _, record in jsonl_records(index.files[REGISTRY_ARTIFACT].split(b"\n"))],
        [record for _, record in jsonl_records(index.files[SEAL_STATUS_ARTIFACT].split(b"\n"))],
    )
    as_of = max(line["created_utc"] for line in lines)
    rows, details = by_op(build_op_status_table(lines, OPERATIONS, PACKS, as_of=as_of))
    assert details["OP-T01"]["last_run_id"] == passed.run_id
    assert details["OP-T01"]["status"] == "ok"
    assert details["OP-T02"]["status"] == "failing"
    assert details["OP-T02"]["last_seal_status"] in ("FAIL", "TAMPERED")
    assert details["OP-T04"]["status"] == "never_run"
    assert rows["OP-T01"]["manifest_state"] == rows["OP-T01"]["run_json_state"] == "PRESENT"
