"""A Markdown operations catalog read as the allowed_operations document: `### OP-…` sections with
Field/Value tables, summary tables whose first column is an operation id, refusals with line
numbers, and the op_status_table builder (pure and through its adapter) on such a catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.builders import adapters
from registry_pipeline.core.builders.model import BuildInputs
from registry_pipeline.core.builders.op_status_table import (
    TABLE_ARTIFACT,
    OpStatusInputError,
    build_op_status_table,
    render,
)
from registry_pipeline.core.builders.op_status_table._markdown import (
    OperationsMarkdownError,
    catalog_version_key,
    merged_operations,
    operations_from_markdown,
)
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, read_snapshot

REPO = Path(__file__).resolve().parents[3]
SCHEMA = "urn:registry-pipeline:schema:allowed_operations_v0_1"
FIXTURE = "operations_md/harbor_lab_operations_v1.3.md"
REFERENCE_CATALOG = "docs/OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md"
AS_OF = "2026-11-21T12:00:00Z"


def _fixture(assets: Path) -> dict[str, Any]:
    return operations_from_markdown((assets / FIXTURE).read_text(encoding="utf-8"), source=FIXTURE)


def _by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operation_id"]: op for op in document["operations"]}


def _refusal(text: str) -> OperationsMarkdownError:
    with pytest.raises(OperationsMarkdownError) as caught:
        operations_from_markdown(text, source="ops.md")
    assert isinstance(caught.value, OpStatusInputError)
    return caught.value


@pytest.mark.reference
def test_reference_v02_catalog_yields_its_five_qa_operations(reference: Path) -> None:
    text = (reference / REFERENCE_CATALOG).read_text(encoding="utf-8")
    document = operations_from_markdown(text, source=REFERENCE_CATALOG)
    assert document["catalog_version"] == "0.2"
    assert [(op["operation_id"], op["name"], op["option"]) for op in document["operations"]] == [
        ("OP-QA07", "Run Registry Build", "QA"),
        ("OP-QA08", "Operation Status Table Build", "QA"),
        ("OP-QA09", "Drift Signals Build", "QA"),
        ("OP-QA10", "System Health Render", "QA"),
        ("OP-QA11", "Registry Delta Log Build (Phase 2.2.3)", "QA"),
    ]


@pytest.mark.reference
def test_reference_builders_come_from_outputs_and_levels_stay_unknown(reference: Path) -> None:
    text = (reference / REFERENCE_CATALOG).read_text(encoding="utf-8")
    document = operations_from_markdown(text, source=REFERENCE_CATALOG)
    assert {op["operation_id"]: op["builder"] for op in document["operations"]} == {
        "OP-QA07": "run_registry",
        "OP-QA08": "op_status_table",
        "OP-QA09": "drift_signals",
        "OP-QA10": "system_health_report",
        "OP-QA11": "registry_delta_log",
    }
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
    assert [v.pointer for v in catalog.validate(SCHEMA, bad)] == ["/operations/0/option"]


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


def test_duplicate_ids_are_refused_with_both_line_numbers() -> None:
    text = (
        "# Ops\n\n### OP-A01 — First\n\n## Index\n\n| ID | Name |\n|---|---|\n| OP-A01 | Again |\n"
    )
    error = _refusal(text)
    assert error.lines == (3, 9)
    assert error.path == "ops.md:9"
    assert "3" in error.message and "9" in error.message
    sections = _refusal("### OP-B02 — One\n\ntext\n\n### OP-B02 — Two\n")
    assert sections.lines == (1, 5)


def test_a_catalog_without_operations_is_refused(assets: Path) -> None:
    text = "# Ops v1\n\n| Change | Note |\n|---|---|\n| ADD OP-A01 | later |\n\nOP-A01 soon.\n"
    error = _refusal(text)
    assert error.lines == (1,) and error.path == "ops.md:1"
    assert _refusal("").lines == (1,)
    fenced = "```\n### OP-A01 — Only An Example\n```\n"
    assert _refusal(fenced).lines == (1,)


def test_a_field_id_other_than_the_heading_id_is_refused() -> None:
    error = _refusal(
        "### OP-A01 — Pull\n\n| Field | Value |\n|---|---|\n| Operation ID | OP-A02 |\n"
    )
    assert error.lines == (5,)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("### OP-A01 — Pull\n\n| Field | Value |\n|---|---|\n| Enforcement Level | high |\n", 5),
        ("### OP-A01 — Pull\nOption: non-canonical\n", 2),
        ("| ID | Name |\n|---|---|\n| OP-A01 |  |\n", 3),
        ("\n### OP-A01\n\nno name anywhere\n", 2),
    ],
)
def test_unreadable_values_are_refused_with_their_line(text: str, line: int) -> None:
    assert _refusal(text).lines == (line,)


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
    assert [row["operation_id"] for row in result.table] == canonical
    assert [op["operation_id"] for op in result.detail["operations"]] == ids
    assert result.detail["unauthorized"] == []  # NC operations are authorized, not unknown
    rows = {row["operation_id"]: row for row in result.table}
    assert rows["OP-QA07"]["coverage_level"] == "C4"
    unknown = next(
        row for op, row in rows.items() if op != "OP-QA07" and row["coverage_level"] == "C0"
    )
    assert "coverage_below_C3:C0" in unknown["warnings"]
    detail = {op["operation_id"]: op for op in result.detail["operations"]}
    assert detail["OP-NC01"]["last_run_id"] == "r1"


def test_builder_still_refuses_a_non_string_level() -> None:
    document = {
        "operations": [
            {"operation_id": "OP-A01", "name": "n", "option": "A", "enforcement_level": 3}
        ]
    }
    with pytest.raises(OpStatusInputError) as caught:
        build_op_status_table([], document, PACKS, as_of=AS_OF)
    assert caught.value.path == "/operations/0/enforcement_level"


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
    result = adapters.build_op_status_table(_inputs(workspace, store, catalog))
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
    expected = render(
        build_op_status_table(
            LINES,
            json.loads(path.read_text()),
            {"p": {}},
            as_of=registry.created_utc,
            reference_commit=commit if isinstance(commit, str) else None,
        )
    )
    assert dict(adapters.build_op_status_table(build).files) == expected


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
    with pytest.raises(OpStatusInputError) as caught:
        adapters.build_op_status_table(_inputs(workspace, store, files))
    assert "allowed_operations" in caught.value.message


def test_adapter_refuses_a_markdown_catalog_that_is_not_utf8(
    workspace: Workspace, store: RunStore
) -> None:
    with pytest.raises(OpStatusInputError) as caught:
        adapters.build_op_status_table(_inputs(workspace, store, {"ops.md": b"### OP-A01 \xff\n"}))
    assert caught.value.path is not None and caught.value.path.endswith("ops.md")


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
    document = merged_operations([(V01, "v0.1.md"), (V02, "v0.2.md")])
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
    document = adapters._allowed_operations(read_snapshot(sealed.path, "allowed_operations"))
    assert [op["operation_id"] for op in document["operations"]] == ["OP-A01", "OP-QA06", "OP-QA07"]
    mixed = seal_files(store, RunSpec("allowed_operations"), {**files, "ops.json": b"{}"})
    with pytest.raises(OpStatusInputError, match=r"one \.json catalog or Markdown"):
        adapters._allowed_operations(read_snapshot(mixed.path, "allowed_operations"))
