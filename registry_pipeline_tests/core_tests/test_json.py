"""Strict JSON: each refusal has its own code, and no input reaches Python's own limits; a block
of JSONL lines read by orjson (`loads_jsonl`) gives what `loads_strict` and `dumps_compact` give of
each line, the same refusal at the same line."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_pipeline.core.json_strict import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    JSONDecodeProblem,
    dumps_compact,
    loads_jsonl,
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


def test_a_control_character_in_a_string_is_said_once_with_its_place() -> None:
    """Python's message for it ends in "at", which the place followed: "at at line"."""
    with pytest.raises(JSONDecodeProblem) as caught:
        loads_strict(b'"a\x01b"')
    assert str(caught.value).endswith("Invalid control character at line 1 column 3")


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


# --- loads_jsonl: lines read by orjson, decided as loads_strict decides ----------------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**25), 10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
BAD = [
    b'{"a":1,"a":2}',
    b'{"a": 1, "a": 2}',
    b'{"a":NaN}',
    b'{"a":1e999}',
    b'{"a":"\\ud800"}',
    b"\xef\xbb\xbf{}",
    b'{"a":"\xff"}',
    b'{"a":',
    b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    b'{"a":' + b"9" * (MAX_INT_DIGITS + 1) + b"}",
    b'{"a":1} {"b":2}',
    b'{"a":1},{"b":2}',
    b"\x00",
]
BLANK = [b"", b"  ", b"\t", b"\x0c", b"\r"]
ODD = [
    b"[1e-05]",  # orjson writes 0.00001: appended as Python writes it
    b"[0.00001]",
    b"[1e+16]",
    b"[1E5]",
    b"[-0]",
    b"[18446744073709551616]",  # past 64 bits: orjson reads a float
    b"[-9223372036854775809]",
    b'["\\u0041"]',
    b'["\\/"]',
    b'["\\ud83d\\ude00"]',
    b"[" * MAX_DEPTH + b"]" * MAX_DEPTH,  # as deep as accepted
    b"[" * 230 + b"]" * 230,  # deeper than accepted, not deeper than orjson reads
    b'{"a":"[[[[{{{{"}',
    b'{"a":1}\r',
    b'  {"a":1}',
]


@st.composite
def jsonl_line(draw: st.DrawFn) -> bytes:
    """One line: most compact, others spelt otherwise, blank, odd or bad."""
    kind = draw(st.sampled_from(["compact"] * 6 + ["spaced", "ascii", "blank", "odd", "bad"]))
    if kind in ("blank", "odd", "bad"):
        picked: bytes = draw(st.sampled_from({"blank": BLANK, "odd": ODD, "bad": BAD}[kind]))
        return picked
    value = draw(VALUES)
    if kind == "compact":
        return dumps_compact(value).encode()
    return json.dumps(value, ensure_ascii=kind == "ascii").encode()


def _each_line(lines: list[bytes]) -> Any:
    """What loads_jsonl must give: each line not blank read by loads_strict and written by
    dumps_compact, with its number, else the first refusal and its line."""
    found: tuple[list[int], list[Any], list[bytes]] = ([], [], [])
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            value = loads_strict(raw)
        except JSONDecodeProblem as exc:
            return "refused", exc.code, number, exc.message, exc.column
        for kept, part in zip(found, (number, value, dumps_compact(value).encode()), strict=True):
            kept.append(part)
    return found


def _jsonl(block: bytes) -> Any:
    try:
        return loads_jsonl(block)
    except JSONDecodeProblem as exc:
        return "refused", exc.code, exc.line, exc.message, exc.column


@settings(max_examples=5 * settings().max_examples, deadline=None)  # 500 in test-full
@given(st.lists(jsonl_line(), min_size=1, max_size=10), st.booleans())
def test_a_block_is_read_as_loads_strict_reads_each_line(lines: list[bytes], end: bool) -> None:
    found = _jsonl(b"\n".join(lines) + (b"\n" if end else b""))
    assert repr(found) == repr(_each_line(lines))  # repr: 1, 1.0 and True told apart


@pytest.mark.parametrize(
    "line", [*ODD, *BAD, *BLANK], ids=lambda line: repr(line[:24]) + str(len(line))
)
def test_each_odd_bad_or_blank_line_among_compact_ones(line: bytes) -> None:
    """The other lines could be read as one block: this one decides, and blank keeps its number."""
    lines = [dumps_compact({"n": n, "s": "x" * (n % 5)}).encode() for n in range(20)]
    lines[12] = line
    assert repr(_jsonl(b"\n".join(lines))) == repr(_each_line(lines))


def test_orjson_writes_every_code_point_as_dumps_compact_does() -> None:
    """The lines orjson writes back byte for byte are appended as they are: the same bytes."""
    import orjson

    points = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    for at in range(0, len(points), 4096):
        text = "".join(points[at : at + 4096])
        assert orjson.dumps(text) == dumps_compact(text).encode(), hex(at)
