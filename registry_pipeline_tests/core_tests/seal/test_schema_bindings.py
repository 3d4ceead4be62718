"""Schema bindings: a workspace schema naming another system's (`x-schema-file`) adds our `$id`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.seal import schemas as schemas_module
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline_tests.core_tests.seal.reference_engine import metaschema_problems

BOUND_ID = "urn:registry-pipeline:adopted:expected_versions"
THEIR_SCHEMAS = "docs/phase_2_2/schemas"
EXPECTED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Expected Versions (theirs: no $id, no x-registry-* keys)",
    "registry_id": "expected_versions",
    "type": "object",
    "required": ["version", "expected"],
    "properties": {"version": {"type": "string"}, "expected": {"type": "object"}},
    "additionalProperties": False,
}


def _write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _binding(target: object, **extra: Any) -> dict[str, Any]:
    return {
        "$id": BOUND_ID,
        "x-registry-artifacts": ["EXPECTED_VERSIONS_v0_1.json", "expected_versions_snapshot.json"],
        "x-registry-format": "json",
        "x-schema-file": target,
        **extra,
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A workspace whose own schemas bind a schema kept in the adopted repository's folder."""
    ws = tmp_path / "ws"
    _write(ws / THEIR_SCHEMAS / "REGISTRY_expected_versions_v0_1.schema.json", EXPECTED)
    _write(
        ws / "schemas" / "expected_versions.schema.json",
        _binding(f"../{THEIR_SCHEMAS}/REGISTRY_expected_versions_v0_1.schema.json"),
    )
    return ws


def test_a_binding_validates_with_the_referenced_schema(root: Path) -> None:
    catalog = SchemaCatalog.for_workspace(root)
    schema = catalog.for_artifact("sub/EXPECTED_VERSIONS_v0_1.json")
    assert schema is not None
    assert schema.schema_id == BOUND_ID  # the binding wins over the built-in schema of that name
    assert schema.path == root / THEIR_SCHEMAS / "REGISTRY_expected_versions_v0_1.schema.json"
    assert schema.binding == root / "schemas" / "expected_versions.schema.json"
    assert schema.document == EXPECTED
    assert schema.format == "json"
    assert catalog.for_artifact("expected_versions_snapshot.json") is schema
    good = {"version": "0.1", "expected": {}}
    assert catalog.validate(BOUND_ID, good) == []
    [violation] = catalog.validate(BOUND_ID, {**good, "extra": 1})
    assert "Additional properties are not allowed" in violation.message
    [missing] = catalog.validate(BOUND_ID, {"version": 1, "expected": {}})
    assert (missing.field, missing.message) == ("/version", "1 is not of type 'string'")


def test_edits_to_the_referenced_schema_are_seen(root: Path) -> None:
    folders = [str(schemas_module.builtin_schema_dir()), str(root / "schemas")]
    stamp = schemas_module._stamp(folders)
    before = SchemaCatalog.for_workspace(root)
    assert before.validate(BOUND_ID, {"version": "0.1", "expected": {}}) == []

    _write(
        root / THEIR_SCHEMAS / "REGISTRY_expected_versions_v0_1.schema.json",
        {**EXPECTED, "properties": {"version": {"type": "integer"}, "expected": {}}},
    )
    assert schemas_module._stamp(folders) != stamp
    after = SchemaCatalog.for_workspace(root)
    assert after is not before
    assert after.fingerprint != before.fingerprint
    [violation] = after.validate(BOUND_ID, {"version": "0.1", "expected": {}})
    assert violation.field == "/version"


def test_edits_to_the_binding_change_the_fingerprint(root: Path) -> None:
    before = SchemaCatalog.load([root / "schemas"]).fingerprint
    binding = root / "schemas" / "expected_versions.schema.json"
    _write(binding, {**loads_strict(binding.read_bytes()), "x-registry-artifacts": ["other.json"]})
    assert SchemaCatalog.load([root / "schemas"]).fingerprint != before


BINDING, BAD = "schemas/expected_versions.schema.json", "docs/bad.schema.json"
BAD_TARGETS = [  # target, what docs/bad.schema.json holds, the code, the path it names, said
    ("/etc/x", None, "SCHEMA_INVALID", BINDING, "absolute"),
    ("../../outside.json", None, "SCHEMA_INVALID", BINDING, "outside the workspace"),
    ("../docs/../../outside.json", None, "SCHEMA_INVALID", BINDING, "outside the workspace"),
    ("..\\outside.json", None, "SCHEMA_INVALID", BINDING, "backslash"),
    ("", None, "SCHEMA_INVALID", BINDING, "empty"),
    (["a.json"], None, "SCHEMA_INVALID", BINDING, "x-schema-file"),
    ("../docs/nowhere.schema.json", None, "SCHEMA_UNREADABLE", "docs/nowhere.schema.json", ""),
    ("../docs", None, "SCHEMA_UNREADABLE", "docs", ""),
    (f"../{BAD}", b'{"type": "object", "type": "array"}', "SCHEMA_UNREADABLE", BAD, "JSON_INVALID"),
    (f"../{BAD}", b"[NaN]", "SCHEMA_UNREADABLE", BAD, "JSON_NON_FINITE"),
    (f"../{BAD}", b"[]", "SCHEMA_INVALID", BAD, ""),
]
"""Leaving the workspace, not a string, missing, a folder, not strict JSON, not an object."""


@pytest.mark.parametrize(("target", "data", "code", "where", "said"), BAD_TARGETS)
def test_a_bad_reference_is_refused_naming_its_file(
    root: Path, target: object, data: bytes | None, code: str, where: str, said: str
) -> None:
    _write(root.parent / "outside.json", EXPECTED)
    if data is not None:
        (root / BAD).write_bytes(data)
    _write(root / BINDING, _binding(target))
    with pytest.raises(UsageError) as raised:
        SchemaCatalog.load([root / "schemas"])
    assert (raised.value.code, raised.value.path) == (code, str(root / where))
    assert said in raised.value.message


@pytest.mark.parametrize("link", ["folder", "file", "climbed back out of", "binding folder"])
def test_a_symlink_on_the_way_is_refused(root: Path, tmp_path: Path, link: str) -> None:
    outside = _write(tmp_path / "outside" / "REGISTRY_x.schema.json", EXPECTED)
    folder = root / "schemas"
    target = f"../{THEIR_SCHEMAS}/REGISTRY_expected_versions_v0_1.schema.json"
    if link == "folder":
        os.symlink(outside.parent, root / "linked")
        target = "../linked/REGISTRY_x.schema.json"
    elif link == "file":
        os.symlink(outside, root / THEIR_SCHEMAS / "linked.schema.json")
        target = f"../{THEIR_SCHEMAS}/linked.schema.json"
    elif link == "climbed back out of":  # the OS would follow the link before `..`
        os.symlink(outside.parent, root / "docs" / "linked")
        target = "../docs/linked/../phase_2_2/schemas/REGISTRY_expected_versions_v0_1.schema.json"
    else:  # the workspace's schemas/ is itself a link: `..` would climb out of its target
        shutil.move(folder, tmp_path / "real_schemas")
        os.symlink(tmp_path / "real_schemas", folder)
    _write(folder / "expected_versions.schema.json", _binding(target))
    with pytest.raises(UsageError) as raised:
        SchemaCatalog.load([folder])
    assert raised.value.code == "SCHEMA_INVALID"
    assert raised.value.path == str(folder / "expected_versions.schema.json")
    assert "symlink" in raised.value.message


def test_a_binding_with_schema_keywords_is_refused(root: Path) -> None:
    target = f"../{THEIR_SCHEMAS}/REGISTRY_expected_versions_v0_1.schema.json"
    _write(
        root / "schemas" / "expected_versions.schema.json",
        _binding(target, type="object", title="ok", description="ok", **{"x-note": "ok"}),
    )
    with pytest.raises(UsageError) as raised:
        SchemaCatalog.load([root / "schemas"])
    assert raised.value.code == "SCHEMA_INVALID"
    assert raised.value.path == str(root / "schemas" / "expected_versions.schema.json")
    assert "'type'" in raised.value.message
    assert raised.value.message.endswith("found 'type'")  # title, description, x-*: allowed


def test_internal_refs_of_the_referenced_document_resolve(root: Path) -> None:
    _write(
        root / THEIR_SCHEMAS / "REGISTRY_expected_versions_v0_1.schema.json",
        {
            "type": "object",
            "properties": {"version": {"$ref": "#/$defs/version"}},
            "$defs": {"version": {"type": "string", "pattern": "^[0-9]+[.][0-9]+$"}},
        },
    )
    _write(root / "schemas" / "user.schema.json", {"$id": "urn:test:user", "$ref": BOUND_ID})
    _write(
        root / "schemas" / "version.schema.json",
        {"$id": "urn:test:version", "$ref": f"{BOUND_ID}#/$defs/version"},
    )
    catalog = SchemaCatalog.load([root / "schemas"])
    assert catalog.validate(BOUND_ID, {"version": "0.1"}) == []
    for schema_id in (BOUND_ID, "urn:test:user"):
        [violation] = catalog.validate(schema_id, {"version": "v1"})
        assert violation.field == "/version"
    assert catalog.validate("urn:test:version", "0.1") == []
    assert len(catalog.validate("urn:test:version", "v1")) == 1


def test_problems_of_the_referenced_document_name_its_path(root: Path) -> None:
    referenced = _write(root / "docs" / "broken.schema.json", {"type": "no-such-type"})
    _write(
        root / "schemas" / "expected_versions.schema.json", _binding("../docs/broken.schema.json")
    )
    catalog = SchemaCatalog.load([root / "schemas"])
    [(path, message)] = list(metaschema_problems(catalog))
    assert path == referenced
    assert "no-such-type" in message
    with pytest.raises(UsageError) as raised:
        catalog.validate(BOUND_ID, {})
    assert raised.value.code == "SCHEMA_INVALID"
    assert raised.value.path == str(referenced)


# The seed system's own schemas, bound where they live, against its own hand-edited sources.
SOURCES = {
    "REGISTRY_expected_versions_v0_1": ["EXPECTED_VERSIONS_v0_1.json"],
    "REGISTRY_migration_ledger_v0_1": ["applied_migrations.json"],
    "REGISTRY_threshold_packs_file_v0_1": [
        "threshold_packs/c3_example_pack_v1.json",
        "threshold_packs/c3_regime_trend_v1.json",
        "threshold_packs/state_plane_v0_2_default_v1.json",
    ],
}
# Their seal-promotion snapshots are named `<stem>_snapshot.<ext>` (packs keep their names).
SNAPSHOTS = [
    ("seal_expected_versions", "EXPECTED_VERSIONS_v0_1_snapshot.json", "expected_versions"),
    ("seal_migration_ledger", "applied_migrations_snapshot.json", "migration_ledger"),
    ("seal_threshold_packs", "c3_example_pack_v1.json", "threshold_packs_file"),
    ("seal_threshold_packs", "c3_regime_trend_v1.json", "threshold_packs_file"),
    ("seal_threshold_packs", "state_plane_v0_2_default_v1.json", "threshold_packs_file"),
]


@pytest.mark.reference
def test_the_reference_schemas_bound_in_place_accept_its_sources(
    reference: Path, tmp_path: Path
) -> None:
    # The adopted repository keeps its schemas in docs/phase_2_2/schemas/; build that layout
    # (a test fixture copy: adopt itself never copies) and bind every schema where it lies.
    ws = tmp_path / "ws"
    shutil.copytree(reference / "schemas", ws / THEIR_SCHEMAS)
    theirs = sorted(path.name for path in (ws / THEIR_SCHEMAS).glob("REGISTRY_*.schema.json"))
    assert len(theirs) == 13  # 11 `_v0_1`, one `.array` variant, evidence_pack is `_v0_2`
    for name in theirs:
        stem = name.removesuffix(".schema.json")
        assert "$id" not in loads_strict((ws / THEIR_SCHEMAS / name).read_bytes())
        _write(
            ws / "schemas" / f"{stem}.schema.json",
            {
                "$id": f"urn:registry-pipeline:adopted:{stem}",
                "x-registry-artifacts": SOURCES.get(stem, []),
                "x-registry-format": "json",
                "x-schema-file": f"../{THEIR_SCHEMAS}/{name}",
            },
        )
    catalog = SchemaCatalog.for_workspace(ws)
    assert list(metaschema_problems(catalog)) == []  # all 13 are valid draft 2020-12 schemas

    results = {}
    for stem, relpaths in SOURCES.items():
        for relpath in relpaths:
            schema = catalog.for_artifact(relpath)
            assert schema is not None and schema.schema_id.endswith(stem), relpath
            document = loads_strict((reference / "sources" / relpath).read_bytes())
            results[relpath] = catalog.validate(schema.schema_id, document)
    # Documented fact (checked 2026-11): the seed system's sources satisfy its own schemas.
    assert results == {relpath: [] for relpaths in SOURCES.values() for relpath in relpaths}

    promoted = reference / "sealed_by_seal_promotion"
    for folder, name, registry_id in SNAPSHOTS:
        [run_folder] = promoted.glob(f"*__{folder}")
        document = loads_strict((run_folder / name).read_bytes())
        schema_id = f"urn:registry-pipeline:adopted:REGISTRY_{registry_id}_v0_1"
        assert catalog.validate(schema_id, document) == [], name
