"""An operations catalog as the seed writes it, with a coverage matrix: adopted, built, levelled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from registry_pipeline_tests._helpers import Run, commit_all
from registry_pipeline_tests.cli_tests._seed_layout import PHASE

CATALOG_V01 = """\
# Fixture Allowed Operations Catalog v0.1

## Option A — Canonical Ingest

### OP-A01: Ingest

Operation ID: OP-A01
Option: A
Bound Executables:
- `src/ingest.py`

### OP-A02: Backfill

Operation ID: OP-A02
Option: lower-case, which no family is
Bound Executables:
- `src/backfill.py`

## Option B — Derived

### OP-B07: Threshold Management

Bound Executables: `sql/thresholds.sql`

## NON_CANONICAL — Exploratory, Legacy

### OP-NC01: Manual notebook run

Operation ID: OP-NC01
Option: NON_CANONICAL
"""
MATRIX_V01 = """\
# Fixture Enforcement Coverage Matrix v0.1

| Operation ID | Option | Enforcement Surfaces | Coverage Level | Justification |
|---|---|---|---|---|
| OP-A01 | A | E1, E4 | C4 | gated |
| OP-A02 | A | E2 | C2 | runtime only |
| OP-B07 | B | E1, E3, E4 | C3 | tested |

| Operation ID | Option | Note |
|---|---|---|
| OP-NC01 through OP-NC09 | NON_CANONICAL | not governed |
"""
MATRIX_V02 = """\
# Fixture Enforcement Coverage Matrix v0.2

| Operation | E5 Audit | Coverage Level |
|---|:-:|:-:|
| OP-QA07 Run Registry Build | Y | **C3** |
| OP-QA08 Operation Status Table Build | Y | **C5** |
"""


def _newest(root: Path, suffix: str, name: str) -> Any:
    folder = sorted((root / ".codex" / "RUNS").glob(f"*__{suffix}"))[-1]
    return json.loads((folder / name).read_text(encoding="utf-8"))


def test_the_seed_catalog_form_builds_green_with_the_matrix_levels(
    cli: Run, seed_repo: Path
) -> None:
    (seed_repo / "OVC_ALLOWED_OPERATIONS_CATALOG_v0.1.md").write_text(CATALOG_V01)
    (seed_repo / "OVC_ENFORCEMENT_COVERAGE_MATRIX_v0.1.md").write_text(MATRIX_V01)
    (seed_repo / PHASE / "OVC_ENFORCEMENT_COVERAGE_MATRIX_v0.2.md").write_text(MATRIX_V02)
    commit_all(seed_repo, "the seed's catalog form and matrices")
    code, out, err = cli("adopt", str(seed_repo))
    assert code == 0, err
    assert "coverage levels from OVC_ENFORCEMENT_COVERAGE_MATRIX_v0.1.md, " in out
    catalog = json.loads((seed_repo / "registries" / "REGISTRY_CATALOG_v0_2.json").read_text())
    [operations] = [r for r in catalog["registries"] if r["registry_id"] == "allowed_operations"]
    assert operations["coverage_matrices"] == [
        "OVC_ENFORCEMENT_COVERAGE_MATRIX_v0.1.md",
        (PHASE / "OVC_ENFORCEMENT_COVERAGE_MATRIX_v0.2.md").as_posix(),
    ]
    assert operations["in_scorecard"] is False
    code, out, err = cli("build", "--workspace", str(seed_repo))
    assert code == 0, out + err
    [note] = [line.strip() for line in out.splitlines() if "catalog line not understood" in line]
    assert "_allowed_operations_build/OVC_ALLOWED_OPERATIONS_CATALOG_v0.1.md:15: OP-A02: " in note
    assert "option 'lower-case, which no family is' is not an uppercase family: A is used" in note
    table = {
        row["operation_id"]: row
        for row in _newest(seed_repo, "op_status_table_build", "OPERATION_STATUS_TABLE_v0_1.json")
    }
    levels = {op: row["coverage_level"] for op, row in table.items()}
    assert levels["OP-A01"] == "C4" and levels["OP-A02"] == "C2" and levels["OP-B07"] == "C3"
    assert levels["OP-QA07"] == "C3" and levels["OP-QA08"] == "C5"  # from the v0.2 matrix
    assert table["OP-A02"]["option"] == "A"  # the Option heading's family stands in
    assert "OP-NC01" not in table
    detail = _newest(seed_repo, "op_status_table_build", "OPERATION_STATUS_DETAIL_v0_2.json")
    assert detail["non_canonical"] == {"count": 1, "operation_ids": ["OP-NC01"]}
    [warning] = detail["catalog_warnings"]
    assert (warning["line"], warning["operation_id"]) == (15, "OP-A02")


def test_an_overridden_matrix_list_is_what_the_build_reads(cli: Run, seed_repo: Path) -> None:
    (seed_repo / "OVC_ENFORCEMENT_COVERAGE_MATRIX_v0.1.md").write_text(MATRIX_V01)
    commit_all(seed_repo, "a matrix")
    assert cli("adopt", str(seed_repo))[0] == 0
    path = seed_repo / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog = json.loads(path.read_text())
    [operations] = [r for r in catalog["registries"] if r["registry_id"] == "allowed_operations"]
    operations["coverage_matrices"] = ["docs/elsewhere.md"]  # not one of its sources
    path.write_text(json.dumps(catalog, indent=2))
    code, _out, err = cli("build", "--workspace", str(seed_repo))
    assert code == 2 and "CATALOG_INVALID" in err
    assert "coverage_matrices: 'docs/elsewhere.md' is not one of the entry's sources" in err
    del operations["coverage_matrices"]  # no matrix: the catalog's levels, else C0
    matrix = "OVC_ENFORCEMENT_COVERAGE_MATRIX_v0.1.md"
    operations["sources"].remove(matrix)
    operations["artifacts"].remove(matrix)
    path.write_text(json.dumps(catalog, indent=2))
    code, out, err = cli("build", "--workspace", str(seed_repo))
    assert code == 0, out + err
    rows = _newest(seed_repo, "op_status_table_build", "OPERATION_STATUS_TABLE_v0_1.json")
    assert {row["coverage_level"] for row in rows} == {"C0"}
