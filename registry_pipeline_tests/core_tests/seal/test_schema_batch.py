"""`SchemaCatalog.is_all_valid` (one engine call over a batch) says what validating each says."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_pipeline.core.seal.schemas import SchemaCatalog

RUN = "urn:registry-pipeline:schema:run_index_record_v0_1"
VALID: dict[str, Any] = {
    "record_type": "RUN",
    "run_id": "RUN-20260901-0800-AAAA",
    "created_utc": "2026-09-01T08:00Z",
    "created_by": "gpt",
    "machine_id": "C1",
    "artist_id": "ART-iron-harbor",
    "genre_id": "GEN-worship",
    "work_id": "WORK-20260901-0800-B5KC",
    "version_ids": ["VER-20260901-0800-URMH"],
    "qa_gate2": "PASS",
    "uniqueness_scene": "PASS",
}
CHANGES: list[tuple[str, Any]] = [
    ("machine_id", "C9"),
    ("machine_id", None),
    ("run_id", "RUN-1"),
    ("created_utc", "2026-09-01T08:00Z\n"),
    ("created_utc", "2026-09-01 08:00Z"),
    ("version_ids", []),
    ("version_ids", ["VER-20260901-0800-URMH", "VER-20260901-0800-URMH"]),
    ("uniqueness_scene", "FAIL"),
    ("qa_gate2", "FAIL"),
    ("notes", "fine"),
    ("notes", 2**60),
    ("notes", 1.5),
    ("extra", True),
    ("artist_id", "ART-x\n"),
]


def _catalog() -> SchemaCatalog:
    return SchemaCatalog.for_workspace(None)


def _each(catalog: SchemaCatalog, schema_id: str, instances: list[Any]) -> bool:
    return all(not catalog.validate(schema_id, instance) for instance in instances)


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(st.lists(st.lists(st.sampled_from(CHANGES), max_size=2), min_size=1, max_size=8))
def test_a_batch_is_valid_exactly_when_each_instance_is(
    changes: list[list[tuple[str, Any]]],
) -> None:
    catalog = _catalog()
    instances = []
    for changed in changes:
        instance = copy.deepcopy(VALID)
        instance.update(changed)
        instances.append(instance)
    expected = _each(catalog, RUN, instances)
    assert catalog.is_all_valid(RUN, instances) is expected


def test_instances_the_compiled_check_cannot_take_are_validated_one_by_one() -> None:
    catalog = _catalog()
    for odd in (2**70, float("inf"), (1, 2), {1, 2}, b"x"):
        instances = [VALID, {**VALID, "notes": odd}]
        assert catalog.is_all_valid(RUN, instances) is _each(catalog, RUN, instances)
    assert catalog.is_all_valid(RUN, [])
    assert not catalog.is_all_valid(RUN, [VALID, [VALID]])


def _workspace_schema(tmp_path: Path, name: str, document: dict[str, Any]) -> SchemaCatalog:
    folder = tmp_path / "schemas"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.schema.json").write_text(json.dumps(document))
    return SchemaCatalog.for_workspace(tmp_path)


def test_dynamic_references_are_judged_alike_in_a_batch(tmp_path: Path) -> None:
    schema_id = "urn:test:dynamic"
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "$dynamicAnchor": "node",
        "type": "object",
        "properties": {"child": {"$dynamicRef": "#node"}, "n": {"type": "integer"}},
    }
    catalog = _workspace_schema(tmp_path, "dynamic", document)
    good, bad = {"child": {"n": 1}}, {"child": {"n": "x"}}
    assert catalog.is_all_valid(schema_id, [good, good])
    assert not catalog.is_all_valid(schema_id, [good, bad])


def test_a_binding_to_a_document_of_another_id_is_judged_alike_in_a_batch(tmp_path: Path) -> None:
    bound = tmp_path / "theirs" / "record.json"
    bound.parent.mkdir()
    bound.write_text(json.dumps({"$id": "urn:theirs", "type": "object", "required": ["a"]}))
    binding = {"$id": "urn:ours", "x-schema-file": "../theirs/record.json"}
    catalog = _workspace_schema(tmp_path, "ours", binding)
    assert catalog.is_all_valid("urn:ours", [{"a": 1}])
    assert not catalog.is_all_valid("urn:ours", [{"a": 1}, {"b": 1}])
