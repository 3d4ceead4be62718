"""A Markdown operations catalog read as allowed_operations: sections, tables, refusals by line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.builders import op_status_table
from registry_pipeline.core.builders.model import BuildInputs
from registry_pipeline.core.builders.op_status_table import (
    TABLE_ARTIFACT,
    allowed_operations,
    build_op_status_table,
)
from registry_pipeline.core.builders.operations_catalog import (
    INPUT_INVALID,
    catalog_version_key,
    merged_operations,
    read_operations_markdown,
    warning_json,
)
from registry_pipeline.core.errors import Problem, UsageError
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, read_snapshot
from registry_pipeline_tests.core_tests.builders.test_op_status_table_builder import (
    status_detail,
    status_table,
)

REPO = Path(__file__).resolve().parents[3]
SCHEMA = "urn:registry-pipeline:schema:allowed_operations_v0_1"
DETAIL_SCHEMA = "urn:registry-pipeline:schema:op_status_detail_v0_2"
FIXTURE = "operations_md/harbor_lab_operations_v1.3.md"
REFERENCE_CATALOG = "docs/OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md"
AS_OF = "2026-11-21T12:00:00Z"


def _fixture(assets: Path) -> dict[str, Any]:
    return operations_from_markdown((assets / FIXTURE).read_text(encoding="utf-8"), source=FIXTURE)


def _by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operation_id"]: op for op in document["operations"]}


def _refusal(text: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        operations_from_markdown(text, source="ops.md")
    assert caught.value.code == INPUT_INVALID
    return caught.value


def operations_from_markdown(text: str, *, source: str) -> dict[str, Any]:
    return read_operations_markdown(text, source=source)[0]


def _warned(text: str) -> tuple[dict[str, Any], list[Problem]]:
    document, warnings = read_operations_markdown(text, source="ops.md")
    assert warnings, "expected a warning"
    return document, warnings


@pytest.mark.reference
def test_reference_v02_catalog_yields_its_five_qa_operations_and_their_builders(
    reference: Path,
) -> None:
    """Builders come from the outputs; levels and packs stay unknown."""
    text = (reference / REFERENCE_CATALOG).read_text(encoding="utf-8")
    document = operations_from_markdown(text, source=REFERENCE_CATALOG)
    assert document["catalog_version"] == "0.2"
    found = [(op["operation_id"], op["name"], op["option"], op["builder"])
             for op in document["operations"]]  # fmt: skip
    assert found == [
        ("OP-QA07", "Run Registry Build", "QA", "run_registry"),
        ("OP-QA08", "Operation Status Table Build", "QA", "op_status_table"),
        ("OP-QA09", "Drift Signals Build", "QA", "drift_signals"),
        ("OP-QA10", "System Health Render", "QA", "system_health_report"),
        ("OP-QA11", "Registry Delta Log Build (Phase 2.2.3)", "QA", "registry_delta_log"),
    ]
    assert {op["enforcement_level"] for op in document["operations"]} == {None}
    assert {op["threshold_pack"] for op in document["operations"]} == {None}
    assert SchemaCatalog.for_workspace(REPO).validate(SCHEMA, document) == []


def test_sections_and_summary_table_in_document_order(assets: Path) -> None:
    document = _fixture(assets)
    assert document["catalog_version"] == "1.3"
    assert [(op["operation_id"], op["name"], op["option"]) for op in document["operations"]] == [
        ("OP-QA07", "Index Every Run Folder", "QA"),
        ("OP-QA08", "Tabulate Operation Health", "QA"),
        ("OP-QA12", "Nightly Bundle", "QA"),
        ("OP-D04", "Verify Finished Runs", "D"),
        ("OP-A01", "Pull Harbor Sensor Feed", "A"),
        ("OP-B07", "Tune Alert Thresholds", "B"),
        ("OP-NC01", "Manual Spreadsheet Patch", "NC"),
    ]


def test_levels_come_from_a_field_or_column_else_null(assets: Path) -> None:
    levels = {op: entry["enforcement_level"] for op, entry in _by_id(_fixture(assets)).items()}
    assert levels == {
        "OP-QA07": "C4",
        "OP-QA08": None,  # "Enforcement Surfaces" are not a coverage level
        "OP-QA12": None,
        "OP-D04": None,
        "OP-A01": "C3",
        "OP-B07": "C2",
        "OP-NC01": None,  # "unknown"
    }


def test_builder_only_when_outputs_or_executables_name_exactly_one(assets: Path) -> None:
    builders = {op: entry["builder"] for op, entry in _by_id(_fixture(assets)).items()}
    assert builders == {
        "OP-QA07": "run_registry",  # outputs
        "OP-QA08": "op_status_table",  # bound executable (its Inputs do not count)
        "OP-QA12": None,  # two builders' outputs: not guessed
        "OP-D04": None,
        "OP-A01": None,
        "OP-B07": None,
        "OP-NC01": None,
    }


def test_parsed_fixture_and_demo_json_are_valid_against_the_schema(assets: Path) -> None:
    catalog = SchemaCatalog.for_workspace(REPO)
    assert catalog.validate(SCHEMA, _fixture(assets)) == []
    demo = json.loads(
        (REPO / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json").read_text()
    )
    assert catalog.validate(SCHEMA, demo) == []
    bad = {"catalog_version": "1", "operations": [{**_fixture(assets)["operations"][0]}]}
    bad["operations"][0]["option"] = "qa"
    assert [v.field for v in catalog.validate(SCHEMA, bad)] == ["/operations/0/option"]


@pytest.mark.parametrize("operation_id", ["OP-A01", "OP-QA11", "OP-NC29", "OP-XYZ123"])
def test_every_letters_digits_id_form_is_accepted(operation_id: str) -> None:
    document = operations_from_markdown(f"### {operation_id} — Some Work\n", source="ops.md")
    [entry] = document["operations"]
    assert entry["operation_id"] == operation_id
    assert entry["option"] == operation_id[3:].rstrip("0123456789")
    assert document["catalog_version"] is None


def test_option_field_wins_over_the_id_prefix_and_name_may_come_from_a_field() -> None:
    text = "### OP-NC03\n\n| Field | Value |\n|---|---|\n| Name | Hand Fix |\n| Option | B |\n"
    [entry] = operations_from_markdown(text, source="ops.md")["operations"]
    assert (entry["name"], entry["option"]) == ("Hand Fix", "B")


def test_summary_table_without_a_name_header_uses_the_second_column() -> None:
    text = "| Op | Title text | Level |\n|---|---|---|\n| OP-A02 | Load Tides | C5 |\n"
    [entry] = operations_from_markdown(text, source="ops.md")["operations"]
    assert (entry["name"], entry["enforcement_level"]) == ("Load Tides", "C5")


def test_crlf_and_a_byte_order_mark_are_read() -> None:
    text = "\ufeff# Ops v2\r\n\r\n### OP-B01: Mix Paint\r\nOption: B\r\n"
    document = operations_from_markdown(text, source="ops.md")
    assert document["catalog_version"] == "2"
    assert document["operations"][0]["name"] == "Mix Paint"


def test_a_duplicate_id_is_a_warning_and_the_first_definition_counts() -> None:
    text = (
        "# Ops\n\n### OP-A01 — First\n\n## Index\n\n| ID | Name |\n|---|---|\n| OP-A01 | Again |\n"
    )
    document, [warning] = _warned(text)
    assert [op["name"] for op in document["operations"]] == ["First"]
    assert (warning.path, warning.line, warning.field) == ("ops.md", 9, "OP-A01")
    assert "first at line 3" in warning.message
    _document, [sections] = _warned("### OP-B02 — One\n\ntext\n\n### OP-B02 — Two\n")
    assert sections.line == 5


def test_a_catalog_without_operations_is_refused(assets: Path) -> None:
    text = "# Ops v1\n\n| Change | Note |\n|---|---|\n| ADD OP-A01 | later |\n\nOP-A01 soon.\n"
    error = _refusal(text)
    assert error.path == "ops.md:1"
    assert _refusal("").path == "ops.md:1"
    fenced = "```\n### OP-A01 — Only An Example\n```\n"
    assert _refusal(fenced).path == "ops.md:1"


def test_a_field_id_other_than_the_heading_id_is_a_warning() -> None:
    document, [warning] = _warned(
        "### OP-A01 — Pull\n\n| Field | Value |\n|---|---|\n| Operation ID | OP-A02 |\n"
    )
    assert [op["operation_id"] for op in document["operations"]] == ["OP-A01"]
    assert (warning.line, warning.field) == (5, "OP-A01")
    assert "OP-A02" in warning.message


@pytest.mark.parametrize(
    ("text", "line", "field", "fallback"),
    [
        ("### OP-A01 — Pull\n\n| Field | Value |\n|---|---|\n| Enforcement Level | high |\n", 5,
         "enforcement_level", None),
        ("### OP-A01 — Pull\nOption: lower-case\n", 2, "option", "A"),
        ("| ID | Name |\n|---|---|\n| OP-A01 |  |\n", 3, "name", "OP-A01"),
        ("\n### OP-A01\n\nno name anywhere\n", 2, "name", "OP-A01"),
    ],
)  # fmt: skip
def test_an_unreadable_value_is_a_warning_naming_file_line_and_operation(
    text: str, line: int, field: str, fallback: str | None
) -> None:
    document, [warning] = _warned(text)
    assert (warning.path, warning.line, warning.field) == ("ops.md", line, "OP-A01")
    assert warning.code == "CATALOG_LINE_NOT_UNDERSTOOD"
    shown = {"source": "ops.md", "line": line, "operation_id": "OP-A01", "message": warning.message}
    assert warning_json(warning) == shown  # as the status detail lists it
    assert document["operations"][0][field] == fallback


SEED_STYLE = """# Allowed Operations v0.1

## Option A — Canonical Ingest

### OP-A01: Webhook Ingest

Operation ID: OP-A01
Option: A
Bound Executables:
- `infra/webhook/src/index.ts`
- `src/helper.py` (shared)
Inputs:
- `contracts/min.json`

### OP-A02: Backfill

Operation ID: OP-A02
Bound Executables:
- `src/backfill.py`

## Option QA — Audit

### OP-QA01: Facts Check

Option: QA
Bound Executables: `sql/qa.sql`, `scripts/qa.py`

---

## NON_CANONICAL — Exploratory, Legacy

### OP-NC01: Legacy Backfill

Operation ID: OP-NC01
Option: NON_CANONICAL
Bound Executables:
- `src/old.py`

### OP-X07: Stray Notebook

Purpose: found in the section, so not canonical whatever its family.
"""


def test_the_seed_layout_option_headers_lists_and_the_non_canonical_section() -> None:
    document, warnings = read_operations_markdown(SEED_STYLE, source="ops.md")
    assert warnings == []
    found = {
        op["operation_id"]: (op["option"], op["canonical"], op["executables"])
        for op in document["operations"]
    }
    assert found == {
        "OP-A01": ("A", True, ["infra/webhook/src/index.ts", "src/helper.py"]),
        "OP-A02": ("A", True, ["src/backfill.py"]),  # the Option heading's family
        "OP-QA01": ("QA", True, ["scripts/qa.py", "sql/qa.sql"]),
        "OP-NC01": ("NC", False, ["src/old.py"]),  # `Option: NON_CANONICAL` is no error
        "OP-X07": ("NC", False, []),  # canonical operations end where the section starts
    }
    assert SchemaCatalog.for_workspace(REPO).validate(SCHEMA, document) == []


def test_an_option_heading_after_the_non_canonical_section_starts_canonical_ones_again() -> None:
    text = SEED_STYLE + "\n## Option D — Paths\n\n### OP-D01: Evidence Pack\n"
    document, _warnings = read_operations_markdown(text, source="ops.md")
    last = document["operations"][-1]
    assert (last["operation_id"], last["option"], last["canonical"]) == ("OP-D01", "D", True)


def test_the_builder_lists_non_canonical_operations_and_gives_them_no_row() -> None:
    document, _warnings = read_operations_markdown(SEED_STYLE, source="ops.md")
    result = build_op_status_table([], document, PACKS, as_of=AS_OF)
    assert [row["operation_id"] for row in status_table(result)] == ["OP-A01", "OP-A02", "OP-QA01"]
    assert status_detail(result)["non_canonical"] == {
        "count": 2,
        "operation_ids": ["OP-NC01", "OP-X07"],
    }
    assert status_detail(result)["counts"]["non_canonical_operations"] == 2
    assert status_detail(result)["counts"]["canonical_operations"] == 3
    detail = {op["operation_id"]: op for op in status_detail(result)["operations"]}
    assert detail["OP-NC01"]["coverage_level"] is None
    assert detail["OP-NC01"]["executables"] == ["src/old.py"]
    assert SchemaCatalog.for_workspace(REPO).validate(DETAIL_SCHEMA, status_detail(result)) == []


PACKS: dict[str, dict[str, Any]] = {}


def _line(run_id: str, operation_id: str, created_utc: str) -> dict[str, Any]:
    root = ".codex/RUNS"
    return {
        "registry_version": "0.1",
        "run_id": run_id,
        "run_root": root,
        "run_key": f"{root}::{run_id}",
        "created_utc": created_utc,
        "operation_id": operation_id,
        "git_commit": "a" * 40,
        "working_tree_state": "clean",
        "has_run_json": True,
        "has_manifest_sha256": True,
        "warnings": ["seal:PASS"],
    }


LINES = [
    _line("r1", "OP-NC01", "2026-11-21T10:00:00Z"),
    _line("r2", "OP-QA07", "2026-11-21T11:00:00Z"),
]


def test_builder_gives_a_row_per_markdown_operation_and_reads_unknown_levels_as_c0(
    assets: Path,
) -> None:
    document = _fixture(assets)
    result = build_op_status_table(LINES, document, PACKS, as_of=AS_OF)
    ids = [op["operation_id"] for op in document["operations"]]
    canonical = [i for i in ids if not i.startswith("OP-NC")]  # the v0.1 table has no NC rows
    assert [row["operation_id"] for row in status_table(result)] == canonical
    assert [op["operation_id"] for op in status_detail(result)["operations"]] == ids
    assert status_detail(result)["unauthorized"] == []  # NC operations are authorized, not unknown
    rows = {row["operation_id"]: row for row in status_table(result)}
    assert rows["OP-QA07"]["coverage_level"] == "C4"
    unknown = next(
        row for op, row in rows.items() if op != "OP-QA07" and row["coverage_level"] == "C0"
    )
    assert "coverage_below_C3:C0" in unknown["warnings"]
    detail = {op["operation_id"]: op for op in status_detail(result)["operations"]}
    assert detail["OP-NC01"]["last_run_id"] == "r1"


def test_builder_still_refuses_a_non_string_level() -> None:
    document = {
        "operations": [
            {"operation_id": "OP-A01", "name": "n", "option": "A", "enforcement_level": 3}
        ]
    }
    with pytest.raises(UsageError) as caught:
        build_op_status_table([], document, PACKS, as_of=AS_OF)
    assert caught.value.path == "/operations/0/enforcement_level"
    assert caught.value.code == INPUT_INVALID


def _snapshot(store: RunStore, registry_id: str, files: dict[str, bytes]) -> Snapshot:
    return read_snapshot(
        seal_files(store, RunSpec(registry_id=registry_id), files).path, registry_id
    )


def _inputs(workspace: Workspace, store: RunStore, operations: dict[str, bytes]) -> BuildInputs:
    registry = b"".join(json.dumps(line).encode() + b"\n" for line in LINES)
    spec = next(
        spec
        for spec in load_catalog(Workspace(REPO)).registries
        if spec.registry_id == "op_status_table"
    )
    return BuildInputs(
        workspace=workspace,
        spec=spec,
        inputs={
            "run_registry": _snapshot(store, "run_registry", {"RUN_REGISTRY_v0_1.jsonl": registry}),
            "allowed_operations": _snapshot(store, "allowed_operations", operations),
            "threshold_packs_file": _snapshot(store, "threshold_packs_file", {"p.json": b"{}\n"}),
        },
    )


def test_adapter_parses_the_one_markdown_artifact_of_any_name(
    workspace: Workspace, store: RunStore, assets: Path
) -> None:
    catalog = {"OVC_CATALOG_v1.3.md": (assets / FIXTURE).read_bytes()}
    result = op_status_table.build(_inputs(workspace, store, catalog))
    table = json.loads(result.files[TABLE_ARTIFACT])
    assert [row["operation_id"] for row in table] == [
        "OP-QA07",
        "OP-QA08",
        "OP-QA12",
        "OP-D04",
        "OP-A01",
        "OP-B07",
    ]  # OP-NC01 is in the detail only, as in the seed's table
    assert result.record_count == 6
    assert result.summary["unauthorized_operations"] == 0


def test_adapter_keeps_json_catalogs_byte_identical(workspace: Workspace, store: RunStore) -> None:
    path = REPO / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    build = _inputs(workspace, store, {path.name: path.read_bytes()})
    registry = build.inputs["run_registry"]
    commit = registry.envelope().get("git_commit")
    expected = build_op_status_table(
        LINES,
        json.loads(path.read_text()),
        {"p": {}},
        as_of=registry.created_utc,
        reference_commit=commit if isinstance(commit, str) else None,
    ).files
    assert dict(op_status_table.build(build).files) == expected


@pytest.mark.parametrize(
    "files",
    [
        {"a.md": b"### OP-A01 - A\n", "b.json": b"{}\n"},
        {"notes.txt": b"nothing\n"},
    ],
)
def test_adapter_refuses_a_snapshot_without_exactly_one_catalog(
    workspace: Workspace, store: RunStore, files: dict[str, bytes]
) -> None:
    with pytest.raises(UsageError) as caught:
        op_status_table.build(_inputs(workspace, store, files))
    assert "allowed_operations" in caught.value.message
    assert caught.value.code == INPUT_INVALID


def test_adapter_refuses_a_markdown_catalog_that_is_not_utf8(
    workspace: Workspace, store: RunStore
) -> None:
    with pytest.raises(UsageError) as caught:
        op_status_table.build(_inputs(workspace, store, {"ops.md": b"### OP-A01 \xff\n"}))
    assert caught.value.path is not None and caught.value.path.endswith("ops.md")
    assert caught.value.code == INPUT_INVALID


V01 = """# Operations Catalog v0.1

| Operation | Name | Option |
|---|---|---|
| OP-A01 | Ingest | A |
| OP-QA06 | Old check | QA |
"""
V02 = """# Operations Catalog v0.2

v0.1 operations are inherited verbatim.

### OP-QA06 — Reworked check

| Field | Value |
|---|---|
| **Option** | QA |

### OP-QA07 — Run Registry Build

| Field | Value |
|---|---|
| **Option** | QA |
"""


def test_catalog_versions_order_numerically() -> None:
    names = ["X_v0.10.md", "X_v0.2.md", "X.md", "X_v0.1.md"]
    assert sorted(names, key=catalog_version_key) == [
        "X.md",
        "X_v0.1.md",
        "X_v0.2.md",
        "X_v0.10.md",
    ]


def test_a_newer_catalog_supersedes_and_inherits_the_older() -> None:
    document, warnings = merged_operations([(V01, "v0.1.md"), (V02, "v0.2.md")])
    assert warnings == []
    assert document["catalog_version"] == "0.2"
    assert [(op["operation_id"], op["name"]) for op in document["operations"]] == [
        ("OP-A01", "Ingest"),  # inherited
        ("OP-QA06", "Reworked check"),  # the newer definition, in the older one's place
        ("OP-QA07", "Run Registry Build"),  # new
    ]
    assert SchemaCatalog.for_workspace(None).validate(SCHEMA, document) == []


def test_the_adapter_merges_every_markdown_catalog_of_the_snapshot(
    workspace: Workspace, store: RunStore
) -> None:
    files = {"OPS_v0.2.md": V02.encode(), "OPS_v0.1.md": V01.encode()}
    sealed = seal_files(store, RunSpec("allowed_operations"), files)
    found = allowed_operations(read_snapshot(sealed.path, "allowed_operations"))
    assert [op["operation_id"] for op in found["allowed_operations"]["operations"]] == [
        "OP-A01",
        "OP-QA06",
        "OP-QA07",
    ]
    assert found["coverage"] is None  # no coverage matrix named
    mixed = seal_files(store, RunSpec("allowed_operations"), {**files, "ops.json": b"{}"})
    with pytest.raises(UsageError, match=r"one \.json catalog or Markdown") as caught:
        allowed_operations(read_snapshot(mixed.path, "allowed_operations"))
    assert caught.value.code == INPUT_INVALID


def test_canonical_is_one_rule_a_family_outside_the_table_is_not_and_says_so() -> None:
    text = SEED_STYLE.replace(
        "## NON_CANONICAL", "## Option E — Extra\n\n### OP-E01: Extra\n\n## NON_CANONICAL"
    )
    document, _warnings = read_operations_markdown(text, source="ops.md")
    result = build_op_status_table([], document, PACKS, as_of=AS_OF)
    detail = {op["operation_id"]: op for op in status_detail(result)["operations"]}
    assert detail["OP-E01"]["canonical"] is False and "OP-E01" not in {
        row["operation_id"] for row in status_table(result)
    }
    assert status_detail(result)["counts"]["canonical_operations"] == len(status_table(result))
    [warning] = status_detail(result)["catalog_warnings"]
    assert (warning["source"], warning["operation_id"]) == ("ops.md", "OP-E01")
    assert "none of the canonical families" in warning["message"]


def test_catalog_warnings_are_listed_up_to_fifty_and_all_counted() -> None:
    text = "### OP-A01 — First\n" + "".join(f"\n### OP-A01 — Again {n}\n" for n in range(70))
    document, warnings = read_operations_markdown(text, source="ops.md")
    result = build_op_status_table([], document, PACKS, as_of=AS_OF, catalog_warnings=warnings)
    assert len(status_detail(result)["catalog_warnings"]) == 50
    assert status_detail(result)["catalog_warnings_total"] == 70


def test_the_catalog_is_read_as_markdown_it_py_reads_it() -> None:
    """Only GFM tables outside code fences define operations; line numbers are the file's."""
    assert _refusal("| OP-A01 | Pull |\n").path == "ops.md:1"  # no header, no table
    assert _refusal("~~~\n| ID | Name |\n|---|---|\n| OP-A01 | Pull |\n~~~\n").path == "ops.md:1"
    text = "# Ops\n\nnote\x0cpage two\n\n| ID | Name |\n|---|---|\n| OP-A01 | Pull |\n"
    [entry] = operations_from_markdown(text, source="ops.md")["operations"]
    assert (entry["name"], entry["defined_in"]) == ("Pull", "ops.md:8")
