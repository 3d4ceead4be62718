"""`SchemaCatalog.validate` (jsonschema-rs, the one engine) gives the verdict of jsonschema (the
design card's reference) on every JSON Schema of the repository and of the seed system, against
every JSON, JSONL and YAML fixture there, and on generated instances, wherever both engines'
rules are the same (`reference_engine.comparable`)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.hashing import jsonl_records
from registry_pipeline.core.seal.schemas import (
    ArtifactSchema,
    SchemaCatalog,
    builtin_schema_dir,
)
from registry_pipeline_tests.conftest import REFERENCE
from registry_pipeline_tests.core_tests.seal.reference_engine import comparable, reference_validator

REPO = Path(__file__).resolve().parents[3]
FIXTURE_ROOTS = (
    REPO / "registries",
    REPO / "examples",
    REPO / "registry_pipeline_tests" / "assets",
)
SUFFIXES = (".json", ".jsonl", ".yaml", ".yml")


def _documents(path: Path) -> list[Any]:
    """The instances a fixture file holds: one per JSON/YAML file, one per JSONL line."""
    data = path.read_bytes()
    try:
        if path.suffix == ".jsonl":
            return [record for _line, record in jsonl_records(data.split(b"\n"))]
        if path.suffix == ".json":
            return [loads_strict(data)]
        return list(yaml.load_all(data, Loader=yaml.CSafeLoader))
    except (JSONDecodeProblem, yaml.YAMLError):
        return []


def _fixtures(roots: tuple[Path, ...]) -> list[tuple[str, Any]]:
    """(name, instance) of every fixture under `roots` (schemas included: they are data too)."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                found += [(f"{path.name}#{n}", doc) for n, doc in enumerate(_documents(path))]
    return found


def _standalone(path: Path, document: Any) -> tuple[SchemaCatalog, str]:
    """A catalog of one schema file (the seed's carry no `$id`: the path names it)."""
    schema_id = document.get("$id") or path.resolve().as_uri()
    schema = ArtifactSchema(schema_id, path, document, (), "json")
    return SchemaCatalog(schemas={schema_id: schema}), schema_id


def _schema_files(roots: tuple[Path, ...]) -> list[Path]:
    return [
        path
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name.endswith((".schema.json", ".schema.yaml"))
    ]


@functools.cache
def _repository() -> list[tuple[str, SchemaCatalog, str]]:
    """(label, catalog, schema id) of every schema of the repository, each in its catalog."""
    found: list[tuple[str, SchemaCatalog, str]] = []
    catalog = SchemaCatalog.load([builtin_schema_dir(), REPO / "schemas"])
    found += [(s.path.name, catalog, sid) for sid, s in sorted(catalog.schemas.items())]
    for path in _schema_files((REPO / "examples", REPO / "registry_pipeline_tests" / "assets")):
        ours = REPO / "schemas" / path.name
        if ours.is_file() and ours.read_bytes() == path.read_bytes():
            continue  # an example's copy of one of ours (examples/drift-history): tested above
        [document] = _documents(path)
        found.append((str(path.relative_to(REPO)), *_standalone(path, document)))
    return found


@functools.cache
def _seed() -> list[tuple[str, SchemaCatalog, str]]:
    if not REFERENCE.is_dir():
        return []
    return [
        (str(path.relative_to(REFERENCE)), *_standalone(path, loads_strict(path.read_bytes())))
        for path in _schema_files((REFERENCE,))
    ]


def _agree(catalog: SchemaCatalog, schema_id: str, fixtures: list[tuple[str, Any]]) -> int:
    """The catalog against jsonschema on every comparable fixture; how many were compared."""
    reference = reference_validator(catalog, schema_id)
    compared = 0
    for name, instance in fixtures:
        verdict = catalog.validate(schema_id, instance) == []
        assert catalog.is_all_valid(schema_id, [instance]) is verdict, name
        if comparable(instance):
            assert verdict is reference.is_valid(instance), name
            compared += 1
    return compared


@functools.cache
def _repository_fixtures() -> list[tuple[str, Any]]:
    return _fixtures(FIXTURE_ROOTS) + _fixtures((builtin_schema_dir(),))


def _labels(entries: list[tuple[str, SchemaCatalog, str]]) -> list[str]:
    return [label for label, _catalog, _sid in entries]


@pytest.mark.parametrize("label", _labels(_repository()))
def test_engines_agree_on_repository_schemas_and_fixtures(label: str) -> None:
    fixtures = _repository_fixtures() + (_seed_fixtures() if REFERENCE.is_dir() else [])
    [(catalog, schema_id)] = [(c, s) for name, c, s in _repository() if name == label]
    assert len(fixtures) > 20
    _agree(catalog, schema_id, fixtures)


@functools.cache
def _seed_fixtures() -> list[tuple[str, Any]]:
    return _fixtures((REFERENCE,))


def test_the_repository_fixtures_are_compared_and_pass() -> None:
    """Not a vacuous agreement: the registries' files are compared, and pass."""
    catalog = SchemaCatalog.load([builtin_schema_dir(), REPO / "schemas"])
    governed = [
        (path.name, doc, schema.schema_id)
        for path in sorted((REPO / "registries").rglob("*.json"))
        if (schema := catalog.for_artifact(path.relative_to(REPO / "registries").as_posix()))
        for _name, doc in [("", loads_strict(path.read_bytes()))]
    ]
    assert len(governed) >= 5
    for name, document, schema_id in governed:
        assert comparable(document) and catalog.validate(schema_id, document) == [], name


def _seed_labels() -> list[str]:
    return _labels(_seed()) or ["(absent)"]


@pytest.mark.parametrize("label", _seed_labels())
def test_engines_agree_on_the_seed_schemas_and_fixtures(label: str) -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"the seed's data ({REFERENCE}) is absent: only beside the dev repository")
    [(catalog, schema_id)] = [(c, s) for name, c, s in _seed() if name == label]
    fixtures = _seed_fixtures() + _repository_fixtures()
    _agree(catalog, schema_id, fixtures)


def test_the_seed_schemas_are_compared_on_the_seed_fixtures() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"the seed's data ({REFERENCE}) is absent: only beside the dev repository")
    assert len(_seed()) >= 13
    compared = sum(_agree(c, sid, _seed_fixtures()) for _label, c, sid in _seed())
    assert compared >= 13 * 50  # every schema against every seed fixture, mostly comparable


# --- generated instances against our schemas ------------------------------------------------

BUILTIN = SchemaCatalog.load([builtin_schema_dir()])


def _builtin_ids() -> Iterator[str]:
    yield from sorted(BUILTIN.schemas)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), schema_id=st.sampled_from(sorted(BUILTIN.schemas)))
def test_generated_instances_get_jsonschemas_verdict(data: st.DataObject, schema_id: str) -> None:
    documents = {sid: s.document for sid, s in BUILTIN.schemas.items()}
    instance = data.draw(instances(BUILTIN.schemas[schema_id].document, documents))
    verdict = BUILTIN.validate(schema_id, instance) == []
    if comparable(instance):
        assert verdict is reference_validator(BUILTIN, schema_id).is_valid(instance), instance


# --- generated instances: valid-looking ones built from a schema, then mutated ---------------

NOISE = st.sampled_from(
    [
        *(None, True, False, 0, 1, -1, 1.0, 2.5, -0.0, 1e300, 2**53, 2**53 + 1, 2**70, 1e30),
        *("", "x", "PASS", "a\n", "\n", "\u0663", "\ufeff", "\u00e9", "OP-A\n", 10**30),
        *([], {}, ["x"], {"x": 1}, float("nan"), float("inf"), (1, 2)),
    ]
)
"""Values both engines might read differently: big integers, floats equal to them, a newline at
the end of a string, Unicode digits and spaces, non-finite floats, a tuple."""


def _scalars(node: Any, found: set[Any]) -> set[Any]:
    """Every string and number a schema names in `const` or `enum` (values to swap in)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("const", "enum"):
                values = value if key == "enum" and isinstance(value, list) else [value]
                found.update(v for v in values if isinstance(v, str | int | float | None))
            else:
                _scalars(value, found)
    elif isinstance(node, list):
        for item in node:
            _scalars(item, found)
    return found


def _merge(base: dict[str, Any], branch: Any) -> dict[str, Any]:
    """`base` with a branch's keywords (properties and required joined)."""
    out = dict(base)
    for key, value in branch.items() if isinstance(branch, dict) else ():
        if key == "properties":
            out[key] = {**out.get(key, {}), **value}
        elif key == "required":
            out[key] = [*out.get(key, []), *value]
        else:
            out[key] = value
    return out


def _strategy(node: Any, doc: Any, documents: dict[str, Any], depth: int = 0) -> Any:
    """Instances that look valid against `node` (most are; the mutations break the rest)."""
    if depth > 6 or not isinstance(node, dict):
        return NOISE
    if "$ref" in node:
        uri, _, pointer = node["$ref"].partition("#")
        target = doc = documents.get(uri, doc) if uri else doc
        for part in pointer.split("/")[1:]:
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return _strategy(target, doc, documents, depth + 1)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            base = {k: v for k, v in node.items() if k != key}
            return st.one_of(
                [_strategy(_merge(base, b), doc, documents, depth + 1) for b in node[key]]
            )
    types = node.get("type")
    if types is None:
        inferred = {"properties": "object", "required": "object", "items": "array"}
        inferred |= {"pattern": "string", "minLength": "string", "minimum": "number"}
        types = [kind for key, kind in inferred.items() if key in node][:1] or ["any"]
    types = [types] if isinstance(types, str) else types
    return st.one_of([_typed(kind, node, doc, documents, depth) for kind in types])


def _typed(kind: str, node: dict[str, Any], doc: Any, documents: dict[str, Any], depth: int) -> Any:
    """Instances of one JSON type shaped by the node's keywords."""
    if kind == "object":
        props = node.get("properties", {})
        required = [key for key in node.get("required", []) if isinstance(key, str)]
        fixed = {k: _strategy(props.get(k, True), doc, documents, depth + 1) for k in required}
        optional = {
            k: _strategy(v, doc, documents, depth + 1) for k, v in props.items() if k not in fixed
        }
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not props:
            names = node.get("propertyNames", {}).get("pattern")
            keys = st.from_regex(names, fullmatch=True) if names else st.sampled_from(["a", "b"])
            return st.dictionaries(keys, _strategy(extra, doc, documents, depth + 1), max_size=3)
        return st.fixed_dictionaries(fixed, optional=optional)
    if kind == "array":
        low = node.get("minItems", 0)
        items = _strategy(node.get("items", True), doc, documents, depth + 1)
        return st.lists(items, min_size=low, max_size=min(node.get("maxItems", low + 3), low + 3))
    if kind == "string":
        if isinstance(node.get("pattern"), str):
            return st.from_regex(node["pattern"], fullmatch=True)
        low = node.get("minLength", 0)
        return st.text(min_size=low, max_size=node.get("maxLength", low + 12))
    if kind in ("integer", "number"):
        low = node.get("minimum")
        if low is None and "exclusiveMinimum" in node:
            low = node["exclusiveMinimum"] + 1
        ints = st.integers(min_value=None if low is None else int(low))
        return ints if kind == "integer" else ints | st.floats(allow_nan=False)
    return {"boolean": st.booleans(), "null": st.none()}.get(kind, NOISE)


def _mutate(draw: st.DrawFn, value: Any, swaps: list[Any]) -> Any:
    """`value` with one change somewhere inside it."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutate(draw, value[key], swaps)}
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], _mutate(draw, value[index], swaps), *value[index + 1 :]]
    change = draw(st.sampled_from(["replace", "swap", "drop", "extra", "break", "flip"]))
    if change == "drop" and isinstance(value, dict | list) and value:
        if isinstance(value, list):
            return [*value, value[0]] if draw(st.booleans()) else value[1:]
        dropped = draw(st.sampled_from(sorted(value)))
        return {k: v for k, v in value.items() if k != dropped}
    if change == "extra" and isinstance(value, dict):
        return {**value, draw(st.sampled_from(["extra", *filter(None, map(str, swaps))])): 1}
    if change == "break" and isinstance(value, str):
        breaks = [value + "!", value[:-1], value.lower(), " " + value, "", value + "\n"]
        return draw(st.sampled_from(breaks))
    if change == "flip" and type(value) is bool:
        return int(value)
    if change == "flip" and type(value) is int:
        return draw(st.sampled_from([bool(value), float(value), -value, value + 2**60]))
    if change == "flip" and type(value) is float:
        return int(value) if value.is_integer() else value + 1
    if change == "swap" and swaps:
        return draw(st.sampled_from(swaps))
    return draw(NOISE)


@st.composite
def instances(draw: st.DrawFn, document: dict[str, Any], documents: dict[str, Any]) -> Any:
    """A valid-looking instance of `document` with zero to three mutations."""
    instance = draw(_strategy(document, document, documents))
    swaps = sorted(_scalars(document, set()), key=repr)
    for _ in range(draw(st.integers(0, 3))):
        instance = _mutate(draw, instance, swaps)
    return instance
