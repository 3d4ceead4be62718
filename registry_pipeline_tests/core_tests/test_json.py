"""Strict JSON: each refusal has its own code, and no input reaches Python's own limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_pipeline.core.json_strict import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    JSONDecodeProblem,
    loads_strict,
    pointer_token,
    pointer_tokens,
    resolve_pointer,
)

CASES = [
    (b"[" * 1100 + b"]" * 1100, "JSON_TOO_DEEP"),  # a 2 KB file past Python's recursion limit
    (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "JSON_TOO_DEEP"),
    (b"9" * 4400, "JSON_NUMBER_TOO_LARGE"),  # past Python's 4,300-digit conversion limit
    (b"-" + b"1" * (MAX_INT_DIGITS + 1), "JSON_NUMBER_TOO_LARGE"),
    (b"1e400", "JSON_NON_FINITE"),  # overflows to infinity
    (b"[-1e400]", "JSON_NON_FINITE"),
    (b"NaN", "JSON_NON_FINITE"),
    (b'{"x": Infinity}', "JSON_NON_FINITE"),
    (b'"\\ud800"', "JSON_LONE_SURROGATE"),
    (b'{"\\udfff": 1}', "JSON_LONE_SURROGATE"),
    (b'{"a": 1, "a": 2}', "JSON_INVALID"),
    (b"\xef\xbb\xbf{}", "JSON_INVALID"),
    (b"\xff", "JSON_INVALID"),
    (b"{", "JSON_INVALID"),
]


@pytest.mark.parametrize(("data", "code"), CASES, ids=[code + str(i) for i, (_, code) in
                                                      enumerate(CASES)])  # fmt: skip
def test_bad_json_is_refused_with_its_own_code(data: bytes, code: str) -> None:
    with pytest.raises(JSONDecodeProblem) as caught:
        loads_strict(data)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, -3e-5, "x", None, True]},
        "\U0001f600 is written as a surrogate pair escape by json.dumps",
        9 * 10 ** (MAX_INT_DIGITS - 1),
        1.7976931348623157e308,
    ],
)
def test_good_json_round_trips(value: object) -> None:
    assert loads_strict(json.dumps(value)) == value
    assert loads_strict(json.dumps(value, ensure_ascii=False).encode("utf-8")) == value


def test_nesting_up_to_the_limit_is_accepted_and_brackets_in_strings_do_not_count() -> None:
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_strict(deep) is not None
    assert loads_strict(json.dumps({"s": "[" * 5000})) == {"s": "[" * 5000}


@given(st.lists(st.text(), max_size=4))
def test_a_pointer_made_of_tokens_reads_back_as_those_tokens(names: list[str]) -> None:
    pointer = "".join(f"/{pointer_token(name)}" for name in names)
    assert pointer_tokens(pointer) == names


def test_resolve_pointer_reads_members_and_items_and_refuses_what_is_absent() -> None:
    document = {"a/b": [{"~x": 1}], "": {"n": None}}
    assert resolve_pointer(document, "") is document
    assert resolve_pointer(document, "/a~1b/0/~0x") == 1
    assert resolve_pointer(document, "//n") is None
    for absent in ("/a~1b/1", "/a~1b/-", "/a~1b/0/x", "/a/b", "/a~1b/0/~0x/deeper", "/a~1b/\u00b2"):
        with pytest.raises(KeyError):
            resolve_pointer(document, absent)


def test_of_several_lone_surrogates_an_objects_keys_are_named_first() -> None:
    for text, named in (
        (b'{"\\ud800a": "\\ud800b"}', "'\\ud800a'"),
        (b'{"k": "\\ud800v", "\\ud800k2": 1}', "'\\ud800k2'"),
        (b'[["\\ud800x"], "\\ud800y"]', "'\\ud800y'"),
    ):
        with pytest.raises(JSONDecodeProblem) as raised:
            loads_strict(text)
        assert named in str(raised.value), (text, str(raised.value))
