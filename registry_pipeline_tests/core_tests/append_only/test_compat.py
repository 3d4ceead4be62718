"""`compat.classify`: the kind of change between two JSON Schemas, from one table of pairs."""

from __future__ import annotations

import copy
import json

import pytest

from registry_pipeline.core.append_only.compat import (
    MAX_DEPTH,
    Compatibility,
    SchemaChange,
    classify,
)

OBJ: dict[str, object] = {
    "type": "object",
    "properties": {"id": {"type": "string"}},
    "required": ["id"],
}
CLOSED: dict[str, object] = {**OBJ, "additionalProperties": False}


def _with(base: dict[str, object], **extra: object) -> dict[str, object]:
    """A deep copy of `base` with `extra` keywords set."""
    return {**copy.deepcopy(base), **extra}


def _props(base: dict[str, object], **props: object) -> dict[str, object]:
    """A deep copy of `base` with `props` added to its properties."""
    out = copy.deepcopy(base)
    before = out["properties"]
    assert isinstance(before, dict)
    out["properties"] = {**before, **props}
    return out


CASES: list[tuple[str, object, object, str, set[str]]] = [
    ("identical", OBJ, copy.deepcopy(OBJ), "none", set()),
    (
        "annotations only",
        OBJ,
        _with(
            OBJ,
            title="T",
            description="d",
            examples=[{}],
            default={},
            deprecated=True,
            readOnly=True,
            writeOnly=False,
            **{
                "$comment": "c",
                "$id": "urn:x",
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$anchor": "a",
            },
        ),
        "none",
        set(),
    ),
    ("true vs empty object", True, {"title": "anything"}, "none", set()),
    ("integer to number", {"type": "integer"}, {"type": "number"}, "backward", {"TYPE_WIDENED"}),
    ("number to integer", {"type": "number"}, {"type": "integer"}, "forward", {"TYPE_NARROWED"}),
    (
        "number+integer is number",
        {"type": ["number", "integer"]},
        {"type": "number"},
        "none",
        set(),
    ),
    ("type added", {}, {"type": "string"}, "forward", {"TYPE_NARROWED"}),
    ("nullable", {"type": "string"}, {"type": ["string", "null"]}, "backward", {"TYPE_WIDENED"}),
    ("type changed", {"type": "string"}, {"type": "integer"}, "breaking", {"TYPE_CHANGED"}),
    ("malformed type", {"type": 5}, {"type": 6}, "breaking", {"TYPE_CHANGED"}),
    ("enum narrowed", {"enum": ["a", "b"]}, {"enum": ["a"]}, "forward", {"ENUM_NARROWED"}),
    ("enum extended", {"enum": ["a"]}, {"enum": ["a", "b"]}, "backward", {"ENUM_EXTENDED"}),
    ("enum changed", {"enum": ["a"]}, {"enum": ["b"]}, "breaking", {"ENUM_CHANGED"}),
    ("enum added", {}, {"enum": [1]}, "forward", {"ENUM_ADDED"}),
    ("enum equal up to 1 == 1.0", {"enum": [1.0, True]}, {"enum": [1, True]}, "none", set()),
    ("malformed enum", {"enum": "a"}, {"enum": "b"}, "breaking", {"ENUM_CHANGED"}),
    ("enum to equal const", {"enum": ["a"]}, {"const": "a"}, "none", set()),
    (
        "const added",
        {"type": "string"},
        {"type": "string", "const": "x"},
        "forward",
        {"CONST_ADDED"},
    ),
    ("const removed", {"const": {"a": [1]}}, {}, "backward", {"CONST_REMOVED"}),
    ("const changed", {"const": 1}, {"const": True}, "breaking", {"CONST_CHANGED"}),
    (
        "required added",
        OBJ,
        _with(OBJ, required=["id", "x"]),
        "forward",
        {"REQUIRED_PROPERTY_ADDED"},
    ),
    ("required removed", OBJ, _with(OBJ, required=[]), "backward", {"REQUIRED_PROPERTY_REMOVED"}),
    ("malformed required", _with(OBJ, required="id"), OBJ, "breaking", {"REQUIRED_CHANGED"}),
    (
        "property added to open",
        OBJ,
        _props(OBJ, n={"type": "integer"}),
        "forward",
        {"PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"},
    ),
    (
        "unconstrained property added to open",
        OBJ,
        _props(OBJ, n=True, m={"title": "m"}),
        "none",
        set(),
    ),
    (
        "optional property added to closed",
        CLOSED,
        _props(CLOSED, n={"type": "integer"}),
        "backward",
        {"OPTIONAL_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL"},
    ),
    (
        "required property added to closed",
        CLOSED,
        _with(_props(CLOSED, n={}), required=["id", "n"]),
        "breaking",
        {"REQUIRED_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL", "REQUIRED_PROPERTY_ADDED"},
    ),
    (
        "property removed from open",
        _props(OBJ, n={"type": "integer"}),
        OBJ,
        "backward",
        {"PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL"},
    ),
    (
        "property removed from closed",
        _props(CLOSED, n={"type": "integer"}),
        CLOSED,
        "forward",
        {"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
    ),
    ("forbidden property removed from closed", _props(CLOSED, n=False), CLOSED, "none", set()),
    (
        "property added to partially open",
        _with(OBJ, additionalProperties={"type": "string"}),
        _props(_with(OBJ, additionalProperties={"type": "string"}), n={}),
        "breaking",
        {"PROPERTY_ADDED_TO_PARTIALLY_OPEN_CONTENT_MODEL"},
    ),
    (
        "property removed under patternProperties",
        _props(_with(OBJ, patternProperties={"^x": {}}), n={}),
        _with(OBJ, patternProperties={"^x": {}}),
        "breaking",
        {"PROPERTY_REMOVED_FROM_PARTIALLY_OPEN_CONTENT_MODEL"},
    ),
    (
        "malformed properties",
        {"properties": []},
        {"properties": {}},
        "breaking",
        {"PROPERTIES_CHANGED"},
    ),
    ("closed", OBJ, CLOSED, "forward", {"ADDITIONAL_PROPERTIES_NARROWED"}),
    (
        "opened",
        CLOSED,
        _with(OBJ, additionalProperties={}),
        "backward",
        {"ADDITIONAL_PROPERTIES_EXTENDED"},
    ),
    (
        "additional schema",
        OBJ,
        _with(OBJ, additionalProperties={"type": "string"}),
        "breaking",
        {"ADDITIONAL_PROPERTIES_CHANGED"},
    ),
    (
        "nested property narrowed",
        {"properties": {"a": OBJ}},
        {"properties": {"a": _props(OBJ, id={"type": "string", "maxLength": 3})}},
        "forward",
        {"MAX_LENGTH_ADDED"},
    ),
    (
        "numeric bounds tightened",
        {"minimum": 0, "maximum": 10, "exclusiveMinimum": -1},
        {"minimum": 1, "maximum": 9.5, "exclusiveMinimum": -1, "exclusiveMaximum": 11},
        "forward",
        {"MINIMUM_INCREASED", "MAXIMUM_DECREASED", "EXCLUSIVE_MAXIMUM_ADDED"},
    ),
    (
        "numeric bounds loosened",
        {"minimum": 1, "maximum": 9, "exclusiveMaximum": 11},
        {"minimum": 0.5, "maximum": 1e3},
        "backward",
        {"MINIMUM_DECREASED", "MAXIMUM_INCREASED", "EXCLUSIVE_MAXIMUM_REMOVED"},
    ),
    ("bound equal as float", {"minimum": 1}, {"minimum": 1.0}, "none", set()),
    (
        "multipleOf narrowed",
        {"multipleOf": 0.1},
        {"multipleOf": 0.3},
        "forward",
        {"MULTIPLE_OF_NARROWED"},
    ),
    (
        "multipleOf widened",
        {"multipleOf": 4},
        {"multipleOf": 2},
        "backward",
        {"MULTIPLE_OF_WIDENED"},
    ),
    (
        "multipleOf changed",
        {"multipleOf": 2},
        {"multipleOf": 3},
        "breaking",
        {"MULTIPLE_OF_CHANGED"},
    ),
    ("multipleOf zero", {"multipleOf": 0}, {"multipleOf": 2}, "breaking", {"MULTIPLE_OF_CHANGED"}),
    ("multipleOf added", {}, {"multipleOf": 2}, "forward", {"MULTIPLE_OF_ADDED"}),
    (
        "pattern and format added",
        {"type": "string"},
        {"type": "string", "pattern": "^a", "format": "date"},
        "forward",
        {"PATTERN_ADDED", "FORMAT_ADDED"},
    ),
    ("pattern removed", {"pattern": "^a"}, {}, "backward", {"PATTERN_REMOVED"}),
    (
        "pattern and format changed",
        {"pattern": "^a", "format": "date"},
        {"pattern": "^b", "format": "email"},
        "breaking",
        {"PATTERN_CHANGED", "FORMAT_CHANGED"},
    ),
    (
        "array bounds and uniqueness",
        {"type": "array", "minItems": 1, "uniqueItems": False},
        {"type": "array", "minItems": 2, "maxItems": 9, "uniqueItems": True},
        "forward",
        {"MIN_ITEMS_INCREASED", "MAX_ITEMS_ADDED", "UNIQUE_ITEMS_ADDED"},
    ),
    (
        "uniqueness dropped",
        {"uniqueItems": True},
        {"uniqueItems": False},
        "backward",
        {"UNIQUE_ITEMS_REMOVED"},
    ),
    (
        "items widened",
        {"items": {"type": "integer"}},
        {"items": {"type": "number"}},
        "backward",
        {"TYPE_WIDENED"},
    ),
    (
        "prefixItems extended over closed items",
        {"prefixItems": [{"type": "string"}], "items": False},
        {"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
        "backward",
        {"BOOLEAN_SCHEMA_WIDENED"},
    ),
    (
        "prefixItems narrowed pairwise",
        {"prefixItems": [{}, {"type": "string"}]},
        {"prefixItems": [{"type": "null"}, {"type": "string", "minLength": 1}]},
        "forward",
        {"TYPE_NARROWED", "MIN_LENGTH_ADDED"},
    ),
    (
        "malformed prefixItems",
        {"prefixItems": {}},
        {"prefixItems": []},
        "breaking",
        {"PREFIX_ITEMS_CHANGED"},
    ),
    ("true to false", True, False, "forward", {"BOOLEAN_SCHEMA_NARROWED"}),
    ("false to schema", False, {"type": "string"}, "backward", {"BOOLEAN_SCHEMA_WIDENED"}),
    ("true to schema", True, {"type": "string"}, "forward", {"TYPE_NARROWED"}),
    ("not a schema", 1, "x", "breaking", {"SCHEMA_CHANGED"}),
    ("equal non-schemas", None, None, "none", set()),
    (
        "mixed widen and narrow",
        {"type": "integer", "maxLength": 3},
        {"type": "number", "maxLength": 2},
        "breaking",
        {"TYPE_WIDENED", "MAX_LENGTH_DECREASED"},
    ),
    (
        "composition",
        {"anyOf": [{"type": "string"}]},
        {"anyOf": [{"type": "string"}, {}]},
        "breaking",
        {"COMPOSITION_CHANGED"},
    ),
    (
        "ref and defs",
        {"$ref": "#/$defs/a", "$defs": {"a": {}}},
        {"$ref": "#/$defs/b", "$defs": {"b": {}}},
        "breaking",
        {"REF_CHANGED", "DEFINITIONS_CHANGED"},
    ),
    (
        "conditional",
        {},
        {"if": {}, "then": {"type": "string"}},
        "breaking",
        {"CONDITIONAL_CHANGED"},
    ),
    ("dependencies", {"dependentRequired": {"a": ["b"]}}, {}, "breaking", {"DEPENDENCIES_CHANGED"}),
    ("unknown keyword", {"contains": {"type": "string"}}, {}, "breaking", {"KEYWORD_CHANGED"}),
    (
        "identical composition",
        {"oneOf": [{"type": "string"}], "x-extra": 1},
        {"oneOf": [{"type": "string"}], "x-extra": 1.0},
        "none",
        set(),
    ),
    ("enum removed", {"enum": ["a"]}, {}, "backward", {"ENUM_REMOVED"}),
    ("multipleOf removed", {"multipleOf": 2}, {}, "backward", {"MULTIPLE_OF_REMOVED"}),
    ("format removed", {"format": "date"}, {}, "backward", {"FORMAT_REMOVED"}),
    (
        "malformed uniqueItems",
        {"uniqueItems": True},
        {"uniqueItems": "yes"},
        "breaking",
        {"UNIQUE_ITEMS_CHANGED"},
    ),
]
SWAP = {"none": "none", "backward": "forward", "forward": "backward", "breaking": "breaking"}


@pytest.mark.parametrize(
    ("old", "new", "kind", "codes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify(old: object, new: object, kind: str, codes: set[str]) -> None:
    """Each pair gets the expected kind and exactly the expected change codes; swapped, backward
    and forward trade places, none and breaking stay."""
    result = classify(old, new)
    assert (result.kind, {c.code for c in result.changes}) == (kind, codes)
    assert classify(new, old).kind == SWAP[kind]


def test_paths_directions_and_order() -> None:
    """Changes carry JSON pointers into the schema and come sorted by path, then code."""
    old = {"properties": {"a/b": {"type": "integer"}, "z": {}}, "required": ["z"]}
    new = {"properties": {"a/b": {"type": "number"}}, "required": [], "maxProperties": 2}
    result = classify(old, new)
    assert [(c.path, c.code, c.direction) for c in result.changes] == [
        ("/maxProperties", "MAX_PROPERTIES_ADDED", "narrow"),
        ("/properties/a~1b/type", "TYPE_WIDENED", "widen"),
        ("/properties/z", "REQUIRED_PROPERTY_REMOVED", "widen"),
    ]
    assert result.kind == "breaking"
    assert classify(old, new) == result


def test_as_json_shape() -> None:
    """`as_json` is plain JSON: the kind and a list of code/path/direction/detail objects."""
    result = classify(CLOSED, _props(CLOSED, x={"type": "string"}))
    doc = result.as_json()
    assert json.loads(json.dumps(doc)) == doc
    assert doc == {
        "kind": "backward",
        "changes": [
            {
                "code": "OPTIONAL_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL",
                "path": "/properties/x",
                "direction": "widen",
                "detail": "property 'x' added to a closed object (optional)",
            }
        ],
    }
    assert classify(OBJ, OBJ).as_json() == {"kind": "none", "changes": []}
    assert isinstance(result, Compatibility)
    assert all(isinstance(c, SchemaChange) for c in result.changes)


def _nested(depth: int, leaf: object) -> dict[str, object]:
    """A schema with `depth` levels of nested properties around `leaf`."""
    schema: dict[str, object] = {"properties": {"a": leaf}}
    for _ in range(depth - 1):
        schema = {"properties": {"a": schema}}
    return schema


def test_depth_guard() -> None:
    """Beyond MAX_DEPTH levels schemas are compared for equality only; deep input never raises."""
    deep = MAX_DEPTH + 50
    assert classify(_nested(deep, {}), _nested(deep, {})).kind == "none"
    different = classify(_nested(deep, {"type": "string"}), _nested(deep, {}))
    assert [c.code for c in different.changes] == ["MAX_DEPTH_EXCEEDED"]
    assert different.kind == "breaking"
    shallow = classify(_nested(MAX_DEPTH - 5, {"type": "string"}), _nested(MAX_DEPTH - 5, {}))
    assert shallow.kind == "backward"
    assert classify({}, _nested(5000, {})).kind == "forward"  # added under an open model
    assert classify(_nested(5000, {}), True).kind == "backward"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({1: 2, "type": "string"}, {2: 1, "type": "string"}),
        ({"enum": [{"a": [1]}, [1, 2], None]}, {"enum": [[1, 2]]}),
        ({"minimum": float("nan")}, {"minimum": float("inf")}),
        ({"multipleOf": -1}, {"multipleOf": 0.5}),
        ({"properties": {"a": 3}}, {"properties": {"a": "x"}}),
        ({"items": [{}]}, {"items": {}}),
        ({"required": ["a", 1]}, {"required": ["a"]}),
        ({"additionalProperties": 1}, {"additionalProperties": None}),
        (object(), {"type": "string"}),
    ],
)
def test_odd_input_never_raises(old: object, new: object) -> None:
    """Malformed schemas and non-JSON values give a verdict (usually breaking), never an error."""
    result = classify(old, new)
    assert result.kind in {"none", "backward", "forward", "breaking"}
    assert classify(new, old).kind == SWAP[result.kind]


BOUNDS = {
    "minimum": "MINIMUM",
    "exclusiveMinimum": "EXCLUSIVE_MINIMUM",
    "minLength": "MIN_LENGTH",
    "minItems": "MIN_ITEMS",
    "minProperties": "MIN_PROPERTIES",
    "maximum": "MAXIMUM",
    "exclusiveMaximum": "EXCLUSIVE_MAXIMUM",
    "maxLength": "MAX_LENGTH",
    "maxItems": "MAX_ITEMS",
    "maxProperties": "MAX_PROPERTIES",
}


@pytest.mark.parametrize("kw", sorted(BOUNDS))
def test_every_bound(kw: str) -> None:
    """Each bound: added narrows, removed widens, raising it narrows a lower bound only, and a
    value that is no number cannot be compared; the kind follows the one change's direction."""
    up = "narrow" if kw.startswith(("min", "exclusiveMin")) else "widen"
    down = {"narrow": "widen", "widen": "narrow"}[up]
    cases = [
        ({}, {kw: 5}, "ADDED", "narrow"),
        ({kw: 5}, {}, "REMOVED", "widen"),
        ({kw: 5}, {kw: 6}, "INCREASED", up),
        ({kw: 6}, {kw: 5}, "DECREASED", down),
        ({kw: 5}, {kw: None}, "CHANGED", "incomparable"),
    ]
    for old, new, suffix, way in cases:
        result = classify(old, new)
        assert [(c.code, c.path, c.direction) for c in result.changes] == [
            (f"{BOUNDS[kw]}_{suffix}", f"/{kw}", way)
        ]
        assert result.kind == {"narrow": "forward", "widen": "backward"}.get(way, "breaking")
