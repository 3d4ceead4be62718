"""Seed 004 lists `scripture_packet_id`, `work_id`, `version_ids`, `run_log_filepath_abs` as
"Recommended required at Final Save": RECOMMENDED_MISSING warns only for a record at Final Save
(the success predicate). FILE_ABSENT is only said of a path in this machine's form (a Windows
path cannot be looked for on POSIX, nor the reverse). A file field holding control characters,
or a root alone, names no file: PATH_INVALID (exit 2), the value shown escaped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    RUNS_LOG,
    Cli,
    failing,
    jsonl,
    log_rows,
    record,
    run_id,
)

FIELD = "/run_log_filepath_abs"
FOREIGN = "/srv/c1/runs/RUN_LOG.md" if os.name == "nt" else "C:\\runs\\2026\\RUN_LOG.md"
NATIVE_ABSENT = "C:\\no\\such\\RUN_LOG.md" if os.name == "nt" else "/no/such/RUN_LOG.md"


def _log_problems(ws: Path, data: bytes) -> list[tuple[Any, ...]]:
    return log_rows(ws, data, "line", "field", "code", "severity")


def test_recommended_fields_are_not_warned_before_final_save(cli: Cli, ws: Path) -> None:
    early = failing(run_id=run_id(1), scripture_packet_id=DROP, run_log_filepath_abs=DROP)
    result = cli.append(early)
    assert result.code == 0, result.out
    assert result.json["warnings"] == []
    assert _log_problems(ws, jsonl([early])) == []


def test_recommended_fields_are_warned_at_final_save(cli: Cli, ws: Path) -> None:
    saved = record(run_id=run_id(1), scripture_packet_id=DROP)
    result = cli.append(saved)
    assert result.code == 0, result.out
    assert [(w["field"], w["code"]) for w in result.json["warnings"]] == [
        ("/scripture_packet_id", "RECOMMENDED_MISSING")
    ]
    assert _log_problems(ws, jsonl([saved])) == [
        (1, "/scripture_packet_id", "RECOMMENDED_MISSING", "warning")
    ]


def test_a_path_of_the_other_machine_is_not_looked_for(cli: Cli, ws: Path) -> None:
    foreign = record(run_id=run_id(1), run_log_filepath_abs=FOREIGN)
    native = record(run_id=run_id(2), run_log_filepath_abs=NATIVE_ABSENT)
    result = cli.append(foreign, native)
    assert result.code == 0, result.out
    assert [(w["line"], w["code"]) for w in result.json["warnings"]] == [(2, "FILE_ABSENT")]
    assert _log_problems(ws, jsonl([foreign, native])) == [(2, FIELD, "FILE_ABSENT", "warning")]


@pytest.mark.parametrize(
    "path",
    [
        "/srv/runs/RUN\nLOG.md",
        "/srv/runs/RUN_LOG.md\r",
        "C:\\runs\\\x00RUN_LOG.md",
        "/srv/\tRUN_LOG.md",
        "/srv/\x7fRUN_LOG.md",
        "/",
        "//",
        "C:\\",
        "C:/",
    ],
)
def test_a_control_character_or_a_root_alone_is_refused(cli: Cli, ws: Path, path: str) -> None:
    given = record(run_id=run_id(1), run_log_filepath_abs=path)
    refused = cli.append(given)
    assert refused.code == 2, refused.out
    details = refused.error["details"]
    assert [(d["line"], d["field"], d["code"]) for d in details] == [(1, FIELD, "PATH_INVALID")]
    assert repr(path) in details[0]["message"]
    assert not any(c in details[0]["message"] for c in "\n\r\x00\t\x7f")
    assert (ws / RUNS_LOG).read_bytes() == b""
    assert _log_problems(ws, jsonl([given])) == [(1, FIELD, "PATH_INVALID", "error")]
