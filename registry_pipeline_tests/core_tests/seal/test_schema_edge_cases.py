"""`SchemaCatalog.validate` (jsonschema-rs) on the edge cases it promises, JSON Schema's way."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

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
TWIN_KEYS = {"patternProperties": {"^x-": {"maxLength": 8}, "^x\\-": {"type": "string"}}}
LOOKAHEAD = {"pattern": "^(?=[a-z]*$)a"}  # only fancy-regex compiles it: no schema refused for it

VERDICTS: list[tuple[Any, Any, bool]] = [
    # booleans are no numbers, 1.0 is 1
    ({"const": 1}, True, False),
    ({"const": 1}, 1.0, True),
    ({"type": "integer"}, True, False),
    ({"uniqueItems": True}, [1, True], True),
    # integers beyond 2**53, deep nesting as deep as strict JSON allows
    ({"maximum": 2**53}, 2**70 + 1, False),
    ({"type": "integer"}, 10**400, True),
    (RECURSIVE, deep(200, []), True),
    (RECURSIVE, deep(200, 1), False),
    # `pattern` is ECMA-262: `$` is the end only, `\\d` and `\\w` are ASCII, `\\s` is
    # ECMA's white space (U+FEFF yes, U+001C no), `\\b` is an ASCII word boundary
    ({"pattern": "^a$"}, "a\n", False),
    ({"not": {"pattern": "^a$"}}, "a\n", True),
    ({"patternProperties": {"^x$": {"type": "integer"}}}, {"x\n": "not an integer"}, True),
    ({"propertyNames": {"not": {"pattern": "^x$"}}}, {"x\n": 1}, True),
    ({"pattern": "^\\d{4}$"}, "\u0661\u0662\u0663\u0664", False),
    ({"not": {"pattern": "^\\d$"}}, "\u0663", True),
    ({"not": {"pattern": "^\\w+$"}}, "\u00e9t\u00e9", True),
    ({"not": {"pattern": "^\\s$"}}, "\x1c", True),
    ({"pattern": "^\\s$"}, "\ufeff", True),
    ({"not": {"pattern": "^a\\b"}}, "a\u0301", True),
    ({"pattern": "^(?=a)a$"}, "a\n", False),
    ({"pattern": "a+a*a+"}, "a", False),  # fancy-regex, jsonschema-rs's default, matched these
    ({"pattern": "ab+b*b+"}, "ab", False),
    (LOOKAHEAD, "abc", True),
    (LOOKAHEAD, "aB", False),
    (TWIN_KEYS, {"x-owner": "a-very-long-owner-name"}, False),  # both patterns apply
    # `multipleOf` of the JSON numbers as written: 0.07 is 7 times 0.01
    ({"multipleOf": 0.01}, 0.07, True),
    ({"not": {"multipleOf": 0.01}}, 0.07, False),
    # formats are annotations only, as draft 2020-12 reads them
    ({"format": "email"}, "nope", True),
]
"""(schema, instance, verdict): JSON Schema's verdict, where an engine or Python might differ."""

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


@pytest.mark.parametrize(("schema", "instance", "verdict"), VERDICTS)
def test_validate_gives_json_schemas_verdict(schema: Any, instance: Any, verdict: bool) -> None:
    catalog = catalog_of(schema)
    assert (catalog.validate(EDGE_ID, instance) == []) is verdict
    assert catalog.is_all_valid(EDGE_ID, [instance]) is verdict


@pytest.mark.parametrize(("schema", "instance"), ANSWERED)
def test_what_no_json_holds_is_answered_without_an_error(schema: Any, instance: Any) -> None:
    violations = catalog_of(schema).validate(EDGE_ID, instance)
    assert all(v.message for v in violations)
    assert catalog_of(schema).is_all_valid(EDGE_ID, [instance]) in (True, False)


def test_a_bundled_copy_of_another_schemas_id_does_not_hide_a_violation() -> None:
    """A `$ref` to an `$id` both embedded and loaded may reach either copy: refused, not guessed."""
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


def test_classes_are_ecma_262s_on_every_code_point() -> None:
    """Every 7th code point in `make test-full`, every 70th in `make test` (the tier's Hypothesis
    profile, conftest.py)."""
    stride = max(1, 700 // settings().max_examples)
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF][::stride]
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


def test_an_unresolvable_ref_is_a_usage_error_and_nothing_is_fetched() -> None:
    catalog = catalog_of({"properties": {"a": {"$ref": "https://example.invalid/x.json"}}})
    for instance in ({"b": 1}, {"a": 1}):  # refused whole, whichever branch an instance takes
        with pytest.raises(UsageError) as raised:
            catalog.validate(EDGE_ID, instance)
        assert raised.value.code == "SCHEMA_INVALID"


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
