"""The seed system's repository layout the adopt tests adopt (`make_seed_repo`; the `seed_repo`
fixture is cli_tests/conftest.py's): its catalogs, pointer file, operations and sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from registry_pipeline_tests._helpers import Run, commit_all

PHASE = Path("docs/phase_2_2")


def source_of(path: str, authority: str = "primary") -> dict[str, str]:
    return {"path": path, "authority_class": authority}


def v01(registry_id: str, artifact_type: str, sources: list[dict[str, str]],
         operation: str = "unknown — not mapped") -> dict[str, Any]:  # fmt: skip
    return {
        "registry_id": registry_id,
        "schema_id": f"REGISTRY_{registry_id}_v0_1",
        "schema_version": "0.1",
        "artifact_type": artifact_type,
        "description": f"The {registry_id} registry of the fixture.",
        "authoritative_sources": sources,
        "build_operation_id": operation,
        "write_policy": "append_new_snapshot" if "RUNS" in str(sources) else "append_only",
    }


CATALOG = {
    "catalog_version": "0.1",
    "registries": [
        v01("run_registry", "jsonl_registry",
             [source_of(".codex/RUNS/<run_id>/RUN_REGISTRY_v0_1.jsonl")]),
        v01("op_status_table", "json_snapshot",
             [source_of(".codex/RUNS/<run_id>/OPERATION_STATUS_TABLE_v0_1.json")]),
        v01("drift_signals", "json_snapshot",
             [source_of(".codex/RUNS/<run_id>/DRIFT_SIGNALS_v0_1.json")]),
        v01("migration_ledger", "json_snapshot", [source_of("schema/applied_migrations.json")]),
        v01("expected_versions", "json_snapshot",
             [source_of("docs/governance/EXPECTED_VERSIONS_v0_1.json")]),
        v01("threshold_packs_file", "json_snapshot",
             [source_of("configs/threshold_packs/alpha_pack_v1.json"),
              source_of("configs/threshold_packs/beta_pack_v1.json")],
             "OP-B07 (Threshold Management)"),
        v01("threshold_registry_db", "external_database", [source_of("sql/04_thresholds.sql")]),
        v01("validation_range_results", "jsonl_registry",
             [source_of("reports/validation/range_<uuid>.jsonl")]),
        v01("system_health_report", "run_folder",
             [source_of(".codex/RUNS/<run_id>/SYSTEM_HEALTH_v0_1.md")]),
    ],
}  # fmt: skip
ADDENDUM = {
    "addendum_version": "0.1",
    "registries": [
        v01("registry_delta_log", "jsonl_registry",
             [source_of(".codex/RUNS/<run_id>/REGISTRY_DELTA_LOG_v0_1.jsonl")], "OP-QA11"),
    ],
}  # fmt: skip
QA_OPERATIONS = {
    "OP-QA07": ("Run Registry Build", "RUN_REGISTRY_v0_1.jsonl"),
    "OP-QA08": ("Operation Status Table Build", "OPERATION_STATUS_TABLE_v0_1.json"),
    "OP-QA09": ("Drift Signals Build", "DRIFT_SIGNALS_v0_1.json"),
    "OP-QA10": ("System Health Render", None),
    "OP-QA11": ("Registry Delta Log Build", "REGISTRY_DELTA_LOG_v0_1.jsonl"),
}
OPERATIONS = """\
# Fixture Operations Catalog v0.2

Inherited: OP-B01 through OP-B07, OP-NC01 through OP-NC03.

| Operation | Name | Option |
|---|---|---|
| OP-B07 | Threshold Management | B |
| OP-NC01 | Manual notebook run | NC |
""" + "".join(
    f"\n### {op} — {name}\n\n| Field | Value |\n|---|---|\n| **Operation ID** | {op} |\n"
    f"| **Option** | QA |\n" + (f"| **Outputs** | `{outputs}` |\n" if outputs else "")
    for op, (name, outputs) in QA_OPERATIONS.items()
)
"""The seed's v0.2 catalog: a table, then a section per QA operation."""
OPERATIONS_V01 = """\
# Fixture Operations Catalog v0.1

### OP-A01: Ingest

Option: A

| Operation | Name | Option |
|---|---|---|
| OP-B01 | Data Build | B |
| OP-NC01 | Manual notebook run | NC |
"""
EXPECTED = {
    "version": "0.1",
    "expected": {"schema_version": "0.1", "threshold_pack_version": "v1",
                 "builder_versions": {"run_registry": "0.1.0"}},
}  # fmt: skip
LEDGER = {"_version": "1.0", "migrations": [
    {"file": "001_init.sql", "description": "tables", "applied_at": "2026-01-01T00:00:00Z",
     "applied_by": "ops", "status": "VERIFIED"}]}  # fmt: skip
PACK = {"pack_id": "alpha_pack", "pack_version": "v1", "thresholds": {"max_age_hours": 24}}
POINTERS = {
    "pointer_contract_version": "0.1",
    "mutation_policy": "Only pointers change.",
    "last_updated_utc": "2026-02-05T01:56:05Z",
    "pointers": [
        {
            "registry_id": "expected_versions",
            "active_ref": {
                "run_id": "2026-02-05__015605__seal_expected_versions",
                "run_root": ".codex/RUNS",
                "relpath": "expected_versions_snapshot.json",
                "manifest_sha256": "ab" * 32,
            },
            "active_ref_known": True,
            "active_asof_utc": "2026-02-05T01:56:05Z",
            "notes": "sealed on the author's machine",
        }
    ],
}
OBJECT_SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}


def write_file(root: Path, relpath: str | Path, value: Any) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value if isinstance(value, str) else json.dumps(value, indent=2) + "\n")


def make_seed_repo(root: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the seed-layout repository at `root` (and `extra`: relpath -> value), committed."""
    write_file(root, PHASE / "REGISTRY_CATALOG_v0_1.json", CATALOG)
    write_file(root, PHASE / "REGISTRY_CATALOG_ADDENDUM_v0_1__delta.json", ADDENDUM)
    write_file(root, PHASE / "ACTIVE_REGISTRY_POINTERS_v0_1.json", POINTERS)
    write_file(root, PHASE / "OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md", OPERATIONS)
    write_file(root, "OVC_ALLOWED_OPERATIONS_CATALOG_v0.1.md", OPERATIONS_V01)  # inherited by v0.2
    for registry_id in ("expected_versions", "migration_ledger", "threshold_packs_file"):
        schema = PHASE / "schemas" / f"REGISTRY_{registry_id}_v0_1.schema.json"
        write_file(root, schema, OBJECT_SCHEMA)
    write_file(root, "docs/governance/EXPECTED_VERSIONS_v0_1.json", EXPECTED)
    write_file(root, "schema/applied_migrations.json", LEDGER)
    write_file(root, "configs/threshold_packs/alpha_pack_v1.json", PACK)
    write_file(root, "configs/threshold_packs/beta_pack_v1.json", dict(PACK, pack_id="beta_pack"))
    write_file(root, ".gitignore", "__pycache__/\n.codex/RUNS/\n")
    write_file(root, ".gitattributes", "* text=auto eol=lf\n")
    for relpath, value in (extra or {}).items():
        write_file(root, relpath, value)
    commit_all(root, "seed")
    return root


def built(cli: Run, root: Path, *extra: str) -> dict[str, dict[str, Any]]:
    """`registry build --json` of the workspace at `root`, which must succeed: its entries by id."""
    code, out, err = cli("build", "--workspace", str(root), "--json", *extra)
    assert code == 0, out + err
    return {e["registry_id"]: e for e in json.loads(out)["registries"]}
