"""Issue 29's agreement: jsonschema-rs gives jsonschema's verdict on every schema and fixture."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.hashing import jsonl_records
from registry_pipeline.core.seal.schemas import (
    ArtifactSchema,
    SchemaCatalog,
    builtin_schema_dir,
)
from registry_pipeline_tests._helpers import REFERENCE, TIER
from registry_pipeline_tests.core_tests.seal.reference_engine import comparable, reference_validator

REPO = Path(__file__).resolve().parents[3]
ROOTS = (REPO / "registries", REPO / "examples", REPO / "registry_pipeline_tests" / "assets")
SUFFIXES = (".json", ".jsonl", ".yaml", ".yml")
LINES = None if TIER == "full" else 24
"""Lines of a JSONL fixture compared (`make test`: spread over the file; `make test-full`: all
of them, 900 in the seed's run index alone, which cost 3/4 of the test's time)."""


def _documents(path: Path) -> list[Any]:
    """The instances a fixture file holds: one per JSON/YAML file, one per JSONL line."""
    data = path.read_bytes()
    try:
        if path.suffix == ".jsonl":
            records = [record for _line, record in jsonl_records(data.split(b"\n"))]
            return records if LINES is None else records[:: -(-len(records) // LINES) or 1]
        if path.suffix == ".json":
            return [loads_strict(data)]
        return list(yaml.load_all(data, Loader=yaml.CSafeLoader))
    except (JSONDecodeProblem, yaml.YAMLError):
        return []


def _fixtures(*roots: Path) -> list[tuple[str, Any]]:
    """(name, instance) of every fixture under `roots` (schemas included: they are data too)."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                found += [(f"{path.name}#{n}", doc) for n, doc in enumerate(_documents(path))]
    return found


@functools.cache
def _all_fixtures() -> list[tuple[str, Any]]:
    return _fixtures(*ROOTS, builtin_schema_dir(), REFERENCE)


@functools.cache
def _schemas() -> dict[str, tuple[SchemaCatalog, str]]:
    """Label -> (catalog, schema id) of every schema of the repository and of the seed."""
    catalog = SchemaCatalog.load([builtin_schema_dir(), REPO / "schemas"])
    found = {s.path.name: (catalog, sid) for sid, s in catalog.schemas.items()}
    for root in (*ROOTS[1:], REFERENCE):
        for path in sorted(root.rglob("*")):
            ours = REPO / "schemas" / path.name
            if not path.name.endswith((".schema.json", ".schema.yaml")) or not path.is_file():
                continue
            if ours.is_file() and ours.read_bytes() == path.read_bytes():
                continue  # an example's copy of one of ours (examples/drift-history)
            [document] = _documents(path)
            schema_id = document.get("$id") or path.resolve().as_uri()  # the seed's have no $id
            schema = ArtifactSchema(schema_id, path, document, (), "json")
            single = SchemaCatalog(schemas={schema_id: schema})
            found[f"{root.name}/{path.relative_to(root)}"] = (single, schema_id)
    return found


@pytest.mark.parametrize("label", sorted(_schemas()))
def test_engines_agree_on_every_schema_and_fixture(label: str) -> None:
    catalog, schema_id = _schemas()[label]
    reference = reference_validator(catalog, schema_id)
    for name, instance in _all_fixtures():
        verdict = catalog.validate(schema_id, instance) == []
        assert catalog.is_all_valid(schema_id, [instance]) is verdict, name
        if comparable(instance):
            assert verdict is reference.is_valid(instance), name


def test_the_agreement_is_not_vacuous() -> None:
    """The registries' files, each governed by a schema, are compared and pass; the seed's 13
    schemas and its fixtures too."""
    catalog = SchemaCatalog.load([builtin_schema_dir(), REPO / "schemas"])
    files = sorted((REPO / "registries").rglob("*.json"))
    assert len(files) >= 5 and len(_all_fixtures()) > 20
    for path in files:
        schema = catalog.for_artifact(path.relative_to(REPO / "registries").as_posix())
        assert schema is not None, path
        document = loads_strict(path.read_bytes())
        assert comparable(document) and catalog.validate(schema.schema_id, document) == [], path
    if not REFERENCE.is_dir():
        pytest.skip(f"the seed's data ({REFERENCE}) is absent: only beside the dev repository")
    assert sum(label.startswith(f"{REFERENCE.name}/") for label in _schemas()) >= 13
    assert sum(comparable(doc) for _name, doc in _fixtures(REFERENCE)) >= 50
