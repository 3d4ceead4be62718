"""The op_status_table builder: statuses, unauthorized operations, drift, bytes, schemas."""

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


def _op(operation_id: str, name: str, option: str, level: str, **pack: str) -> dict[str, Any]:
    return {"operation_id": operation_id, "name": name, "option": option, "builder": None,
            "enforcement_level": level, **pack}  # fmt: skip


OPERATIONS: dict[str, Any] = {
    "catalog_version": "0.2",
    "operations": [
        _op("OP-T01", "Always fine", "QA", "C4", threshold_pack="daily"),
        _op("OP-T02", "Broken lately", "QA", "C3", threshold_pack="daily"),
        _op("OP-T03", "Left behind", "B", "C2", threshold_pack="daily"),
        _op("OP-T04", "Never started", "D", "C1"),
    ],
}
PACKS: dict[str, dict[str, Any]] = {"daily": {"max_age_hours": 24}}

ROW_FIELDS = (  # the seed's v0.1 row, in its order
    "status_version", "option", "operation_id", "operation_name", "coverage_level",
    "last_run_id", "last_run_created_utc", "run_evidence_state", "manifest_state",
    "run_json_state", "staleness_days", "op_drift", "op_drift_reasons", "warnings",
)  # fmt: skip


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
    line("r01", "OP-T01", "2026-11-20T08:00:00Z", warnings=["seal:FAIL", "seal:FAIL:X:out.json"]),
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


def build(
    lines: list[dict[str, Any]] = LINES, packs: dict[str, Any] = PACKS, **kwargs: Any
) -> BuildResult:
    return build_op_status_table(lines, OPERATIONS, packs, **{"as_of": AS_OF, **kwargs})


def by_op(result: BuildResult) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = {row["operation_id"]: row for row in status_table(result)}
    details = {entry["operation_id"]: entry for entry in status_detail(result)["operations"]}
    return rows, details


T = "2026-11-21T10:00:00Z"
LEGACY = line("p1_old", None, None, "seal:UNSEALED", has_run_json=False)
FAILED_SEAL = ["seal:FAIL", "seal:FAIL:ROOT_MISMATCH:x"]
STATUS_CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], str, dict[str, Any]]] = [
    # (case, lines, build arguments, operation, expected fields of its detail entry and row;
    #  `row_warnings` must appear in the row's warnings, in this order)
    ("ok: the last run passed within its limit", LINES, {}, "OP-T01", {
        "status": "ok", "last_run_id": "r02", "last_success_run_id": "r02",
        "last_success_utc": "2026-11-21T06:00:00Z", "run_count": 2, "failed_count": 1,
        "stale_after_hours": 24, "evidence": [".codex/RUNS::r01", ".codex/RUNS::r02"],
        "row_last_run_id": "r02", "row_run_evidence_state": "OBSERVED",
        "row_staleness_days": 0, "row_warnings": ["status:ok"],
        "row_op_drift": False, "row_op_drift_reasons": []}),
    ("failing: the last run is tampered, even after a success", LINES, {}, "OP-T02", {
        "status": "failing", "last_success_run_id": "r03", "last_seal_status": "TAMPERED",
        "failed_count": 1, "row_warnings": ["last_run_seal:TAMPERED"]}),
    ("failing: a tamper flag after the verdict counts as tampered",
     [line("r1", "OP-T01", T, warnings=["seal:FAIL", "seal:TAMPERED"])], {}, "OP-T01", {
        "status": "failing", "last_seal_status": "TAMPERED",
        "row_warnings": ["last_run_seal:FAIL", "last_run_seal:TAMPERED"]}),
    ("failing: the last seal failed", [line("r1", "OP-T01", T, warnings=FAILED_SEAL)], {},
     "OP-T01", {"status": "failing", "last_success_run_id": None}),
    ("stale: the last success is older than the pack allows", LINES, {}, "OP-T03", {
        "status": "stale", "last_run_id": "r06", "last_success_run_id": "r05",
        "row_staleness_days": 0, "row_warnings": ["coverage_below_C3:C2"]}),
    ("ok: at the pack's limit exactly", [line("r1", "OP-T01", "2026-11-20T12:00:00Z")], {},
     "OP-T01", {"status": "ok"}),
    ("stale: a second past it", [line("r1", "OP-T01", "2026-11-20T11:59:59Z")], {},
     "OP-T01", {"status": "stale"}),
    ("stale: ran but never succeeded", [line("r1", "OP-T04", T, "seal:UNSEALED")], {},
     "OP-T04", {"status": "stale", "stale_after_hours": None}),
    ("stale: as_of moves staleness, nothing reads the clock", LINES,
     {"as_of": "2026-12-01T12:00:00Z"}, "OP-T01", {"status": "stale", "row_staleness_days": 10}),
    ("never_run, unobserved, without runs", LINES, {}, "OP-T04", {
        "status": "never_run", "run_count": 0, "evidence": [], "stale_after_hours": None,
        "row_run_evidence_state": "UNOBSERVED", "row_last_run_id": None,
        "row_staleness_days": None, "row_manifest_state": "UNKNOWN",
        "row_run_json_state": "UNKNOWN"}),
    ("legacy only: folders without run.json exist", [*LINES, LEGACY], {}, "OP-T04", {
        "row_run_evidence_state": "LEGACY_ONLY", "row_warnings": ["runs_legacy_only"]}),
    ("a run without a time counts as oldest",
     [line("z_no_time", "OP-T01", None), line("a_timed", "OP-T01", T)], {}, "OP-T01",
     {"last_run_id": "a_timed"}),
    ("the last run's state fields",
     [line("r1", "OP-T01", "2026-11-10T18:00:00Z", has_manifest_sha256=False)], {}, "OP-T01", {
        "row_manifest_state": "MISSING", "row_run_json_state": "PRESENT",
        "row_staleness_days": 10, "row_last_run_created_utc": "2026-11-10T18:00:00Z",
        "row_warnings": ["last_run_manifest_missing"]}),
    ("a missing threshold pack is a warning, not a limit", LINES, {"packs": {}}, "OP-T01", {
        "stale_after_hours": None, "row_warnings": ["threshold_pack_missing:daily"]}),
    ("drift: a dirty last run", [line("r1", "OP-T01", T, working_tree_state="dirty")], {},
     "OP-T01", {"row_op_drift": True, "row_op_drift_reasons": ["op_drift_last_run_dirty"]}),
    ("drift: another commit", LINES, {"reference_commit": "c" * 40}, "OP-T01", {
        "row_op_drift": True, "row_op_drift_reasons": ["op_drift_commit_mismatch"]}),
    ("no drift: the same commit", LINES, {"reference_commit": "a" * 40}, "OP-T01",
     {"row_op_drift": False}),
    *[
        (f"drift unknown: {why}", lines, {}, "OP-T01", {"row_op_drift": None,
         "row_op_drift_reasons": [], "row_warnings": [f"op_drift_unknown:{why}"]})
        for lines, why in [
            ([], "no_run"),
            ([line("r1", "OP-T01", T, git_commit=None)], "no_git_commit"),
            ([line("r1", "OP-T01", T, working_tree_state=None)], "no_working_tree_state"),
            ([line("r1", "OP-T01", T, "seal:UNSEALED")], "last_run_seal_UNSEALED"),
            ([line("r1", "OP-T01", T, warnings=[])], "last_run_seal_UNKNOWN"),
        ]
    ],
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "arguments", "operation", "expected"),
    [case[1:] for case in STATUS_CASES],
    ids=[case[0] for case in STATUS_CASES],
)
def test_status_and_row_of_an_operation(
    lines: list[dict[str, Any]], arguments: dict[str, Any], operation: str, expected: dict[str, Any]
) -> None:
    rows, details = by_op(build(lines, **arguments))
    row, detail = rows[operation], details[operation]
    for key, value in expected.items():
        if key == "row_warnings":
            assert [w for w in row["warnings"] if w in value] == value, row["warnings"]
        else:
            found = row[key.removeprefix("row_")] if key.startswith("row_") else detail[key]
            assert found == value and type(found) is type(value), key


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


def test_same_inputs_in_any_order_give_identical_bytes_in_the_seed_order() -> None:
    files = build().files
    assert build(list(reversed(LINES))).files == files
    assert set(files) == {TABLE_ARTIFACT, DETAIL_ARTIFACT}
    table = json.loads(files[TABLE_ARTIFACT])
    assert files[TABLE_ARTIFACT] == (json.dumps(table, indent=2) + "\n").encode()
    assert [row["operation_id"] for row in table] == ["OP-T01", "OP-T02", "OP-T03", "OP-T04"]
    assert all(tuple(row) == ROW_FIELDS for row in table)
    detail = files[DETAIL_ARTIFACT].decode()
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
    results = [
        build(),
        build([]),
        build_op_status_table([*_demo_lines(), LEGACY], operations, packs, as_of=AS_OF),
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
