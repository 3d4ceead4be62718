"""The times and file paths the record checks read, through `registry runs import` (the cases the
unit tests of the removed `parse_times` and `odd_paths` held): a time is TIME_INVALID exactly when
`datetime.fromisoformat` refuses it (any year from 0001 to 9999, months, days, hours and minutes
past their ends, other digits, a date alone, seconds); times order correctly from year 0001 to
9999. Seed 004: `run_log_filepath_abs` holds the "Run Log absolute path", stored at Final Save. A
file field must be absolute, in POSIX or Windows form (the index serves two machines); one that
names no file (relative, a root alone, control characters: the value shown escaped) is refused
with its code, one that does is accepted (FILE_ABSENT only for a path in this machine's form: the
other machine's cannot be looked for here); a record at Final Save (the success predicate) must
carry it. Append and the build's `log_problems` decide alike."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    RUNS_LOG,
    Cli,
    jsonl,
    log_rows,
    record,
    run_id,
    write_input,
)

FIELD = "/run_log_filepath_abs"
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
    "/a\r": "PATH_INVALID",
    "/a\x7fb": "PATH_INVALID",
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


def _codes(problems: list[tuple[int, str, str]], field: str) -> dict[int, set[str]]:
    """Line -> the codes of the (line, field, code) `problems` at `field`."""
    found: dict[int, set[str]] = {}
    for line, at, code in problems:
        if at == field:
            found.setdefault(line, set()).add(code)
    return found


def _details(result: Any) -> list[tuple[int, str, str]]:
    return [(d["line"], d["field"], d["code"]) for d in result.error["details"]]


def test_a_time_is_invalid_exactly_when_fromisoformat_refuses_it(cli: Cli, ws: Path) -> None:
    given = [record(run_id=run_id(n), created_utc=value) for n, value in enumerate(TIMES)]
    refused = _imported(cli, given)
    assert refused.code == 2, refused.out
    times = _codes(_details(refused), "/created_utc")
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
    expected = [(n, "FILE_ABSENT") for n in absent]
    assert [(w["line"], w["code"]) for w in appended.json["warnings"]] == expected
    assert log_rows(ws, jsonl(given), "line", "code") == expected


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_file_fields_that_name_no_file_are_refused_with_their_code(cli: Cli, ws: Path) -> None:
    values = list(INVALID_PATHS)
    given = [record(run_id=run_id(n), run_log_filepath_abs=v) for n, v in enumerate(values)]
    given += [record(run_id=run_id(90), run_log_filepath_abs=value) for value in (None, 1, "")]
    refused = _imported(cli, given)
    assert refused.code == 2, refused.out
    expected = {n: {code} for n, code in enumerate(INVALID_PATHS.values(), start=1)}
    required = {n: {"REQUIRED_AT_FINAL_SAVE"} for n in range(len(values) + 1, len(given) + 1)}
    judged = _codes(log_rows(ws, jsonl(given), "line", "field", "code"), FIELD)
    assert judged == expected | required  # the build's check: no FILE_ABSENT beside them
    # null, a number, empty: not a string the schema takes
    schema = {n: {"REQUIRED_AT_FINAL_SAVE", "SCHEMA_VIOLATION"} for n in required}
    assert _codes(_details(refused), FIELD) == expected | schema
    for detail in refused.error["details"]:  # the value shown escaped
        assert not any(c in detail["message"] for c in "\n\r\t\x00\x7f\x85"), detail
    assert (ws / RUNS_LOG).read_bytes() == b""


def test_the_run_log_is_required_at_final_save(cli: Cli, ws: Path) -> None:
    saved = record(run_id=run_id(1), run_log_filepath_abs=DROP)
    refused = cli.append(record(run_id=run_id(2)), saved)
    assert refused.code == 2, refused.out
    assert _details(refused) == [(2, FIELD, "REQUIRED_AT_FINAL_SAVE")]
    assert (ws / RUNS_LOG).read_bytes() == b""
    assert log_rows(ws, jsonl([saved]), "line", "field", "code", "severity") == [
        (1, FIELD, "REQUIRED_AT_FINAL_SAVE", "error")  # not also RECOMMENDED_MISSING
    ]
