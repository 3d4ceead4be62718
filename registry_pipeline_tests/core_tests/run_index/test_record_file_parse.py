"""`runs append --record-file`: a pretty-printed object that does not parse is reported with
its own parse error, line and column (never retried as JSONL); a JSONL line that does not parse
gives that line and the parser's column (review item 3)."""

from __future__ import annotations

import json
from pathlib import Path

from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    Cli,
    jsonl,
    record,
    run_id,
    write_input,
)


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
