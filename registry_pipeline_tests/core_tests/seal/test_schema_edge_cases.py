"""`SchemaCatalog.validate` gives jsonschema's verdict where the two engines part ways: numbers
beyond 2**53, non-finite floats and non-JSON values, Python's regular expressions (a newline at
the end, Unicode classes), `multipleOf`, deep nesting; and the compiled path stays off what it
cannot vouch for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal._compiled_schema import _Unsure, rust_regex
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


@pytest.mark.parametrize(("schema", "instance"), EDGES, ids=[str(i) for i in range(len(EDGES))])
def test_validate_gives_jsonschemas_verdict(schema: Any, instance: Any) -> None:
    catalog = catalog_of(schema)
    expected = Draft202012Validator(catalog.schemas[EDGE_ID].document).is_valid(instance)
    assert (catalog.validate(EDGE_ID, instance) == []) is expected
    fast = catalog._fast_check(EDGE_ID)
    assert fast is None or not fast(instance) or expected


def test_the_cases_do_reach_the_compiled_path() -> None:
    """Most of the edge cases are decided by jsonschema-rs, rewritten: none is vacuous."""
    compiled = [schema for schema, _ in EDGES if catalog_of(schema)._fast_check(EDGE_ID)]
    assert len(compiled) >= len(EDGES) - 11  # numbers beyond 2**53, multipleOf, 3 regexes, $id
    assert catalog_of(NEWLINE_NOT)._fast_check(EDGE_ID) is not None
    assert catalog_of(NEWLINE_EXTRA)._fast_check(EDGE_ID) is not None


@pytest.mark.parametrize(
    "schema",
    [
        {"multipleOf": 2},
        {"maximum": 2**53 + 1},
        {"enum": [1, 10**20]},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"},
        {"pattern": "(?=a)"},
        {"pattern": "(?i)a"},
        {"pattern": "a\\b"},
        {"pattern": "a{,3}"},
        {"pattern": "[]a]"},
        {"pattern": "\\x41"},
        {"pattern": "a*+"},
        {"$ref": "#/const", "const": {"pattern": "^a$"}},
        {"$ref": "#/patternProperties/^x$", "patternProperties": {"^x$": {"pattern": "^a$"}}},
        {"$ref": "urn:test:no-such-schema"},
        {"$defs": {"bundled": {"$id": "urn:test:bundled", "type": "object"}}},
        {"patternProperties": {"^x-": {"maxLength": 8}, "^x\\-": {"type": "string"}}},
    ],
)
def test_what_the_engines_may_read_apart_gets_no_compiled_path(schema: dict[str, Any]) -> None:
    assert catalog_of(schema)._fast_check(EDGE_ID) is None


def test_a_bundled_copy_of_another_schemas_id_does_not_hide_a_violation() -> None:
    """jsonschema resolves `$ref` to the catalog's document of that `$id`; jsonschema-rs may take
    the copy embedded under `$defs`: no compiled path, jsonschema decides."""
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
    assert catalog.validate(EDGE_ID, {"count": "not a number"}) != []


def test_pattern_properties_that_read_alike_once_rewritten_both_apply() -> None:
    schema = {"patternProperties": {"^x-": {"maxLength": 8}, "^x\\-": {"type": "string"}}}
    assert catalog_of(schema).validate(EDGE_ID, {"x-owner": "a-very-long-owner-name"}) != []


# --- the regex rewriting: Python's `re.search`, matched alike by jsonschema-rs ----------------

ATOMS = ["a", "b", "\u00e9", "-", ".", "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "\\.", "\\$"]
ATOMS += ["[a-c]", "[^a]", "[\\d-]", "[^\\W]", "[\\s\\S]", "[-a]", "[a-]", "[\\]]", "[$^.]"]
CHARS = "ab\u00e9e\u0301-. \n\r\t\x1c\x85\u00a0\ufeff\u2028\u0663\u00b2_\U0001f600\ue000$^"


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """Patterns of the rewritten subset: atoms, counts, groups, alternatives and anchors."""
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
def test_rewritten_regexes_match_as_python_does(pattern: str, texts: list[str]) -> None:
    python = re.compile(pattern)
    rust = jsonschema_rs.Draft202012Validator({"pattern": rust_regex(pattern)})
    for text in [*texts, "a\n", "\n", ""]:
        assert rust.is_valid(text) is (python.search(text) is not None), (pattern, text)


def test_python_classes_match_alike_on_every_code_point() -> None:
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for pattern in ("^[\\w\\d]$", "^\\W$", "^\\D$", "^[^\\s]$", "^\\S$", "^[^\\W]$"):
        python = re.compile(pattern)
        rust = jsonschema_rs.Draft202012Validator({"pattern": rust_regex(pattern)})
        wrong = [c for c in every[::7] if rust.is_valid(c) is (python.search(c) is None)]
        assert wrong == [], pattern


@pytest.mark.parametrize("pattern", ["(?=a)", "\\b", "\\Z", "\\1", "a{", "a{1,2", "]", "(?P<n>a)"])
def test_what_is_not_rewritten_is_refused(pattern: str) -> None:
    with pytest.raises(_Unsure):
        rust_regex(pattern)


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
    assert catalog._fast_check(EDGE_ID) is None
    assert catalog.validate(EDGE_ID, {"b": 1}) == []
    with pytest.raises(UsageError, match="unresolvable"):
        catalog.validate(EDGE_ID, {"a": 1})


def test_a_valid_folder_is_checked_without_importing_jsonschema(
    make_run: Callable[..., SealedRun],
) -> None:
    """The built-in schemas are compiled without jsonschema's own check: a PASS never pays for
    importing jsonschema (a FAIL does, for its messages)."""
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
