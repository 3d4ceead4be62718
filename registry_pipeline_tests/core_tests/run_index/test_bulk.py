"""Bulk appends are all or nothing: one bad record among many refuses them all (exit 2, its line
and field named, the log byte-identical); fixed, they are all appended in one go. A JSON object
spread over several lines is one record; one that does not parse is reported with its own parse
error, line and column (never retried as JSONL), as a JSONL line that does not parse gives that
line and the parser's column (review item 3)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    Cli,
    jsonl,
    record,
    run_id,
    write_input,
)

COUNT = 400
BAD = 217


def _many() -> list[dict[str, Any]]:
    return [
        record(run_id=run_id(n), created_utc=f"2026-09-01T{n // 60 % 24:02d}:{n % 60:02d}Z")
        for n in range(COUNT)
    ]


def test_one_invalid_record_in_the_middle_refuses_all(
    cli: Cli, ws: Path, tmp_path: Path, seeded: bytes
) -> None:
    records = _many()
    records[BAD - 1] = {**records[BAD - 1], "qa_gate2": "PASSED"}
    given = write_input(tmp_path, records, "bad.jsonl")
    result = cli.runs("append", "--record-file", given, "--json")
    assert result.code == 2
    assert result.error["code"] == "SCHEMA_VIOLATION"
    assert [(d["line"], d["field"], d["key"]) for d in result.error["details"]] == [
        (BAD, "/qa_gate2", run_id(BAD - 1))
    ]
    assert (ws / RUNS_LOG).read_bytes() == seeded
    assert cli.runs("list", "--json").run_ids() == ["RUN-20260831-0000-SEED"]

    human = cli.runs("append", "--record-file", given)
    assert human.code == 2
    assert re.search(rf"\bline {BAD}\b", human.err)
    assert "/qa_gate2" in human.err
    assert (ws / RUNS_LOG).read_bytes() == seeded

    records[BAD - 1]["qa_gate2"] = "PASS"
    fixed = write_input(tmp_path, records, "fixed.jsonl")
    done = cli.runs("append", "--record-file", fixed, "--json")
    assert done.code == 0, done.out
    assert (done.json["appended"], done.json["augmented"]) == (COUNT, 0)
    assert done.json["bytes"] == len(jsonl(records))
    data = (ws / RUNS_LOG).read_bytes()
    assert data == seeded + jsonl(records)
    assert len(data.splitlines()) == COUNT + 1
    assert len(cli.runs("list", "--json").json) == COUNT + 1


def test_blank_lines_count_in_line_numbers(
    cli: Cli, ws: Path, tmp_path: Path, seeded: bytes
) -> None:
    good, bad = record(run_id=run_id(1)), record(run_id=run_id(2), machine_id="C9")
    data = b"\n" + jsonl([good]) + b"\n\n" + jsonl([bad])
    result = cli.runs("append", "--record-file", write_input(tmp_path, data), "--json")
    assert result.code == 2
    assert [d["line"] for d in result.error["details"]] == [5]
    fixed = data.replace(b'"C9"', b'"C2"')
    done = cli.runs("append", "--record-file", write_input(tmp_path, fixed, "f.jsonl"), "--json")
    assert done.code == 0
    assert done.json["appended"] == 2
    assert (ws / RUNS_LOG).read_bytes() == seeded + jsonl([good, {**bad, "machine_id": "C2"}])


def test_one_object_on_several_lines_is_one_record(
    cli: Cli, ws: Path, tmp_path: Path, seeded: bytes
) -> None:
    given = record(run_id=run_id(1), notes="spread\nover lines")
    pretty = json.dumps(given, indent=2).encode() + b"\n"
    assert pretty.count(b"\n") > 10
    done = cli.runs("append", "--record-file", write_input(tmp_path, pretty, "p.json"), "--json")
    assert done.code == 0, done.out
    assert (done.json["appended"], done.json["keys"]) == (1, [run_id(1)])
    assert (ws / RUNS_LOG).read_bytes() == seeded + jsonl([given])
    assert cli.runs("show", run_id(1), "--json").json == given

    invalid = json.dumps({**given, "run_id": run_id(2), "machine_id": "C7"}, indent=2).encode()
    result = cli.runs("append", "--record-file", write_input(tmp_path, invalid, "i.json"), "--json")
    assert result.code == 2
    assert [(d["line"], d["field"]) for d in result.error["details"]] == [(1, "/machine_id")]


def test_empty_input_is_refused(cli: Cli, ws: Path, tmp_path: Path, seeded: bytes) -> None:
    for data in (b"", b"\n\n  \n"):
        result = cli.runs("append", "--record-file", write_input(tmp_path, data), "--json")
        assert result.code == 2
        assert result.error["code"] == "NO_RECORDS"
    missing = cli.runs("append", "--record-file", str(tmp_path / "absent.jsonl"), "--json")
    assert missing.code == 2
    assert missing.error["code"] == "RECORD_FILE_UNREADABLE"
    assert (ws / RUNS_LOG).read_bytes() == seeded


def test_a_pretty_printed_object_that_does_not_parse_names_its_line_and_column(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    text = json.dumps(record(run_id=run_id(1)), indent=2).splitlines()
    text.insert(3, '  "broken": ,')
    result = cli.runs(
        "append", "--record-file", write_input(tmp_path, ("\n".join(text) + "\n").encode()),
        "--json",
    )  # fmt: skip
    assert result.code == 2, result.out
    assert result.error["code"] == "RECORD_UNPARSABLE"
    assert (result.error["line"], result.error["column"]) == (4, 13)
    assert "Expecting value" in result.error["message"]
    assert not (ws / RUNS_LOG).exists() or (ws / RUNS_LOG).read_bytes() == b""


def test_a_jsonl_line_that_does_not_parse_names_its_line_and_column(
    cli: Cli, tmp_path: Path
) -> None:
    data = jsonl([record(run_id=run_id(1)), record(run_id=run_id(2))]) + b'{"run_id": }\n'
    result = cli.runs("append", "--record-file", write_input(tmp_path, data), "--json")
    assert result.code == 2, result.out
    assert (result.error["line"], result.error["column"]) == (3, 12)
