"""The compiled fast schema checks never call an instance valid that jsonschema rejects (nor, in
their three-valued core, invalid one that it accepts), do take typical valid records, give up on
keywords they do not handle, and leave `SchemaCatalog.validate` answering exactly as before."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_pipeline.core.seal._fast_schema import Check, _Compiler, compile_schema
from registry_pipeline.core.seal.schemas import SchemaCatalog, builtin_schema_dir

CATALOG = SchemaCatalog.load([builtin_schema_dir()])
DOCUMENTS = {sid: schema.document for sid, schema in CATALOG.schemas.items()}
BY_FILE = {schema.path.name: schema for schema in CATALOG.schemas.values()}
RUN_INDEX_ID = "urn:registry-pipeline:schema:run_index_record_v0_1"


class _NoFastCatalog(SchemaCatalog):
    """The catalog as it was before the fast path: quick checks, then jsonschema."""

    @functools.cache  # noqa: B019 - as in SchemaCatalog
    def _fast_check(self, schema_id: str) -> Callable[[Any], bool] | None:
        return None


SLOW_CATALOG = _NoFastCatalog.load([builtin_schema_dir()])


def _valid(schema_id: str, instance: Any) -> bool:
    """The authority: jsonschema itself."""
    return bool(CATALOG._validator(schema_id).is_valid(instance))


def _core(document: Any) -> Check:
    """The three-valued compiled check (True, False or None for unknown)."""
    return _Compiler({**DOCUMENTS, document.get("$id", ""): document}).ref("#", document, True)


# --- instances: valid-looking ones built from the schema, then mutated ---------------------------

NOISE = st.sampled_from(
    [None, True, False, 0, 1, -1, 1.0, 2.5, "", "x", "PASS", "FAIL", [], {}, ["x"], {"x": 1}]
)


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


def _strategy(node: Any, doc: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Instances that look valid against `node` (most are; the mutations break the rest)."""
    if depth > 6 or not isinstance(node, dict):
        return NOISE
    if "$ref" in node:
        uri, _, pointer = node["$ref"].partition("#")
        target = doc = DOCUMENTS.get(uri, doc) if uri else doc
        for part in pointer.split("/")[1:]:
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return _strategy(target, doc, depth + 1)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            base = {k: v for k, v in node.items() if k != key}
            return st.one_of([_strategy(_merge(base, b), doc, depth + 1) for b in node[key]])
    types = node.get("type")
    if types is None:
        inferred = {"properties": "object", "required": "object", "items": "array"}
        inferred |= {"pattern": "string", "minLength": "string", "minimum": "number"}
        types = [kind for key, kind in inferred.items() if key in node][:1] or ["any"]
    types = [types] if isinstance(types, str) else types
    return st.one_of([_typed(kind, node, doc, depth) for kind in types])


def _typed(kind: str, node: dict[str, Any], doc: Any, depth: int) -> st.SearchStrategy[Any]:
    """Instances of one JSON type shaped by the node's keywords."""
    if kind == "object":
        props = node.get("properties", {})
        required = [key for key in node.get("required", []) if isinstance(key, str)]
        fixed = {key: _strategy(props.get(key, True), doc, depth + 1) for key in required}
        optional = {k: _strategy(v, doc, depth + 1) for k, v in props.items() if k not in fixed}
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not props:
            names = node.get("propertyNames", {}).get("pattern")
            keys = st.from_regex(names, fullmatch=True) if names else st.sampled_from(["a", "b_c"])
            return st.dictionaries(keys, _strategy(extra, doc, depth + 1), max_size=3)
        return st.fixed_dictionaries(fixed, optional=optional)
    if kind == "array":
        low = node.get("minItems", 0)
        high = min(node.get("maxItems", low + 3), low + 3)
        items = _strategy(node.get("items", True), doc, depth + 1)
        unique = (
            (lambda item: json.dumps(item, sort_keys=True)) if node.get("uniqueItems") else None
        )
        return st.lists(items, min_size=low, max_size=high, unique_by=unique)
    if kind == "string":
        if isinstance(node.get("pattern"), str):
            return st.from_regex(node["pattern"], fullmatch=True)
        low = node.get("minLength", 0)
        return st.text(min_size=low, max_size=node.get("maxLength", low + 12))
    if kind in ("integer", "number"):
        low = node.get("minimum")
        if low is None and "exclusiveMinimum" in node:
            low = node["exclusiveMinimum"] + 1
        ints = st.integers(min_value=None if low is None else int(low), max_value=10**6)
        return ints if kind == "integer" else ints | st.floats(0.5, 1e6)
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
        return draw(st.sampled_from([value + "!", value[:-1], value.lower(), " " + value, ""]))
    if change == "flip" and type(value) is bool:
        return int(value)
    if change == "flip" and type(value) is int:
        return draw(st.sampled_from([bool(value), float(value), -value]))
    if change == "flip" and type(value) is float:
        return int(value) if value.is_integer() else value + 1
    if change == "swap" and swaps:
        return draw(st.sampled_from(swaps))
    return draw(NOISE)


@st.composite
def _instances(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """A valid-looking instance of `document` with zero to three mutations."""
    instance = draw(_strategy(document, document))
    swaps = sorted(_scalars(document, set()), key=repr)
    for _ in range(draw(st.integers(0, 3))):
        instance = _mutate(draw, instance, swaps)
    return instance


SCHEMA_FILES = sorted(
    name for name, schema in BY_FILE.items() if compile_schema(schema.document, DOCUMENTS)
)


def test_the_run_index_schema_compiles() -> None:
    assert "run_index_record.schema.json" in SCHEMA_FILES


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_fast_verdicts_agree_with_jsonschema(name: str) -> None:
    schema = BY_FILE[name]
    core, fast = _core(schema.document), CATALOG._fast_check(schema.schema_id)
    assert fast is not None

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(instance=_instances(schema.document))
    def check(instance: Any) -> None:
        sure = core(instance)
        if sure is not None:
            assert sure == _valid(schema.schema_id, instance), instance
        if fast(instance):
            assert _valid(schema.schema_id, instance), instance

    check()


# --- the run index ---------------------------------------------------------------------------

RUN: dict[str, Any] = {
    "record_type": "RUN",
    "run_id": "RUN-20260901-0800-3PPB",
    "created_utc": "2026-09-01T08:00Z",
    "last_updated_utc": "2026-09-02T23:59Z",
    "created_by": "gpt",
    "machine_id": "C1",
    "artist_id": "ART-iron-harbor",
    "genre_id": "GEN-worship",
    "scripture_packet_id": "SCR-20260901-0800-EGGM",
    "story_id": "SF-20260901-0800-AAAA",
    "song_frame_id": "SFR-20260901-0800-RJNF",
    "work_id": "WORK-20260901-0800-B5KC",
    "version_ids": ["VER-20260901-0800-URMH", "VER-20260901-0801-URMH"],
    "qa_gate0": "PASS",
    "qa_gate1": "PASS_WITH_MINOR_FIXES",
    "qa_gate2": "PASS",
    "qa_gate3": "PASS",
    "uniqueness_hook": "PASS",
    "uniqueness_scene": "NOT_RUN",
    "uniqueness_scripture": "PASS",
    "run_log_filepath_abs": "/srv/c1/runs/RUN_LOG.md",
    "notes": "first take",
}
MINIMAL_FAIL = {
    key: RUN[key]
    for key in ("record_type", "run_id", "created_utc", "created_by", "machine_id", "artist_id")
} | {"genre_id": "GEN-x", "qa_gate2": "FAIL", "uniqueness_hook": "FAIL"}
OVERRIDDEN = RUN | {"uniqueness_scene": "FAIL", "override_id": "OVR-20260901-0800-ZZZZ"}
VALID_RUNS = [RUN, MINIMAL_FAIL, OVERRIDDEN, RUN | {"version_ids": ["VER-20260901-0800-URMH"]}]


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


INVALID_RUNS = {
    "PASS without work_id": _without(RUN, "work_id"),
    "PASS without version_ids": _without(RUN, "version_ids"),
    "PASS with empty version_ids": RUN | {"version_ids": []},
    "uniqueness FAIL, PASS, no override": RUN | {"uniqueness_hook": "FAIL"},
    "override_id removed": _without(OVERRIDDEN, "override_id"),
    "bad created_by": RUN | {"created_by": "robot"},
    "bad qa_gate2": MINIMAL_FAIL | {"qa_gate2": "pass"},
    "bad uniqueness": RUN | {"uniqueness_scene": True},
    "extra key": RUN | {"extra": 1},
    "bad run_id": RUN | {"run_id": "RUN-20260901-0800-3ppb"},
    "run_id with a suffix": RUN | {"run_id": "RUN-20260901-0800-3PPB-x"},
    "bad created_utc": RUN | {"created_utc": "2026-13-01T08:00Z"},
    "missing genre_id": _without(RUN, "genre_id"),
    "duplicate version": RUN | {"version_ids": ["VER-20260901-0800-URMH"] * 2},
    "record_type": RUN | {"record_type": "OVERRIDE"},
    "not an object": [RUN],
}


def test_typical_run_records_take_the_fast_path() -> None:
    fast = CATALOG._fast_check(RUN_INDEX_ID)
    assert fast is not None
    for record in VALID_RUNS:
        assert _valid(RUN_INDEX_ID, record), record
        assert fast(record) is True, record
        assert CATALOG.validate(RUN_INDEX_ID, record) == []


@pytest.mark.parametrize("rule", sorted(INVALID_RUNS))
def test_each_rule_violation_is_refused(rule: str) -> None:
    record = INVALID_RUNS[rule]
    fast = CATALOG._fast_check(RUN_INDEX_ID)
    assert fast is not None
    assert fast(record) is False
    assert _core(BY_FILE["run_index_record.schema.json"].document)(record) is False
    assert not _valid(RUN_INDEX_ID, record)
    assert CATALOG.validate(RUN_INDEX_ID, record) == SLOW_CATALOG.validate(RUN_INDEX_ID, record)
    assert CATALOG.validate(RUN_INDEX_ID, record)


# --- what the compiler refuses, and exact edge cases -----------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "format": "date"},
        {"unevaluatedProperties": False},
        {"dependentSchemas": {"a": {"required": ["b"]}}},
        {"$dynamicRef": "#meta"},
        {"type": "array", "contains": {"type": "string"}},
        {"properties": {"a": {"items": {"multipleOf": 2}}}},
        {"anyOf": [{"type": "string"}, {"not": {"minContains": 1}}]},
        {"if": {"dependentRequired": {"a": ["b"]}}},
        {"$ref": "#/$defs/x", "$defs": {"x": {"propertyNames": {"format": "email"}}}},
        {"$ref": "#/$defs/missing"},
        {"$ref": "other.json#/x"},
        {"$ref": "urn:registry-pipeline:schema:no-such-schema"},
        {"$ref": "#anchor", "$defs": {"x": {"$anchor": "anchor"}}},
        {"properties": {"a": {"$id": "urn:x", "type": "string"}}},
        {"pattern": "\\p{L}+"},
        {"type": "strin"},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"},
        {"unknownKeyword": 1},
    ],
)
def test_unsupported_schemas_get_no_fast_check(schema: dict[str, Any]) -> None:
    assert compile_schema(schema, DOCUMENTS) is None


def test_unreachable_and_annotation_keywords_do_not_matter() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:test:annotated",
        "title": "t",
        "description": "d",
        "$comment": "c",
        "x-registry-format": "jsonl",
        "$defs": {"unused": {"format": "date", "contains": {}}},
        "properties": {"a": {"default": 1, "examples": [1], "type": "integer"}},
    }
    fast = compile_schema(schema)
    assert fast is not None
    assert fast({"a": 1}) and not fast({"a": "1"})


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"const": 1}, True),
        ({"const": 1}, 1.0),
        ({"const": True}, 1),
        ({"const": False}, 0),
        ({"const": None}, False),
        ({"enum": [0, "a", None]}, False),
        ({"enum": [1.0]}, 1),
        ({"const": [1]}, [True]),
        ({"const": {"a": 1}}, {"a": 1.0}),
        ({"type": "integer"}, 1.0),
        ({"type": "integer"}, 1.5),
        ({"type": "integer"}, True),
        ({"type": "number"}, False),
        ({"type": ["string", "null"]}, None),
        ({"type": "object"}, []),
        ({"minimum": 1}, True),
        ({"exclusiveMinimum": 0}, 0.0),
        ({"exclusiveMinimum": 0}, 1e-300),
        ({"maximum": 2**70}, 2**70 + 1),
        ({"minLength": 2}, "\U0001f600"),
        ({"maxLength": 1}, "\U0001f600"),
        ({"pattern": "b"}, "abc"),
        ({"pattern": "^b"}, "abc"),
        ({"pattern": "^a$"}, "a\n"),
        ({"pattern": "^a"}, 5),
        ({"required": ["a"]}, ["a"]),
        ({"uniqueItems": True}, [1, True]),
        ({"uniqueItems": True}, [1, 1.0]),
        ({"uniqueItems": True}, ["a", "a"]),
        ({"uniqueItems": True}, [{"a": 1}, {"a": True}]),
        ({"minItems": 1, "maxItems": 1}, [None, None]),
        ({"minProperties": 1}, {}),
        ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"ab": 1, "Ab": 2}),
        ({"prefixItems": [{"type": "integer"}], "items": {"type": "string"}}, [1, "a", 2]),
        ({"prefixItems": [{"type": "integer"}], "items": False}, [1]),
        ({"prefixItems": [{"type": "integer"}], "items": False}, [1, 2]),
        (
            {"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
            {"xa": 1},
        ),
        ({"patternProperties": {"^x": {"type": "integer"}}}, {"xa": "1", "y": 1}),
        ({"additionalProperties": {"type": "string"}, "properties": {"a": {}}}, {"a": 1, "b": 2}),
        ({"not": {"type": "string"}}, 1),
        ({"not": {"type": "string"}}, "a"),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1),
        ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, 1.0),
        ({"anyOf": [{"const": "a"}, {"const": [1]}]}, [1]),
        ({"not": {"const": [1]}}, [1]),
        ({"if": {"const": "a"}, "then": {"minLength": 2}, "else": False}, "a"),
        ({"if": {"const": "a"}, "else": False}, "b"),
        ({"if": {"const": [1]}, "then": False}, [1]),
        ({"then": False}, 1),
        ({"$ref": "#/$defs/n", "$defs": {"n": {"items": {"$ref": "#/$defs/n"}}}}, [[[[1]]]]),
        (False, 1),
    ],
)
def test_edge_cases_match_jsonschema(schema: Any, instance: Any) -> None:
    from jsonschema import Draft202012Validator

    expected = Draft202012Validator(schema).is_valid(instance)
    sure = _Compiler({}).ref("#", schema, True)(instance)
    assert sure is None or sure == expected
    fast = compile_schema(schema)
    assert fast is not None
    assert fast(instance) == (expected and sure is True)


# --- SchemaCatalog.validate: identical answers with and without the fast path ----------------


def test_validate_answers_as_without_the_fast_path() -> None:
    corpus = [*VALID_RUNS, *INVALID_RUNS.values(), None, {}, "x", 1]
    for schema_id in CATALOG.schemas:
        for record in corpus:
            assert CATALOG.validate(schema_id, record) == SLOW_CATALOG.validate(schema_id, record)
    assert SLOW_CATALOG._fast_check(RUN_INDEX_ID) is None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(SCHEMA_FILES))
def test_validate_answers_as_without_the_fast_path_on_generated_instances(
    data: st.DataObject, name: str
) -> None:
    schema = BY_FILE[name]
    instance = data.draw(_instances(schema.document))
    expected = SLOW_CATALOG.validate(schema.schema_id, instance)
    assert CATALOG.validate(schema.schema_id, instance) == expected, instance


def test_a_schema_jsonschema_refuses_stays_a_usage_error(tmp_path: Any) -> None:
    from registry_pipeline.core.errors import UsageError

    folder = tmp_path / "schemas"
    folder.mkdir()
    bad = {"$id": "urn:test:bad", "type": "object", "properties": {"a": {"minLength": -1}}}
    (folder / "bad.schema.json").write_text(json.dumps(bad))
    catalog = SchemaCatalog.load([folder])
    with pytest.raises(UsageError):
        catalog.validate("urn:test:bad", {"a": "x"})
