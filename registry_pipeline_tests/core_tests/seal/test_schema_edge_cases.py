"""`SchemaCatalog.validate` (jsonschema-rs) where engines part ways: it gives jsonschema's verdict
on every JSON value a strict parse yields, and JSON Schema's own where jsonschema reads a keyword
the Python way (`pattern` as Python's `re`, `multipleOf` in binary floats); numbers beyond 2**53
beside floats and values no JSON holds are answered without an error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.schemas import ArtifactSchema, SchemaCatalog

EDGE_ID = "urn:test:edge"


def catalog_of(schema: Any) -> SchemaCatalog:
    """A catalog of one schema, validated where it is (no file behind it)."""
    document = schema if isinstance(schema, dict) else {"allOf": [schema]}
    entry = ArtifactSchema(EDGE_ID, Path("edge.schema.json"), {"$id": EDGE_ID, **document}, (), "")
    return SchemaCatalog(schemas={EDGE_ID: entry})


def deep(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


RECURSIVE = {"$ref": "#/$defs/n", "$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}}
NEWLINE_NOT = {"not": {"pattern": "^a$"}}
NEWLINE_EXTRA = {"patternProperties": {"^x$": {"type": "integer"}}, "additionalProperties": True}

EDGES: list[tuple[Any, Any]] = [
    # booleans are no numbers, 1.0 is 1
    ({"const": 1}, True),
    ({"const": 1}, 1.0),
    ({"const": True}, 1),
    ({"const": False}, 0),
    ({"enum": [1.0]}, 1),
    ({"const": [1]}, [True]),
    ({"const": {"a": 1}}, {"a": 1.0}),
    ({"type": "integer"}, 1.0),
    ({"type": "integer"}, True),
    ({"type": "number"}, False),
    ({"uniqueItems": True}, [1, True]),
    ({"uniqueItems": True}, [1, 1.0]),
    ({"uniqueItems": True}, [{"a": 1}, {"a": True}]),
    # huge integers and the floats near them
    ({"maximum": 2**53}, 2**70 + 1),
    ({"minimum": -(2**53)}, -(2**70)),
    ({"type": "integer"}, 10**400),
    ({"const": 2**53}, float(2**53)),
    ({"maximum": 2**60}, float(2**60)),
    ({"maximum": 1}, 2**60),
    ({"not": {"maximum": 2**60}}, float(2**60)),
    ({"not": {"const": 10**30}}, 1e30),
    ({"not": {"uniqueItems": True}}, [10**30, 1e30]),
    ({"not": {"minimum": -(2**63)}}, float(-(2**63))),
    # non-finite floats and non-JSON values (Python callers may pass them)
    ({"type": "number", "minimum": 0}, float("nan")),
    ({"not": {"type": "number", "minimum": 0}}, float("nan")),
    ({"type": "number"}, float("inf")),
    ({"type": "array"}, (1, 2)),
    ({"not": {"type": "array"}}, (1, 2)),
    ({"type": "object"}, {1: "a"}),
    ({"type": "string"}, "\ud800"),
    ({"not": {"type": "string"}}, "\ud800"),
    # multipleOf: Python's float division decides
    ({"multipleOf": 0.01}, 0.07),
    ({"not": {"multipleOf": 0.01}}, 0.07),
    ({"multipleOf": 2**53}, 2.0**60),
    # Python's regular expressions: `$` before a final newline, Unicode classes
    ({"pattern": "^a$"}, "a\n"),
    (NEWLINE_NOT, "a\n"),
    (NEWLINE_EXTRA, {"x\n": "not an integer"}),
    ({"propertyNames": {"not": {"pattern": "^x$"}}}, {"x\n": 1}),
    ({"pattern": "^\\d{4}$"}, "\u0661\u0662\u0663\u0664"),
    ({"not": {"pattern": "^\\d$"}}, "\u0663"),
    ({"not": {"pattern": "^\\w+$"}}, "\u00e9t\u00e9"),
    ({"not": {"pattern": "^\\s$"}}, "\x1c"),
    ({"pattern": "^\\s$"}, "\ufeff"),
    ({"not": {"pattern": "^[^\\W]$"}}, "\ue000"),
    ({"not": {"pattern": "^.$"}}, "\r"),
    ({"not": {"pattern": "^a\\b"}}, "a\u0301"),
    ({"pattern": "^(?=a)a$"}, "a\n"),
    ({"not": {"pattern": "^[\\x41]$"}}, "A"),
    # strings count code points
    ({"minLength": 2}, "\U0001f600"),
    ({"maxLength": 1}, "e\u0301"),
    # formats and content are annotations only, as jsonschema reads draft 2020-12
    ({"not": {"format": "email"}}, "nope"),
    ({"not": {"format": "date-time"}}, "2026-13-01"),
    ({"not": {"contentMediaType": "application/json"}}, "not json"),
    ({"not": {"contentEncoding": "base64"}}, "%%%"),
    # equality inside containers, signed zeros, the applicators of draft 2020-12
    ({"not": {"uniqueItems": True}}, [{"a": 1}, {"a": 1.0}]),
    ({"uniqueItems": True}, [0.0, -0.0]),
    ({"const": {"a": [1, {"b": True}]}}, {"a": [1.0, {"b": 1}]}),
    ({"allOf": [{"properties": {"a": True}}], "unevaluatedProperties": False}, {"a": 1, "b": 2}),
    ({"prefixItems": [True], "unevaluatedItems": False}, [1, 2]),
    ({"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3}, [1, "a", 2]),
    ({"dependentSchemas": {"a": {"required": ["b"]}}}, {"a": 1}),
    (
        {"$dynamicAnchor": "n", "properties": {"x": {"$dynamicRef": "#n", "type": "object"}}},
        {"x": 1},
    ),
    ({"$ref": "#x", "$defs": {"a": {"$anchor": "x", "type": "string"}}}, 1),
    ({"items": {"$id": "urn:inner", "$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s"}}, [1]),
    # deep nesting, as deep as strict JSON allows
    (RECURSIVE, deep(200, [])),
    (RECURSIVE, deep(200, 1)),
    (False, 1),
]


JSON_SCHEMA_READS: list[tuple[Any, Any, bool]] = [
    # `pattern` is ECMA-262: `$` is the end only, `\\d` and `\\w` are ASCII, `\\s` is
    # ECMA's white space (U+FEFF yes, U+001C no), `\\b` is an ASCII word boundary
    ({"pattern": "^a$"}, "a\n", False),
    (NEWLINE_NOT, "a\n", True),
    (NEWLINE_EXTRA, {"x\n": "not an integer"}, True),
    ({"propertyNames": {"not": {"pattern": "^x$"}}}, {"x\n": 1}, True),
    ({"pattern": "^\\d{4}$"}, "\u0661\u0662\u0663\u0664", False),
    ({"not": {"pattern": "^\\d$"}}, "\u0663", True),
    ({"not": {"pattern": "^\\w+$"}}, "\u00e9t\u00e9", True),
    ({"not": {"pattern": "^\\s$"}}, "\x1c", True),
    ({"pattern": "^\\s$"}, "\ufeff", True),
    ({"not": {"pattern": "^a\\b"}}, "a\u0301", True),
    ({"pattern": "^(?=a)a$"}, "a\n", False),
    # `multipleOf` of the JSON numbers as written: 0.07 is 7 times 0.01
    ({"multipleOf": 0.01}, 0.07, True),
    ({"not": {"multipleOf": 0.01}}, 0.07, False),
]
"""(schema, instance, verdict) where JSON Schema's verdict is not jsonschema's."""

ANSWERED = [
    # integers beyond 2**53 beside floats (jsonschema-rs compares them as doubles)
    ({"maximum": 2**60}, float(2**60)),
    ({"not": {"maximum": 2**60}}, float(2**60)),
    ({"not": {"const": 10**30}}, 1e30),
    ({"not": {"uniqueItems": True}}, [10**30, 1e30]),
    ({"not": {"minimum": -(2**63)}}, float(-(2**63))),
    ({"multipleOf": 2**53}, 2.0**60),
    # values no strict JSON parse yields (Python callers may pass them)
    ({"type": "number", "minimum": 0}, float("nan")),
    ({"not": {"type": "number", "minimum": 0}}, float("nan")),
    ({"type": "number"}, float("inf")),
    ({"type": "array"}, (1, 2)),
    ({"not": {"type": "array"}}, (1, 2)),
    ({"type": "object"}, {1: "a"}),
    ({"type": "string"}, "\ud800"),
]
"""(schema, instance) answered without an error, whatever the verdict."""
_SET_APART = {json.dumps([s, repr(i)], default=str) for s, i, _ in JSON_SCHEMA_READS}
_SET_APART |= {json.dumps([s, repr(i)], default=str) for s, i in ANSWERED}
AGREED = [(s, i) for s, i in EDGES if json.dumps([s, repr(i)], default=str) not in _SET_APART]


@pytest.mark.parametrize(("schema", "instance"), AGREED, ids=[str(i) for i in range(len(AGREED))])
def test_validate_gives_jsonschemas_verdict(schema: Any, instance: Any) -> None:
    catalog = catalog_of(schema)
    expected = Draft202012Validator(catalog.schemas[EDGE_ID].document).is_valid(instance)
    assert (catalog.validate(EDGE_ID, instance) == []) is expected


@pytest.mark.parametrize(("schema", "instance", "verdict"), JSON_SCHEMA_READS)
def test_validate_gives_json_schemas_verdict_where_jsonschema_reads_python(
    schema: Any, instance: Any, verdict: bool
) -> None:
    catalog = catalog_of(schema)
    assert Draft202012Validator(catalog.schemas[EDGE_ID].document).is_valid(instance) is not verdict
    assert (catalog.validate(EDGE_ID, instance) == []) is verdict


@pytest.mark.parametrize(("schema", "instance"), ANSWERED)
def test_what_no_json_holds_is_answered_without_an_error(schema: Any, instance: Any) -> None:
    violations = catalog_of(schema).validate(EDGE_ID, instance)
    assert all(v.message for v in violations)
    assert catalog_of(schema).is_all_valid(EDGE_ID, [instance]) in (True, False)


def test_the_edge_cases_are_all_placed() -> None:
    assert len(AGREED) == len(EDGES) - len(JSON_SCHEMA_READS) - len(ANSWERED)


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}, 1),
        ({"pattern": "(?i)a"}, "A"),
        ({"pattern": "[]a]"}, "a"),
        ({"pattern": "\\x41"}, "A"),
        ({"$ref": "#/$defs/a", "$defs": {"a": {"pattern": "^a$"}}}, "b"),
        ({"$defs": {"bundled": {"$id": "urn:test:bundled", "type": "object"}}}, 1),
        ({"patternProperties": {"^x-": {"maxLength": 8}, "^x\\-": {"type": "string"}}}, {"x-a": 1}),
    ],
)
def test_what_the_old_fast_path_stayed_off_gets_jsonschemas_verdict(
    schema: dict[str, Any], instance: Any
) -> None:
    catalog = catalog_of(schema)
    expected = Draft202012Validator(catalog.schemas[EDGE_ID].document).is_valid(instance)
    assert (catalog.validate(EDGE_ID, instance) == []) is expected


def test_a_bundled_copy_of_another_schemas_id_does_not_hide_a_violation() -> None:
    """A `$ref` to an `$id` both embedded under `$defs` and loaded as a schema may reach either
    copy: the schema is refused rather than validated against the laxer one."""
    shared = {"$id": "urn:test:shared", "type": "object", "required": ["count"]}
    shared["properties"] = {"count": {"type": "integer"}}
    widget = {"$id": EDGE_ID, "$ref": "urn:test:shared"}
    widget["$defs"] = {"bundled": {"$id": "urn:test:shared", "type": "object"}}
    catalog = SchemaCatalog(
        schemas={
            EDGE_ID: ArtifactSchema(EDGE_ID, Path("edge.schema.json"), widget, (), ""),
            "urn:test:shared": ArtifactSchema(
                "urn:test:shared", Path("shared.schema.json"), shared, (), ""
            ),
        }
    )
    with pytest.raises(UsageError) as raised:  # never validated against the engine's pick
        catalog.validate(EDGE_ID, {"count": "not a number"})
    assert raised.value.code == "SCHEMA_INVALID" and "urn:test:shared" in raised.value.message


def test_pattern_properties_that_read_alike_once_rewritten_both_apply() -> None:
    schema = {"patternProperties": {"^x-": {"maxLength": 8}, "^x\\-": {"type": "string"}}}
    assert catalog_of(schema).validate(EDGE_ID, {"x-owner": "a-very-long-owner-name"}) != []


# --- patterns: ECMA-262, as JSON Schema reads them ------------------------------------------

ATOMS = ["a", "b", "-", ".", "\\d", "\\D", "\\w", "\\W", "\\.", "\\$"]
ATOMS += ["[a-c]", "[^a]", "[\\d-]", "[-a]", "[a-]", "[\\]]", "[$^.]"]
CHARS = "abe-. \t_$^09Z"


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """Patterns of atoms, counts, groups, alternatives and anchors."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        atom = draw(st.sampled_from(ATOMS))
        if draw(st.booleans()):
            atom = f"(?:{atom}|{draw(st.sampled_from(ATOMS))})"
        parts.append(atom + draw(st.sampled_from(["", "*", "+", "?", "{2}", "{1,2}", "+?"])))
    start = draw(st.sampled_from(["", "^"]))
    return start + "".join(parts) + draw(st.sampled_from(["", "$"]))


@settings(max_examples=300, deadline=None)
@given(pattern=patterns(), texts=st.lists(st.text(alphabet=CHARS, max_size=6), max_size=12))
@example(pattern="a+a*a+", texts=["a"])  # fancy-regex, jsonschema-rs's default, matched it
@example(pattern="ab+b*b+", texts=["ab"])
def test_patterns_match_as_python_does_on_ascii_without_a_final_newline(
    pattern: str, texts: list[str]
) -> None:
    """Where ECMA-262 and Python's `re` agree (ASCII, no newline at the end), both match alike."""
    python = re.compile(pattern)
    catalog = catalog_of({"pattern": pattern})
    for text in [*texts, ""]:
        assert (catalog.validate(EDGE_ID, text) == []) is (python.search(text) is not None)


def test_a_lookahead_still_compiles_and_decides() -> None:
    """A pattern only the fancy-regex engine compiles gets it: no schema refused for it."""
    catalog = catalog_of({"pattern": "^(?=[a-z]*$)a"})
    assert catalog.validate(EDGE_ID, "abc") == []
    assert catalog.validate(EDGE_ID, "aB") != []


def test_classes_are_ecma_262s_on_every_code_point() -> None:
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF][::7]
    ascii_word = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
    classes = {"^\\d$": set("0123456789"), "^\\w$": ascii_word}
    for pattern, members in classes.items():
        catalog = catalog_of({"pattern": pattern})
        wrong = [c for c in every if (catalog.validate(EDGE_ID, c) == []) is not (c in members)]
        assert wrong == [], pattern


@pytest.mark.parametrize("pattern", ["\\Z", "\\1", "a{", "a{1,2", "a{,3}", "("])
def test_a_pattern_ecma_262_refuses_is_a_usage_error(pattern: str) -> None:
    with pytest.raises(UsageError) as raised:
        catalog_of({"pattern": pattern}).validate(EDGE_ID, "a")
    assert raised.value.code == "SCHEMA_INVALID"


# --- schemas jsonschema refuses, refs that do not resolve, imports ---------------------------


def test_a_schema_jsonschema_refuses_stays_a_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "schemas"
    folder.mkdir()
    bad = {"$id": "urn:test:bad", "type": "object", "properties": {"a": {"minLength": -1}}}
    (folder / "bad.schema.json").write_text(json.dumps(bad))
    catalog = SchemaCatalog.load([folder])
    with pytest.raises(UsageError):
        catalog.validate("urn:test:bad", {"a": "x"})


def test_an_unresolvable_ref_is_a_usage_error_and_nothing_is_fetched() -> None:
    catalog = catalog_of({"properties": {"a": {"$ref": "https://example.invalid/x.json"}}})
    for instance in ({"b": 1}, {"a": 1}):  # refused whole, whichever branch an instance takes
        with pytest.raises(UsageError, match="unresolvable") as raised:
            catalog.validate(EDGE_ID, instance)
        assert "nothing is fetched" in raised.value.message


def test_a_valid_folder_is_checked_without_importing_jsonschema(
    make_run: Callable[..., SealedRun],
) -> None:
    """jsonschema-rs alone decides and reports: validating never imports jsonschema."""
    versions = b'{"version": "0.1", "expected": {"schema_version": "0.1", '
    versions += b'"threshold_pack_version": null}}\n'
    run = make_run({"EXPECTED_VERSIONS_v0_1.json": versions})
    code = (
        "import sys\n"
        "from registry_pipeline.core.seal.validate import inspect_run_folder\n"
        f"assert inspect_run_folder({str(run.path)!r}).ok\n"
        "assert 'jsonschema_rs' in sys.modules\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jsonschema', 'referencing')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
