"""Each shortcut the record checks take decides exactly as the rule it shortcuts: the seed's times
read directly (and a day and a minute at a time) against `datetime.fromisoformat`, plain POSIX
paths against the path objects, file lookups (one by one, and many at once) against
`Path.exists`, predicates over (type, value) sets against each condition, the failed uniqueness
checks against a scan of every field, what the sidecar holds of a record remembered against
`marks`. (How a line is read is `loads_jsonl`'s, tested with `json_strict`.)"""

from __future__ import annotations

import math
import os
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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

# --- times --------------------------------------------------------------------------------

DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=2)


@settings(max_examples=6 * settings().max_examples, deadline=None)
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


@settings(max_examples=3 * settings().max_examples, deadline=None)
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


PATHS = st.text(alphabet="/\\.:aC ~\x00\t\x85é\u00a0\u200b\u2028", max_size=12)


@settings(max_examples=8 * settings().max_examples, deadline=None)
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
    """Each asked twice, the second time after what the first lookups found."""
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
        *("gone/a", "gone/b", "gone//c", "gone/./d", "gone/", "gone/."),  # under one found missing
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


@settings(max_examples=6 * settings().max_examples, deadline=None)
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


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(st.dictionaries(FIELDS, FIELD_VALUES, max_size=5))
def test_failed_checks_are_every_check_field_that_failed(record: dict[str, Any]) -> None:
    expected = [field for field, value in record.items() if value == FAIL and is_check(field)]
    assert failed_checks(record) == expected


HELD_FIELDS = st.sampled_from(["a", "b", "lane", "override_id", "uniqueness_x", "uniqueness_y"])
HELD_VALUES = FIELD_VALUES | st.sampled_from([-0.0, 1, True, "OV-1", "x"])


@settings(max_examples=3 * settings().max_examples, deadline=None)
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
