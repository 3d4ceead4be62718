"""Strict YAML: the core schema, each refusal with its own code and line, and no code runs."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.loader import BaseLoader
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from registry_pipeline.core import yaml_io
from registry_pipeline.core.json_strict import MAX_DEPTH, MAX_INT_DIGITS, JSONDecodeProblem
from registry_pipeline.core.yaml_io import (
    MAX_BYTES,
    YAMLDocument,
    loads_yaml_strict,
    parse_yaml,
)

PARSERS = [yaml_io._Parser, BaseLoader] if yaml_io._Parser is not BaseLoader else [BaseLoader]


@pytest.fixture(params=PARSERS, ids=lambda parser: parser.__name__)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each test that takes it runs on ruamel.yaml.clib's C parser and on the pure-Python one."""
    monkeypatch.setattr(yaml_io, "_Parser", request.param)
    return request.param


def refusal(data: bytes | str, **limits: int) -> JSONDecodeProblem:
    with pytest.raises(JSONDecodeProblem) as caught:
        parse_yaml(data, **limits)
    return caught.value


def test_ruamel_yaml_clib_s_c_parser_is_used() -> None:
    assert yaml_io._Parser is not BaseLoader, (
        "no ruamel.yaml.clib: only the slow fallback is tested"
    )
    assert yaml_io._Parser.__name__ == "CParser"


CORE_SCHEMA = [
    ("yes", "yes"), ("no", "no"), ("NO", "NO"), ("on", "on"), ("off", "off"),  # the Norway problem
    ("y", "y"), ("n", "n"), ("Yes", "Yes"),
    ("true", True), ("True", True), ("TRUE", True), ("tRUE", "tRUE"),
    ("false", False), ("False", False), ("FALSE", False),
    ("null", None), ("Null", None), ("NULL", None), ("~", None), ("", None), ("nULL", "nULL"),
    ("12", 12), ("-12", -12), ("+12", 12), ("007", 7), ("0o17", 15), ("0x1F", 31), ("0xff", 255),
    ("-0o7", "-0o7"), ("0b101", "0b101"), ("0x", "0x"), ("1_000", "1_000"),
    ("1:20", "1:20"),  # sexagesimal in YAML 1.1
    ("1.5", 1.5), ("-1.5", -1.5), (".5", 0.5), ("1.", 1.0), ("1e3", 1000.0), ("1E-3", 0.001),
    ("-2.5e+2", -250.0), ("1.0e+16", 1e16), ("inf", "inf"), ("nan", "nan"),
    ("2024-01-01", "2024-01-01"),  # a timestamp in YAML 1.1
    ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    ("'12'", "12"), ('"12"', "12"), ("'true'", "true"), ("'null'", "null"), ("''", ""),
    ('"0x1F"', "0x1F"), ("!!str 12", "12"), ("!!str true", "true"), ("! 12", "12"),
    ("!!int '12'", 12), ("!!int 0x10", 16), ("!!float 1", 1.0), ("!!float '2.5'", 2.5),
    ("!!bool 'false'", False), ("!!null ''", None), ("!<tag:yaml.org,2002:int> 3", 3),
    ("[1, 0o10, yes]", [1, 8, "yes"]), ("{a: on}", {"a": "on"}),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CORE_SCHEMA, ids=[t for t, _ in CORE_SCHEMA])
def test_scalars_resolve_by_the_yaml_1_2_core_schema(
    loader: Any, text: str, expected: object
) -> None:
    value = loads_yaml_strict(f"v: {text}\n")["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_ruamel_s_own_resolvers_and_constructors_are_left_alone() -> None:
    text = "v: 2024-01-01\nw: 1_000\n"
    assert loads_yaml_strict(text) == {"v": "2024-01-01", "w": "1_000"}
    assert YAML(typ="safe", pure=True).load(text) == {"v": datetime.date(2024, 1, 1), "w": 1000}
    assert YAML(typ="safe", pure=True).load("v: !!binary aGk=") == {"v": b"hi"}


REFUSALS = [
    ("a: 1\nb:\n  c: 2\n  c: 3\n", "YAML_DUPLICATE_KEY", 4),
    ("id: 1\nx: 2\nid: 1\n", "YAML_DUPLICATE_KEY", 3),
    ("{a: 1, a: 2}", "YAML_DUPLICATE_KEY", 1),
    ("a: 1\n'a': 2\n", "YAML_DUPLICATE_KEY", 2),
    ("base: {a: 1}\nitem:\n  <<: {b: 2}\n", "YAML_MERGE_KEY", 3),
    ("x: 0\n1: a\n", "YAML_KEY_NOT_STRING", 2),
    ("true: a\n", "YAML_KEY_NOT_STRING", 1),
    ("1.5: a\n", "YAML_KEY_NOT_STRING", 1),
    ("~: a\n", "YAML_KEY_NOT_STRING", 1),
    ("a: 1\n? \n: b\n", "YAML_KEY_NOT_STRING", 2),
    ("a: 1\n? [x, y]\n: b\n", "YAML_KEY_NOT_STRING", 2),
    ("{[x]: 1}", "YAML_KEY_NOT_STRING", 1),
    ("? {x: 1}\n: b\n", "YAML_KEY_NOT_STRING", 1),
    ("!!int 1: a\n", "YAML_KEY_NOT_STRING", 1),
    ("a: 1\n---\nb: 2\n", "YAML_MULTIPLE_DOCUMENTS", 2),
    ("--- 1\n--- 2\n", "YAML_MULTIPLE_DOCUMENTS", 2),
    ("a: 1\n...\n---\n[\n", "YAML_MULTIPLE_DOCUMENTS", 3),
    ("a: &x 1\nb: *x\n", "YAML_ALIAS", 2),
    ("a: *undefined\n", "YAML_ALIAS", 1),
    ("- &x [1]\n- 2\n- *x\n", "YAML_ALIAS", 3),
    ("a:\n  b: .inf\n", "YAML_NON_FINITE", 2),
    ("a: -.Inf\n", "YAML_NON_FINITE", 1),
    ("a: .NaN\n", "YAML_NON_FINITE", 1),
    ("a: .nAn\n", "YAML_NON_FINITE", 1),
    ("a: 1e400\n", "YAML_NON_FINITE", 1),
    ("a: -1.8e308\n", "YAML_NON_FINITE", 1),
    ("a: !!float .inf\n", "YAML_NON_FINITE", 1),
    ("a: 1\nb: " + "9" * (MAX_INT_DIGITS + 1) + "\n", "YAML_NUMBER_TOO_LARGE", 2),
    ("a: -" + "1" * (MAX_INT_DIGITS + 1), "YAML_NUMBER_TOO_LARGE", 1),
    ("a: 0x" + "f" * (MAX_INT_DIGITS + 1), "YAML_NUMBER_TOO_LARGE", 1),
    ("a: 1\nb: !!python/object/apply:os.system ['true']\n", "YAML_TAG", 2),
    ("a: !custom x\n", "YAML_TAG", 1),
    ("a: !!binary aGVsbG8=\n", "YAML_TAG", 1),
    ("!!set {a, b}\n", "YAML_TAG", 1),
    ("!!omap [a: 1]\n", "YAML_TAG", 1),
    ("a: !!timestamp 2024-01-01\n", "YAML_TAG", 1),
    ("a: !!int x\n", "YAML_TAG", 1),
    ("a: !!bool yes\n", "YAML_TAG", 1),
    ("a: !!float 0x1F\n", "YAML_TAG", 1),
    ("a: !!null x\n", "YAML_TAG", 1),
    ("a: !!map [1]\n", "YAML_TAG", 1),
    ("a: !!seq {b: 1}\n", "YAML_TAG", 1),
    ("a: !!str [1]\n", "YAML_TAG", 1),
    ("a: !!seq x\n", "YAML_TAG", 1),
    ("a: 1\nb: !!merge x\n", "YAML_TAG", 2),  # `!!merge` written out is no string
    ("- !!merge y\n", "YAML_TAG", 1),
    ("!!merge k: 1\n", "YAML_TAG", 1),
    ("!custom a: 1\n", "YAML_TAG", 1),
    ("a: 1\nb: [1\n", "YAML_SYNTAX", 3),
    ("a: b: c\n", "YAML_SYNTAX", 1),
    ("a:\n\t- b\n", "YAML_SYNTAX", 2),
    ("a: é\nb: ü\nc: x\x01\n", "YAML_SYNTAX", 3),
    ("a: \x7f\n", "YAML_SYNTAX", 1),
    ("a: 1\nb: '\x00'\n", "YAML_SYNTAX", 2),
    ('a: "\\ud800"\n', "YAML_SYNTAX", 1),
    ('a: 1\nb: "\\ud83d\\ude00"\n', "YAML_SYNTAX", 2),
    (b"a: 1\nb: \xc3\n", "YAML_ENCODING", 2),
    (b"\xff\xfea\x00:\x00 \x001\x00", "YAML_ENCODING", 1),
    (b"\xfe\xff\x00a\x00:\x00 \x001", "YAML_ENCODING", 1),
    ("a: 1\nb: \ud800\n", "YAML_ENCODING", 2),
]


REFUSAL_IDS = [f"{code}-{index}" for index, (_, code, _) in enumerate(REFUSALS)]


@pytest.mark.parametrize(("data", "code", "line"), REFUSALS, ids=REFUSAL_IDS)
def test_each_refusal_has_its_own_code_and_line(
    loader: Any, data: bytes | str, code: str, line: int
) -> None:
    problem = refusal(data)
    assert (problem.code, problem.line) == (code, line), str(problem)
    assert problem.message.startswith(f"line {line}"), problem.message
    assert str(problem) == f"{code}: {problem.message}"


FIRST_IN_DOCUMENT_ORDER = [
    ("base: &b {id: x}\nentry:\n  <<: *b\n", "YAML_MERGE_KEY", 3),
    ("a: .inf\nb: *x\n", "YAML_NON_FINITE", 1),
    ("a:\n  - !!binary aGk=\nb: *x\nc: {d: 1, d: 2}\n", "YAML_TAG", 2),
    ("? [*x]\n: 1\n", "YAML_KEY_NOT_STRING", 1),
    ("a: {b: 1, b: 2}\nc: 1e400\n", "YAML_DUPLICATE_KEY", 1),
]


@pytest.mark.parametrize(("data", "code", "line"), FIRST_IN_DOCUMENT_ORDER)
def test_the_first_problem_in_the_text_is_the_one_reported(
    loader: Any, data: str, code: str, line: int
) -> None:
    problem = refusal(data)
    assert (problem.code, problem.line) == (code, line), str(problem)


def test_a_refusal_is_a_json_decode_problem_with_line_and_column() -> None:
    with pytest.raises(JSONDecodeProblem) as caught:
        loads_yaml_strict("a: 1\nb:\n  - x\n  - *y\n")
    problem = caught.value
    assert (problem.code, problem.line, problem.column) == ("YAML_ALIAS", 4, 5)
    assert str(problem).startswith("YAML_ALIAS: line 4: ")
    assert "anchors and aliases are not allowed in a registry file" in str(problem)


def test_messages_name_the_key_the_tag_and_both_lines(loader: Any) -> None:
    assert refusal("id: 1\nx: 2\nid: 1\n").message == "line 3: duplicate key 'id' (first at line 1)"
    assert (
        "!!python/object/apply:os.system"
        in refusal("a: !!python/object/apply:os.system []").message
    )
    assert "!custom" in refusal("- !custom x").message
    assert "'1'" in refusal("1: a").message
    assert refusal("a: [1\n").message.startswith("line 2 column 1: ")


def test_a_key_can_be_a_quoted_or_tagged_string_and_an_unused_anchor_is_fine(loader: Any) -> None:
    assert loads_yaml_strict("'1': a\n!!str true: b\n\"<<\": c\nk: &anchor d\n") == {
        "1": "a",
        "true": "b",
        "<<": "c",
        "k": "d",
    }


def billion_laughs(levels: int) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_the_first_alias(loader: Any) -> None:
    problem = refusal(billion_laughs(30))  # 10**30 strings if expanded
    assert (problem.code, problem.line) == ("YAML_ALIAS", 2)


def test_a_python_tag_is_never_executed_nor_imported(loader: Any, tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    documents = [
        f"a: !!python/object/apply:os.system ['touch {target}']\n",
        "!!python/object/apply:pathlib.Path.touch\n"
        f"- !!python/object/apply:pathlib.Path ['{target}']\n",
        f"- !!python/object/new:pathlib.Path ['{target}']\n",
        "- !!python/name:subprocess.call\n",
        "- !!python/module:antigravity\n",
    ]
    for document in documents:
        assert refusal(document).code == "YAML_TAG"
    assert not target.exists()


def test_nesting_up_to_the_limit_is_accepted_and_one_more_is_refused(loader: Any) -> None:
    flow = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_yaml(flow).value is not None
    assert refusal("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).code == "YAML_TOO_DEEP"
    keys = "".join(f"{'  ' * level}k{level}:\n" for level in range(MAX_DEPTH - 1))
    deepest = "  " * (MAX_DEPTH - 1)  # the mapping written here is MAX_DEPTH levels deep
    value = loads_yaml_strict(keys + deepest + "x: 1\n")
    for level in range(MAX_DEPTH - 1):
        value = value[f"k{level}"]
    assert value == {"x": 1}
    problem = refusal(keys + deepest + "x:\n" + deepest + "  y: 1\n")
    assert (problem.code, problem.line) == ("YAML_TOO_DEEP", MAX_DEPTH + 1)
    assert loads_yaml_strict("- " * MAX_DEPTH + "x") is not None
    assert refusal("- " * (MAX_DEPTH + 1) + "x").code == "YAML_TOO_DEEP"
    assert refusal("{a: [{b: [1]}]}", max_depth=3).code == "YAML_TOO_DEEP"
    assert loads_yaml_strict("{a: [{b: [1]}]}") == {"a": [{"b": [1]}]}


def test_nesting_that_would_crash_a_c_composer_is_refused() -> None:
    # ruamel.yaml.clib's and PyYAML's C composers recurse in C and kill the process on this.
    problem = refusal("[" * 1_000_000)
    assert (problem.code, problem.line, problem.column) == ("YAML_TOO_DEEP", 1, MAX_DEPTH + 1)


def test_node_marks_locate_each_item() -> None:
    text = (
        "# registry\n"
        "entries:\n"
        "  - id: a\n"
        "    size: 1\n"
        "  - id: b\n"
        "  - id: c\n"
        "    size: 3\n"
        "    tags: [x, y]\n"
        "other: z\n"
    )
    document = parse_yaml(text)
    assert isinstance(document, YAMLDocument)
    assert document.value["entries"][2] == {"id": "c", "size": 3, "tags": ["x", "y"]}
    root = document.node
    assert isinstance(root, MappingNode)
    (entries_key, entries), (other_key, other) = root.value
    assert (entries_key.value, other_key.value, other.value) == ("entries", "other", "z")
    assert isinstance(entries, SequenceNode)
    third = entries.value[2]
    assert (third.start_mark.line + 1, third.end_mark.line + 1) == (6, 9)
    assert entries.value[0].start_mark.line + 1 == 3
    size = third.value[1][1]
    assert (size.tag, size.value, size.start_mark.line + 1) == ("tag:yaml.org,2002:int", "3", 7)
    assert third.value[2][1].flow_style is True
    assert root.start_mark.line == 1 and root.end_mark.line == 9


def test_bytes_and_text_give_the_same_value(loader: Any) -> None:
    text = "name: Zoë\nlist:\n  - ✓\n  - 😀\n"
    expected = {"name": "Zoë", "list": ["✓", "😀"]}
    assert loads_yaml_strict(text) == expected
    assert loads_yaml_strict(text.encode("utf-8")) == expected
    assert loads_yaml_strict(b"\xef\xbb\xbf" + text.encode("utf-8")) == expected
    assert loads_yaml_strict("\ufeff" + text) == expected


def test_empty_documents_are_none_and_a_bare_scalar_is_a_value(loader: Any) -> None:
    for empty in ("", b"", "# only a comment\n", "\n\n"):
        assert parse_yaml(empty) == YAMLDocument(None, None)
    document = parse_yaml("---\n...\n")
    assert document.value is None and isinstance(document.node, ScalarNode)
    assert loads_yaml_strict("--- hello\n") == "hello"
    assert loads_yaml_strict("{}") == {} and loads_yaml_strict("[]") == []


def test_too_large_input_is_refused_before_parsing() -> None:
    assert MAX_BYTES == 64 * 1024 * 1024
    assert refusal(b"a: 12345\n", max_bytes=8).code == "YAML_TOO_LARGE"
    assert refusal("a: 1234\n" + "x" * 10, max_bytes=8).code == "YAML_TOO_LARGE"
    assert refusal("a: éé", max_bytes=6).code == "YAML_TOO_LARGE"  # 5 characters, 7 bytes
    assert loads_yaml_strict("a: éé") == {"a": "éé"}
    assert parse_yaml(b"a: 1234\n", max_bytes=8).value == {"a": 1234}


@pytest.mark.parametrize("error", [MemoryError, RecursionError])
def test_python_s_own_limits_become_a_problem(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    def exhausted(data: bytes) -> Any:
        raise error

    monkeypatch.setattr(yaml_io, "_Parser", exhausted)
    assert refusal("a: 1").code in ("YAML_TOO_LARGE", "YAML_TOO_DEEP")


def test_a_large_registry_matches_pyyaml_where_the_schemas_agree() -> None:
    entries = [
        {
            "id": f"entry-{i:05d}",
            "version": i,
            "score": i / 7,
            "enabled": i % 2 == 0,
            "notes": None,
            "tags": ["alpha", f"t{i % 5}"],
            "nested": {"depth": [i, {"k": "v"}]},
        }
        for i in range(500)
    ]
    text = yaml.safe_dump({"entries": entries}, sort_keys=False)
    assert loads_yaml_strict(text) == yaml.load(text, Loader=yaml.CSafeLoader)
    assert loads_yaml_strict(text)["entries"] == entries
    assert list(loads_yaml_strict(text)["entries"][3]) == list(entries[3])


_TEXT = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=12)
# Written raw (ensure_ascii=False), YAML refuses or folds what JSON leaves unescaped: DEL and the C1
# controls, the byte-order mark and U+FFFE/U+FFFF, and the YAML 1.1 line breaks NEL, LS and PS.
_RAW = st.text(
    st.characters(exclude_categories=["Cs"]).filter(
        lambda c: not ("\x7f" <= c <= "\x9f" or c in "\ufeff\ufffe\uffff\u2028\u2029")
    ),
    max_size=12,
)


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | text
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4)
        ),
        max_leaves=12,
    )


@settings(max_examples=2 * settings().max_examples, deadline=None)
@given(json_values(_TEXT))
def test_json_is_read_as_the_same_value(value: Any) -> None:
    assert parse_yaml(json.dumps(value)).value == value
    assert parse_yaml(json.dumps(value, indent=2).encode("utf-8")).value == value


@settings(max_examples=2 * settings().max_examples, deadline=None)
@given(json_values(_RAW))
def test_json_with_raw_unicode_is_read_as_the_same_value(value: Any) -> None:
    assert parse_yaml(json.dumps(value, ensure_ascii=False)).value == value


def test_floats_keep_their_value_and_sign() -> None:
    value = loads_yaml_strict("[-0.0, 1.7976931348623157e+308, 5e-324, 0.1]")
    assert value == [0.0, 1.7976931348623157e308, 5e-324, 0.1]
    assert math.copysign(1.0, value[0]) == -1.0
