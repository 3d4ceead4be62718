"""The coverage matrix gives each operation its level; unreadable rows and conversions are said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_pipeline.core.builders.op_status_table import (
    allowed_operations,
    build_op_status_table,
)
from registry_pipeline.core.builders.operations_catalog import (
    coverage_levels,
    read_operations_markdown,
)
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline_tests.core_tests.builders.test_op_status_table_builder import (
    status_detail,
    status_table,
)

CATALOG = "operations_md/harbor_lab_operations_v1.3.md"
MATRIX = "operations_md/harbor_lab_coverage_matrix_v1.3.md"
AS_OF = "2026-11-21T12:00:00Z"


def _matrix(assets: Path) -> tuple[str, str]:
    return (assets / MATRIX).read_text(encoding="utf-8"), "MATRIX_v1.3.md"


def test_levels_come_from_both_row_forms_and_summaries_and_ranges_define_nothing(
    assets: Path,
) -> None:
    levels, warnings = coverage_levels([_matrix(assets)])
    assert {op: found.level for op, found in levels.items()} == {
        "OP-A01": "C3",
        "OP-B07": "C2",
        "OP-D04": "C4",
        "OP-QA07": "C5",  # `| OP-QA07 Index Every Run Folder | ... | **C5** |`, as v0.2 writes it
    }
    assert levels["OP-A01"].source == "MATRIX_v1.3.md:16"
    [warning] = warnings  # the unreadable level: the row is left out, the build goes on
    assert (warning.path, warning.line, warning.field) == ("MATRIX_v1.3.md", 19, "OP-QA08")
    assert "C-three" in warning.message


def test_a_newer_matrix_supersedes_the_older_for_what_it_lists() -> None:
    older = "| Operation ID | Coverage Level |\n|---|---|\n| OP-A01 | C2 |\n| OP-A02 | C3 |\n"
    newer = "| Operation | Coverage Level |\n|---|---|\n| OP-A01 Ingest | C4 |\n"
    levels, warnings = coverage_levels([(older, "v0.1.md"), (newer, "v0.2.md")])
    assert {op: found.level for op, found in levels.items()} == {"OP-A01": "C4", "OP-A02": "C3"}
    assert warnings == []


def test_a_row_listed_twice_in_one_matrix_keeps_the_first() -> None:
    text = "| Operation ID | Coverage Level |\n|---|---|\n| OP-A01 | C2 |\n| OP-A01 | C5 |\n"
    levels, [warning] = coverage_levels([(text, "m.md")])
    assert levels["OP-A01"].level == "C2"
    assert warning.line == 4 and "first at m.md:3" in warning.message


def test_the_builder_takes_matrix_levels_over_the_catalog_and_c0_for_the_unlisted(
    assets: Path,
) -> None:
    document, _warnings = read_operations_markdown(
        (assets / CATALOG).read_text(encoding="utf-8"), source="CATALOG_v1.3.md"
    )
    levels, warnings = coverage_levels([_matrix(assets)])
    result = build_op_status_table(
        [], document, {}, as_of=AS_OF, coverage=levels, catalog_warnings=warnings
    )
    rows = {row["operation_id"]: row["coverage_level"] for row in status_table(result)}
    assert rows == {
        "OP-QA07": "C5",  # the matrix wins over the catalog's own C4
        "OP-QA08": "C0",  # its matrix row is unreadable and the catalog says none
        "OP-QA12": "C0",
        "OP-D04": "C4",
        "OP-A01": "C3",
        "OP-B07": "C2",
    }
    detail = {op["operation_id"]: op for op in status_detail(result)["operations"]}
    assert detail["OP-A01"]["coverage_source"] == "MATRIX_v1.3.md:16"
    assert detail["OP-QA12"]["coverage_source"] is None  # the C0 floor: nothing gave a level
    assert status_detail(result)["counts"]["coverage_below_c3"] == 3  # QA08, QA12 (C0), B07 (C2)
    assert [w["operation_id"] for w in status_detail(result)["catalog_warnings"]] == ["OP-QA08"]


def test_the_adapter_reads_the_matrices_the_catalog_names(store: RunStore, assets: Path) -> None:
    files = {
        "OPS_v1.3.md": (assets / CATALOG).read_bytes(),
        "MATRIX_v1.3.md": (assets / MATRIX).read_bytes(),
    }
    sealed = seal_files(store, RunSpec("allowed_operations"), files)
    snapshot = read_snapshot(sealed.path, "allowed_operations")
    found = allowed_operations(snapshot, ("docs/MATRIX_v1.3.md",))
    assert found["coverage"] is not None and found["coverage"]["OP-D04"].level == "C4"
    assert "OP-D04" in {op["operation_id"] for op in found["allowed_operations"]["operations"]}
    assert [w.field for w in found["catalog_warnings"]] == ["OP-QA08"]
    # Not named as a matrix, the same file is one more Markdown catalog, read as operations.
    plain = allowed_operations(snapshot)
    assert plain["coverage"] is None


def _line(seal: list[str], state: str = "dirty") -> dict[str, Any]:
    return {
        "registry_version": "0.1",
        "run_id": "p1_001",
        "run_root": "reports/runs",
        "run_key": "reports/runs::p1_001",
        "created_utc": "2026-02-04T22:45:58Z",
        "operation_id": "OP-D04",
        "git_commit": "b" * 40,
        "working_tree_state": state,
        "has_run_json": True,
        "has_manifest_sha256": True,
        "warnings": seal,
    }


OPS = {"operations": [{"operation_id": "OP-D04", "name": "Verify", "option": "D",
                       "enforcement_level": "C3"}]}  # fmt: skip


def test_a_converted_evidence_folder_says_why_op_drift_is_unknown() -> None:
    seal = ["seal:FAIL", "seal:FAIL:HASH_MISMATCH:run.json",
            "seal:DIAGNOSIS:LINE_ENDINGS_CONVERTED"]  # fmt: skip
    result = build_op_status_table([_line(seal)], OPS, {}, as_of=AS_OF, reference_commit="a" * 40)
    [row] = status_table(result)
    assert row["op_drift"] is None  # stricter than the seed: the folder's run.json is not proven
    [note] = [w for w in row["warnings"] if w.startswith("op_drift unknown:")]
    assert "reports/runs/p1_001" in note and "line-ending normalization" in note
    assert "registry restore-line-endings" in note
    assert status_detail(result)["operations"][0]["notes"] == [note]


def test_a_broken_seal_without_that_diagnosis_names_its_codes_and_the_command() -> None:
    seal = ["seal:FAIL", "seal:FAIL:MISSING_FILE:data.csv"]
    [row] = status_table(build_op_status_table([_line(seal)], OPS, {}, as_of=AS_OF))
    [note] = [w for w in row["warnings"] if w.startswith("op_drift unknown:")]
    assert "(MISSING_FILE)" in note and "registry validate reports/runs/p1_001" in note


def test_a_sealed_last_run_decides_op_drift_and_carries_no_note() -> None:
    [row] = status_table(
        build_op_status_table(
            [_line(["seal:PASS"])], OPS, {}, as_of=AS_OF, reference_commit="a" * 40
        )
    )
    assert row["op_drift"] is True
    assert row["op_drift_reasons"] == ["op_drift_last_run_dirty", "op_drift_commit_mismatch"]
    assert not [w for w in row["warnings"] if w.startswith("op_drift unknown")]
