"""Each shortcut a bulk append takes decides exactly as the rule it shortcuts: compact JSON lines
parsed by the C parser (`loads_compact`) against `loads_strict`, a block of them at once
(`compact_lines`, msgspec's parser and encoder among them) against each line, the seed's times read
directly (and a day and a minute at a time) against `datetime.fromisoformat`, plain POSIX paths
against the path objects, file lookups (one by one, and many at once) against `Path.exists`,
predicates over (type, value) sets against each condition, the failed uniqueness checks against
a scan of every field."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_pipeline.core.json_strict import (
    NOT_COMPACT,
    CompactLines,
    JSONDecodeProblem,
    compact_lines,
    dumps_compact,
    fast_codec,
    loads_compact,
    loads_strict,
)
from registry_pipeline.core.run_index.records import (
    CONTROL,
    Warnings,
    named_file_problem,
    path_problem,
)
from registry_pipeline.core.run_index.sidecar import Held, marks
from registry_pipeline.core.run_index.spec import (
    FAIL,
    Condition,
    IndexSpec,
    Predicate,
    _parsed,
    failed_checks,
    is_check,
    parse_time,
)
from registry_pipeline_tests.core_tests.seal.reference_engine import plain

TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=8)
"""Strings UTF-8 can hold (no lone surrogate)."""
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)


def VALUES_OF(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists and objects of `inner`."""
    return st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4)


VALUES = st.recursive(SCALARS, VALUES_OF, max_leaves=12)


def _strict(text: str) -> tuple[str, Any]:
    """loads_strict's verdict on `text` as UTF-8: ("ok", value) or ("refused", code)."""
    try:
        return "ok", loads_strict(text.encode("utf-8", "surrogatepass"))
    except JSONDecodeProblem as exc:
        return "refused", exc.code


def _agrees(text: str) -> None:
    """loads_compact vouches only for what loads_strict accepts, with the same value."""
    value = loads_compact(text)
    if value is not NOT_COMPACT:
        assert _strict(text) == ("ok", value)
        assert dumps_compact(value) == text


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_the_compact_text_of_any_value_is_read_as_strict_reads_it(value: Any) -> None:
    text = dumps_compact(value)
    assert loads_compact(text) is not NOT_COMPACT
    _agrees(text)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.sampled_from(["spaced", "ascii", "sorted", "indented"]))
def test_other_spellings_are_left_to_strict(value: Any, spelling: str) -> None:
    text = {
        "spaced": json.dumps(value, ensure_ascii=False),
        "ascii": json.dumps(value),
        "sorted": json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False),
        "indented": json.dumps(value, indent=1, ensure_ascii=False),
    }[spelling]
    _agrees(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='{}[]:,"\\ -.0123456789eEtrufalsnNIaiy\ud800', max_size=30))
def test_any_text_is_vouched_for_only_when_strict_accepts_it(text: str) -> None:
    _agrees(text)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"a":1,"a":1}', "JSON_INVALID"),
        ('{"a":{"b":1,"b":2}}', "JSON_INVALID"),
        ('[{"k":"v","k":"v"}]', "JSON_INVALID"),
        ('{"a":NaN}', "JSON_NON_FINITE"),
        ('{"a":Infinity}', "JSON_NON_FINITE"),
        ('{"a":-Infinity}', "JSON_NON_FINITE"),
        ('{"a":1e400}', "JSON_NON_FINITE"),
        ('{"a":' + "9" * 1001 + "}", "JSON_NUMBER_TOO_LARGE"),
        ('{"a":"\\ud800"}', "JSON_LONE_SURROGATE"),
        ('{"\\udc00":1}', "JSON_LONE_SURROGATE"),
        ("\ufeff{}", "JSON_INVALID"),
        ("[" * 201 + "]" * 201, "JSON_TOO_DEEP"),
        ('{"a":1} x', "JSON_INVALID"),
        ('{"a":1}{}', "JSON_INVALID"),
        ('{"a":"\x01"}', "JSON_INVALID"),
        ("", "JSON_INVALID"),
    ],
)
def test_every_strict_refusal_is_left_to_strict(text: str, code: str) -> None:
    assert loads_compact(text) is NOT_COMPACT
    assert _strict(text) == ("refused", code)


def test_a_raw_lone_surrogate_in_a_str_is_not_vouched_for() -> None:
    text = '{"a":"\ud800"}'
    assert loads_compact(text) is NOT_COMPACT
    with pytest.raises(JSONDecodeProblem) as refused:
        loads_strict(text)
    assert refused.value.code == "JSON_LONE_SURROGATE"


def test_a_compact_record_is_read_by_the_fast_path() -> None:
    text = '{"run_id":"RUN-1","version_ids":["V1","V2"],"n":3,"ok":true,"x":null,"é":"ü\\n"}'
    assert loads_compact(text) == loads_strict(text.encode())


# --- times --------------------------------------------------------------------------------

DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=2)


@settings(max_examples=600, deadline=None)
@given(
    st.integers(0, 9999),
    st.integers(0, 14),
    st.integers(0, 33),
    st.integers(0, 25),
    st.integers(0, 61),
    st.one_of(st.none(), st.integers(0, 61)),
    st.sampled_from(["Z", "+00:00", "z", "", "Z "]),
)
def test_the_seeds_times_are_read_as_fromisoformat_reads_them(
    year: int, month: int, day: int, hour: int, minute: int, second: int | None, zone: str
) -> None:
    seconds = "" if second is None else f":{second:02d}"
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}{seconds}{zone}"
    assert parse_time(text) == _parsed(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789-T:Z.+ ٣", min_size=4, max_size=22))
def test_any_time_text_is_read_as_fromisoformat_reads_it(text: str) -> None:
    expected = _parsed(text) if text[:4].isdigit() else None
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-31T23:59Z",
        "2024-02-30T10:00Z",  # no such day
        "2024-W01-1T10:00Z",  # a week date, as long as the seed's form
        "٢٠٢٤-01-01T10:00Z",  # digits, not ASCII
        "2024-01-01T24:00Z",
        "2024-01-01T10:60Z",
        "2024-01-01T1a:00Z",
        "2024-01-01t10:00Z",
        "2024-01-01T10:00z",
        "2024-01-01T10-00Z",
    ],
)
def test_times_as_long_as_the_seeds_are_read_as_fromisoformat_reads_them(text: str) -> None:
    assert len(text) == 17
    expected = _parsed(text) if text[:4].isdigit() else None
    assert parse_time(text) == expected


# --- paths --------------------------------------------------------------------------------


def test_the_control_class_is_unicode_category_cc() -> None:
    import re

    pattern = re.compile(f"[{CONTROL}]")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert bool(pattern.match(char)) == (unicodedata.category(char) == "Cc"), hex(code)


PATHS = st.text(alphabet="/\\.:aC ~\x00\t\x85é", max_size=12)


@settings(max_examples=800, deadline=None)
@given(PATHS)
def test_plain_paths_get_the_path_objects_verdict(value: str) -> None:
    assert path_problem(value) == named_file_problem(value)


@pytest.mark.parametrize(
    "value",
    ["/srv/a/RUN_LOG.md", "/", "//", "/.", "/a/.", "/a/..", "/a/", "/a\nb", "C:\\x", "x/y", "/a."],
)
def test_named_paths(value: str) -> None:
    assert path_problem(value) == named_file_problem(value)


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_file_lookups_answer_as_path_exists(tmp_path: Path) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    names = [
        "dir",
        "dir/sub",
        "dir/file",
        "dir/file/x",
        "dir/missing",
        "missing/a/b",
        "missing/c",
        "link/file",
        "link/none",
        "loop/x",
        "dir//file",
        "dir/./file",
        "dir/file/",
        "dir/sub/.",
        *(f"gone{n}/run/RUN_LOG.md" for n in range(70)),
        *(f"gone{n}/other" for n in range(70)),
    ]
    lookup = _lookup()
    for name in names * 2:
        path = f"{tmp_path}/{name}"
        assert lookup.exists(path) == Path(path).exists(), name


# --- predicates and checks ----------------------------------------------------------------

FIELD_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.sampled_from([1.0, 0.0, math.nan, "PASS", "FAIL", "1", "True", ""])
    | st.lists(st.sampled_from(["PASS", 1]), max_size=2)
)
FIELDS = st.sampled_from(["a", "b", "c", "uniqueness_x", "uniqueness_y"])


def _holds(condition: Condition, record: dict[str, Any]) -> bool:
    """The rule as written: the field is present and its value one of the values, same type."""
    if condition.field not in record:
        return False
    value = record[condition.field]
    return any(type(value) is type(v) and value == v for v in condition.values)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.tuples(FIELDS, st.lists(FIELD_VALUES, min_size=1, max_size=3)), min_size=1, max_size=4
    ),
    st.sampled_from(["all", "any"]),
    st.dictionaries(FIELDS, FIELD_VALUES, max_size=5),
)
def test_predicates_hold_as_their_conditions_do(
    conditions: list[tuple[str, list[Any]]], mode: str, record: dict[str, Any]
) -> None:
    predicate = Predicate(mode, tuple(Condition(f, tuple(v)) for f, v in conditions))
    held = [_holds(condition, record) for condition in predicate.conditions]
    assert [c.holds(record) for c in predicate.conditions] == held
    assert predicate(record) == (all(held) if mode == "all" else any(held))
    assert predicate.judged(record) == (
        predicate(record),
        [c.field for c, h in zip(predicate.conditions, held, strict=True) if h],
    )


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS, FIELD_VALUES, max_size=5))
def test_failed_checks_are_every_check_field_that_failed(record: dict[str, Any]) -> None:
    expected = [field for field, value in record.items() if value == FAIL and is_check(field)]
    assert failed_checks(record) == expected


HELD_FIELDS = st.sampled_from(["a", "b", "lane", "override_id", "uniqueness_x", "uniqueness_y"])
HELD_VALUES = FIELD_VALUES | st.sampled_from([-0.0, 1, True, "OV-1", "x"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(FIELDS, st.lists(FIELD_VALUES, min_size=1, max_size=3)), max_size=3),
    st.lists(st.tuples(FIELDS, st.lists(FIELD_VALUES, min_size=1, max_size=3)), max_size=3),
    st.lists(st.dictionaries(HELD_FIELDS, HELD_VALUES, max_size=6), min_size=1, max_size=30),
)
def test_what_the_sidecar_holds_is_remembered_as_held_decides(
    success: list[tuple[str, list[Any]]],
    failure: list[tuple[str, list[Any]]],
    records: list[dict[str, Any]],
) -> None:
    """`sidecar.Held`, remembering by the fields `marks` reads (an import's shortcut), gives
    what `marks` gives of each record, the same records asked again included."""

    def predicate(mode: str, conditions: list[tuple[str, list[Any]]]) -> Predicate:
        return Predicate(mode, tuple(Condition(f, tuple(v)) for f, v in conditions))

    spec = IndexSpec(
        "runs", "run", "runs.jsonl", "RUNS.jsonl", "id", "t", lanes=("lane", "b"),
        success=predicate("all", success) if success else None,
        failure=predicate("any", failure) if failure else None,
    )  # fmt: skip
    remembered = Held(spec)
    for batch in (records, records * 2, records[:1]):
        for record, number in zip(batch, map(remembered, batch), strict=True):
            found = remembered.marks[number]
            assert found == marks(spec, record), record
            assert list(map(type, found)) == list(map(type, marks(spec, record)))


# --- blocks of compact lines --------------------------------------------------------------

LINE_KINDS = st.sampled_from(["compact"] * 5 + ["spaced", "ascii", "blank", "bad", "float"])
BAD_LINES = [
    '{"a":1,"a":2}',
    '{"a":NaN}',
    '{"a":1e999}',
    '{"a":"\\ud800"}',
    "[" * 201 + "]" * 201,
    '{"a":' + "9" * 1001 + "}",
    '{"a":1} {"b":2}',
    '{"a":1},{"b":2}',
    '{"a":[1',
    "2]}",
    '{"a":"}',
    "",
    " ",
    "\x00",
]


@st.composite
def block_lines(draw: st.DrawFn) -> list[str]:
    """Lines of a block: most compact, some spelt otherwise, blank, bad or holding floats."""
    found = []
    for _ in range(draw(st.integers(1, 12))):
        kind, value = draw(LINE_KINDS), draw(VALUES)
        if kind == "compact":
            found.append(dumps_compact(value))
        elif kind == "spaced":
            found.append(json.dumps(value, ensure_ascii=False))
        elif kind == "ascii":
            found.append(json.dumps(value))
        elif kind == "float":
            found.append(dumps_compact([value, draw(st.floats(allow_nan=False))]))
        else:
            found.append(draw(st.sampled_from(BAD_LINES)) if kind == "bad" else "")
    return found * draw(st.sampled_from([1, 1, 1, 30]))  # 30: long enough for msgspec


def _vouched_as_each_line(lines: list[str]) -> CompactLines | None:
    """`compact_lines` of `lines`, asserted to vouch for the block exactly when each line is
    compact alone, with each line's own value (same types: 1, 1.0 and true apart)."""
    each = [loads_compact(line) for line in lines]
    found = compact_lines("\n".join(lines))
    if NOT_COMPACT in each:
        assert found is None
        return None
    assert found is not None
    assert found.values == each
    assert list(map(dumps_compact, found.values)) == lines
    return found


@settings(max_examples=400, deadline=None)
@given(block_lines())
def test_a_block_is_vouched_for_exactly_when_each_line_is(lines: list[str]) -> None:
    found = _vouched_as_each_line(lines)
    if found is None:
        return
    assert found.sizes == [len(line.encode()) for line in lines]
    outside = [re.sub(r'"(?:[^"\\]|\\.)*"', "", x) for x in lines]  # strings taken out
    integers = [n for x in outside for n in re.findall(r"(?<![0-9.eE+-])-?[0-9]+(?![0-9.eE])", x)]
    assert found.plain is not any(len(n) > 15 for n in integers)  # +-2**53 has 16 digits
    if found.plain:
        assert plain(found.values)


def _msgspec_encode() -> Any:
    codec = fast_codec()
    assert codec is not None
    return codec[1]


def test_msgspec_writes_every_code_point_as_dumps_compact_does() -> None:
    encode = _msgspec_encode()
    points = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    for at in range(0, len(points), 4096):
        text = "".join(points[at : at + 4096])
        assert encode(text) == dumps_compact(text).encode(), hex(at)


@settings(max_examples=400, deadline=None)
@given(st.recursive(SCALARS.filter(lambda v: not isinstance(v, float)), VALUES_OF, max_leaves=12))
def test_msgspec_writes_values_without_floats_as_dumps_compact_does(value: Any) -> None:
    assert _msgspec_encode()(value) == dumps_compact(value).encode()


@settings(max_examples=400, deadline=None)
@given(st.recursive(SCALARS.filter(lambda v: not isinstance(v, float)), VALUES_OF, max_leaves=12))
def test_msgspec_reads_a_compact_text_without_floats_as_loads_strict_does(value: Any) -> None:
    codec = fast_codec()
    assert codec is not None
    text = dumps_compact(value)
    assert codec[0](text.encode()) == loads_strict(text)


@pytest.mark.parametrize(
    "line",
    [
        '{"a":1,"a":1}',  # a repeated key: msgspec keeps one, its encoding is shorter
        '"\\ud800"',  # a lone surrogate's escape
        '"\\ud83d\\ude00"',  # a pair's escape: written raw, so not this text
        '"\\u0041"',  # an escape not needed
        "[NaN]",
        "[-Infinity]",
        "[1e400]",  # a float: left to the standard library, which refuses it
        "[1.5]",
        "[1E5]",
        "[-0]",
        "[" + "9" * 1001 + "]",  # too long an integer
        "[" + "1" * 16 + "]",  # beyond 2**53: not plain
        '["' + "1" * 16 + '"]',  # digits in a string: plain, proven by the standard library
        "[" * 201 + "]" * 201,  # too deep
        '{"a": 1}',
        "[1,2] ",
        "true",
    ],
)
def test_a_long_block_is_vouched_for_as_each_of_its_lines(line: str) -> None:
    lines = [dumps_compact({"n": n, "s": "x" * (n % 7)}) for n in range(300)]
    lines[150] = line
    found = _vouched_as_each_line(lines)
    if found is None:
        return
    assert found.plain is (line != "[" + "1" * 16 + "]")


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_file_lookups_of_many_answer_as_path_exists(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file").write_text("x")
    names = ["dir/file", "dir/none", "gone/a", "gone/b", "gone//c", "gone/./d", "gone/", "gone/."]
    paths = [f"{tmp_path}/{name}" for name in names] * 3
    lookup = _lookup()
    assert [lookup.exists(p) for p in paths[:4]] == [Path(p).exists() for p in paths[:4]]
    assert [lookup.exists(p) for p in paths] == [Path(p).exists() for p in paths]


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_warnings_under_a_folder_found_missing_are_each_paths_own(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file").write_text("x")
    names = ["gone/a", "dir/file", "gone/b", "gone//c", "gone/./d", "gone/", "gone/.", "gone/\x01"]
    spec = IndexSpec("runs", "run", "runs.jsonl", "RUNS.jsonl", "id", "t", file_fields=("f",))
    records = [{"f": f"{tmp_path}/{name}"} for name in names] * 2
    view = Warnings(spec)
    assert [view.warned(r, False) for r in records] == [
        Warnings(spec).warned(r, False) for r in records
    ]


@pytest.mark.parametrize("value", [None, "", [], 0, 0.0, -0.0, False, {}, "x", [0], [""], " "])
def test_a_recommended_field_is_missing_when_null_empty_or_absent(value: Any) -> None:
    spec = IndexSpec("runs", "run", "runs.jsonl", "RUNS.jsonl", "id", "t", recommended=("r",))
    missing = [("r", "RECOMMENDED_MISSING")]
    assert Warnings(spec).warned({"r": value}, True) == (missing if value in (None, "", []) else [])
    assert Warnings(spec).warned({}, True) == missing
    assert Warnings(spec).warned({"r": value}, False) == []


def _lookup() -> Warnings:
    """The FILE_ABSENT lookups of one check."""
    return Warnings(IndexSpec("runs", "run", "runs.jsonl", "RUNS.jsonl", "id", "t"))
