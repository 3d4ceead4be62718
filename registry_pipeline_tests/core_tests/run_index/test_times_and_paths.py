"""The times and file paths the record checks read, through `registry runs import` (the cases the
unit tests of the removed `parse_times` and `odd_paths` held): a time is TIME_INVALID exactly when
`datetime.fromisoformat` refuses it (any year from 0001 to 9999, months, days, hours and minutes
past their ends, other digits, a date alone, seconds); times order correctly from year 0001 to
9999; a file field that names no file is refused with its code, and one that does is accepted
(FILE_ABSENT only for a path in this machine's form)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    Cli,
    record,
    run_id,
    write_input,
)

TIMES: list[Any] = [
    *(f"{year}-09-01T08:00Z" for year in ("2026", "1970", "0001", "9999", "٢٠٢٦")),
    *(f"2026-{month}-01T08:00Z" for month in ("00", "01", "12", "13")),
    *(f"2026-01-{day}T08:00Z" for day in ("00", "01", "31", "32")),
    "2026-02-29T08:00Z",
    "2024-02-29T08:00Z",
    *(f"2026-09-01T{hour}:00Z" for hour in ("00", "23", "24", "25")),
    *(f"2026-09-01T08:{minute}Z" for minute in ("00", "59", "60", "61")),
    "2026-09-01T08:00:30Z",
    "2026-09-01T08:00:60Z",
    "2026-09-01",
    "2026-9-1T8:00Z",
    "",
    "x" * 17,
    None,
    5,
]

VALID_PATHS = ["/srv/a/RUN_LOG.md", "/a.", "/a ", "/ ", "/~", "/é", "/a/..", "/a\\b", "C:\\x",
               "C:/x", "\\\\server\\share\\x", "/a:b", "//a", "/a/.", "/a/"]  # fmt: skip
INVALID_PATHS = {
    "/": "PATH_INVALID",
    "//": "PATH_INVALID",
    "/.": "PATH_INVALID",
    "C:\\": "PATH_INVALID",
    "C:/": "PATH_INVALID",
    "/a\nb": "PATH_INVALID",
    "/a\tb": "PATH_INVALID",
    "/a\x85b": "PATH_INVALID",
    "/a\x00": "PATH_INVALID",
    "x/y": "PATH_NOT_ABSOLUTE",
    "~": "PATH_NOT_ABSOLUTE",
    ".": "PATH_NOT_ABSOLUTE",
    "é": "PATH_NOT_ABSOLUTE",
    "C:": "PATH_NOT_ABSOLUTE",
    "C:a": "PATH_NOT_ABSOLUTE",
    "\\a": "PATH_NOT_ABSOLUTE",
    "a:b": "PATH_NOT_ABSOLUTE",
    " /a": "PATH_NOT_ABSOLUTE",
}


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _imported(cli: Cli, records: list[dict[str, Any]]) -> Any:
    return cli.runs("import", write_input(cli.root.parent, records), "--json")


def _codes(result: Any, field: str) -> dict[int, set[str]]:
    """Input line -> the codes of the problems the refusal lists at `field`."""
    found: dict[int, set[str]] = {}
    for detail in result.error["details"]:
        if detail["field"] == field:
            found.setdefault(detail["line"], set()).add(detail["code"])
    return found


def test_a_time_is_invalid_exactly_when_fromisoformat_refuses_it(cli: Cli, ws: Path) -> None:
    given = [record(run_id=run_id(n), created_utc=value) for n, value in enumerate(TIMES)]
    refused = _imported(cli, given)
    assert refused.code == 2, refused.out
    times = _codes(refused, "/created_utc")
    invalid = {n for n, value in enumerate(TIMES, start=1) if "TIME_INVALID" in times.get(n, ())}
    assert invalid == {n for n, value in enumerate(TIMES, start=1) if not _is_time(value)}
    assert (ws / RUNS_LOG).read_bytes() == b""


def test_times_order_from_year_one_to_9999(cli: Cli, ws: Path) -> None:
    stamps = ["0001-01-01T00:00Z", "1970-01-01T00:00Z", "2024-02-29T23:59Z", "9999-12-31T23:59Z"]
    given = [record(run_id=run_id(1), created_utc=stamp) for stamp in stamps]
    refused = _imported(cli, given[::-1])
    assert refused.code == 2, refused.out
    assert refused.detail_codes() == ["AUGMENT_NOT_LATER"] * 3
    appended = _imported(cli, given)
    assert appended.code == 0, appended.out
    assert (appended.json["appended"], appended.json["augmented"]) == (4, 3)


def test_file_fields_that_name_a_file_are_accepted(cli: Cli, ws: Path) -> None:
    given = [record(run_id=run_id(n), run_log_filepath_abs=v) for n, v in enumerate(VALID_PATHS)]
    appended = _imported(cli, given)
    assert appended.code == 0, appended.out
    native = [v.startswith("/") if os.name != "nt" else v[1:2] == ":" for v in VALID_PATHS]
    absent = [n for n, mine in enumerate(native, start=1) if mine]
    assert [(w["line"], w["code"]) for w in appended.json["warnings"]] == [
        (n, "FILE_ABSENT") for n in absent
    ]


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_file_fields_that_name_no_file_are_refused_with_their_code(cli: Cli, ws: Path) -> None:
    values = list(INVALID_PATHS)
    given = [record(run_id=run_id(n), run_log_filepath_abs=v) for n, v in enumerate(values)]
    given += [record(run_id=run_id(90), run_log_filepath_abs=value) for value in (None, 1, "")]
    refused = _imported(cli, given)
    assert refused.code == 2, refused.out
    found = _codes(refused, "/run_log_filepath_abs")
    expected = {n: {code} for n, code in enumerate(INVALID_PATHS.values(), start=1)}
    at = len(values)
    for n in (at + 1, at + 2, at + 3):  # null, a number, empty: not a string the schema takes
        expected[n] = {"REQUIRED_AT_FINAL_SAVE", "SCHEMA_VIOLATION"}
    assert found == expected
    assert (ws / RUNS_LOG).read_bytes() == b""
