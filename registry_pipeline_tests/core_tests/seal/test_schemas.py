"""The schema catalog: valid schemas, mapping by artifact name, no remote refs, strict JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.schemas import (
    ENVELOPE_ID,
    MANIFEST_ID,
    SchemaCatalog,
    builtin_schema_dir,
)
from registry_pipeline_tests.core_tests.seal.reference_engine import metaschema_problems

REPO = Path(__file__).resolve().parents[3]


def test_the_builtin_catalog_is_every_schema_of_the_repository_valid_draft_2020_12() -> None:
    assert builtin_schema_dir().resolve() == (REPO / "schemas").resolve()
    shipped = sorted(builtin_schema_dir().glob("*.schema.json"))
    catalog = SchemaCatalog.for_workspace(None)
    assert len(shipped) >= 10
    assert {schema.path.resolve() for schema in catalog.schemas.values()} == {
        path.resolve() for path in shipped
    }
    assert list(metaschema_problems(catalog)) == []
    for schema in catalog.schemas.values():
        assert schema.document["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize(
    ("relpath", "schema_id"),
    [
        ("EXPECTED_VERSIONS_v0_1.json", "urn:registry-pipeline:schema:expected_versions_v0_1"),
        ("sub/applied_migrations.json", "urn:registry-pipeline:schema:migration_ledger_v0_1"),
        ("threshold_packs/anything.json", "urn:registry-pipeline:schema:threshold_pack_v0_1"),
        ("drift_strict_pack_v1.json", "urn:registry-pipeline:schema:threshold_pack_v0_1"),
        ("notes.txt", None),
        ("run.json", None),
        # `*` never crosses a folder: a collection member is no threshold pack by its path
        ("p1_x/outputs/evidence_pack_v0_2/meta.json", None),
        ("threshold_packs/old/anything.json", None),
    ],
)
def test_artifacts_are_mapped_by_name(relpath: str, schema_id: str | None) -> None:
    schema = SchemaCatalog.for_workspace(None).for_artifact(relpath)
    assert (schema.schema_id if schema else None) == schema_id


def test_envelope_schema_minimum_and_our_fields() -> None:
    catalog = SchemaCatalog.for_workspace(None)
    assert (
        catalog.validate(ENVELOPE_ID, {"run_id": "x", "created_utc": "2026-02-04T22:45:58Z"}) == []
    )
    missing = catalog.validate(ENVELOPE_ID, {"run_id": "x"})
    assert [v.message for v in missing] == ["'created_utc' is a required property"]
    ours = catalog.validate(
        ENVELOPE_ID,
        {
            "run_id": "x",
            "created_utc": "2026-02-04T22:45:58Z",
            "builder": {"name": "b", "version": "1"},
        },
    )
    required = {v.message.split("'")[1] for v in ours}
    assert required == {
        "run_type",
        "registry_id",
        "operation_id",
        "git_commit",
        "working_tree_state",
        "inputs",
        "outputs",
    }


def test_manifest_schema_rejects_uppercase_hex() -> None:
    catalog = SchemaCatalog.for_workspace(None)
    row = {"relpath": "a", "bytes": 1, "sha256": "A" * 64}
    [violation] = catalog.validate(MANIFEST_ID, [row])
    assert violation.field == "/0/sha256"
    assert catalog.validate(MANIFEST_ID, [{**row, "sha256": "a" * 64}]) == []


def _write(folder: Path, name: str, document: object) -> None:
    (folder / name).write_text(json.dumps(document))


def test_local_refs_between_schemas_resolve(tmp_path: Path) -> None:
    _write(tmp_path, "a.schema.json", {"$id": "urn:test:a", "$ref": "urn:test:b"})
    _write(tmp_path, "b.schema.json", {"$id": "urn:test:b", "type": "integer"})
    catalog = SchemaCatalog.load([tmp_path])
    assert catalog.validate("urn:test:a", 3) == []
    assert [v.message for v in catalog.validate("urn:test:a", "x")] == [
        "'x' is not of type 'integer'"
    ]


@pytest.mark.parametrize(
    "bad", [{"type": "no-such-type"}, {"properties": {"a": {"minLength": -1}}}]
)
def test_invalid_schema_is_a_clear_error(tmp_path: Path, bad: dict[str, object]) -> None:
    _write(tmp_path, "bad.schema.json", {"$id": "urn:test:bad", "type": "object", **bad})
    with pytest.raises(UsageError) as raised:
        SchemaCatalog.load([tmp_path]).validate("urn:test:bad", {"a": "x"})
    assert raised.value.code == "SCHEMA_INVALID"
    assert raised.value.path == str(tmp_path / "bad.schema.json")


def test_schema_without_id_or_with_duplicate_id_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "noid.schema.json", {"type": "object"})
    with pytest.raises(UsageError, match="string \\$id"):
        SchemaCatalog.load([tmp_path])
    (tmp_path / "noid.schema.json").unlink()
    _write(tmp_path, "one.schema.json", {"$id": "urn:test:same", "type": "object"})
    _write(tmp_path, "two.schema.json", {"$id": "urn:test:same", "type": "object"})
    assert list(SchemaCatalog.load([tmp_path]).schemas) == ["urn:test:same"]  # identical copies
    _write(tmp_path, "two.schema.json", {"$id": "urn:test:same", "type": "integer"})
    with pytest.raises(UsageError, match="duplicate"):
        SchemaCatalog.load([tmp_path])


def test_a_later_folders_schema_overrides_an_id_and_wins_an_artifact(tmp_path: Path) -> None:
    builtin, workspace = tmp_path / "builtin", tmp_path / "workspace"
    builtin.mkdir()
    workspace.mkdir()
    _write(builtin, "x.schema.json", {"$id": "urn:test:x", "type": "integer"})
    _write(workspace, "x.schema.json", {"$id": "urn:test:x", "type": "string"})
    _write(builtin, "a.schema.json", {"$id": "urn:test:a", "x-registry-artifacts": ["*.json"]})
    _write(builtin, "b.schema.json", {"$id": "urn:test:b", "x-registry-artifacts": ["b.json"]})
    _write(workspace, "z.schema.json", {"$id": "urn:test:z", "x-registry-artifacts": ["b.json"]})

    def governing(catalog: SchemaCatalog, name: str) -> str | None:
        schema = catalog.for_artifact(name)
        return schema.schema_id if schema else None

    assert governing(SchemaCatalog.load([builtin]), "b.json") == "urn:test:a"  # file-name order
    catalog = SchemaCatalog.load([builtin, workspace])
    assert governing(catalog, "a.json") == "urn:test:a"
    assert governing(catalog, "b.json") == "urn:test:z"  # the workspace's schema wins
    assert catalog.validate("urn:test:x", "text") == []
    assert catalog.schemas["urn:test:x"].path == workspace / "x.schema.json"


def test_strict_json_rejects_minus_infinity() -> None:
    """The other refusals of strict JSON: `core_tests/test_json.py`."""
    with pytest.raises(JSONDecodeProblem) as caught:
        loads_strict(b"[-Infinity]")
    assert caught.value.code == "JSON_NON_FINITE"


def test_a_missing_builtin_schema_folder_is_an_error_not_a_skipped_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from registry_pipeline.core.seal import schemas

    monkeypatch.setattr(schemas, "builtin_schema_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(UsageError) as caught:
        SchemaCatalog.for_workspace(None)
    assert caught.value.code == "SCHEMAS_MISSING"
