"""`pointer_lines`: the line of a JSON pointer's value, as json_source_map finds it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from json_source_map import calculate

from registry_pipeline.core.seal.pointer_lines import pointer_lines
from registry_pipeline_tests._rolepack import example_pack

DOCUMENT = {"ab": {"cd": [1, {"e": [True, None, "x\ny"]}]}, "roles": example_pack()["roles"]}
POINTERS = [
    "",
    "/ab",
    "/ab/cd/1/e/2",
    "/roles/0/role_id",
    "/roles/37/produce_contracts/0/schema_json/properties/sources/items",
    "/roles/12",
]


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(DOCUMENT, indent=2),
        json.dumps(DOCUMENT, indent=2).replace("\n", "\r\n"),
        json.dumps(DOCUMENT, indent="\t", separators=(" , ", " : ")),
    ],
    ids=["indented", "crlf", "odd spacing"],
)
def test_lines_agree_with_json_source_map(text: str) -> None:
    expected = {p: calculate(text)[p].value_start.line + 1 for p in POINTERS}
    assert pointer_lines(text, POINTERS) == expected


def test_pointers_that_name_nothing_are_left_out() -> None:
    text = json.dumps(DOCUMENT, indent=2)
    missing = ["/nope", "/roles/38", "/roles/x", "/ab/cd/1/e/2/deeper", "no-slash"]
    expected = calculate(text)["/roles/1"].value_start.line + 1
    assert pointer_lines(text, [*missing, "/roles/1"]) == {"/roles/1": expected}


def test_text_that_is_not_json_gives_no_lines_and_no_error() -> None:
    assert pointer_lines('{"roles": [1, 2', ["/roles/5"]) == {}


def test_escaped_keys() -> None:
    text = json.dumps({"a/b": {"c~d": 1}, "z": [{"a/b": 2}]}, indent=2)
    assert pointer_lines(text, ["/a~1b/c~0d", "/z/0/a~1b"]) == {"/a~1b/c~0d": 3, "/z/0/a~1b": 7}


_KEYS = st.text(alphabet="ab é", max_size=4)  # the reference mishandles `"`, `/`, `~` in keys
_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=25,
)


def _pointers(value: object, prefix: str = "") -> list[str]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            token = key.replace("~", "~0").replace("/", "~1")
            found += _pointers(child, f"{prefix}/{token}")
    elif isinstance(value, list):
        for number, child in enumerate(value):
            found += _pointers(child, f"{prefix}/{number}")
    return found


@settings(max_examples=2 * settings().max_examples, deadline=None, derandomize=True)
@given(value=_VALUES, indent=st.sampled_from([None, 1, 2, "\t"]))
def test_every_pointer_of_any_document_agrees_with_json_source_map(
    value: object, indent: int | str | None
) -> None:
    """The fast path and the library that is its reference, on every value of any document."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    positions = calculate(text)
    pointers = _pointers(value)
    expected = {p: positions[p].value_start.line + 1 for p in pointers}
    assert pointer_lines(text, pointers) == expected


def test_escaped_keys_are_found_as_rfc_6901_says() -> None:
    """`~1` is `/` and `~0` is `~` (RFC 6901; the reference leaves keys unescaped)."""
    text = '{\n "a/b": 1,\n "c~d": {\n  "\\"": 2\n }\n}'
    assert pointer_lines(text, ["/a~1b", "/c~0d", '/c~0d/"']) == {
        "/a~1b": 2,
        "/c~0d": 3,
        '/c~0d/"': 4,
    }
