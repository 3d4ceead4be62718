"""Seed 004: `run_log_filepath_abs` holds the "Run Log absolute path", and "Run Log absolute path is
stored at Final Save" is a PASS item. A file field must be absolute, in POSIX or Windows form
(the index serves two machines); a record that meets the success predicate (qa_gate2 PASS: the
Final Save, when the work and its versions exist) must carry it. Append and `log_problems`
decide alike."""

from __future__ import annotations

from pathlib import Path, PurePath
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


def _log_problems(ws: Path, data: bytes) -> list[tuple[Any, ...]]:
    return log_rows(ws, data, "line", "field", "code", "severity")


@pytest.mark.parametrize(
    "path",
    [
        "runs/2026/09/RUN_LOG.md",
        "./RUN_LOG.md",
        "RUN_LOG.md",
        "~/runs/RUN_LOG.md",
        "C:runs\\RUN_LOG.md",  # relative to drive C's current folder
        "\\runs\\RUN_LOG.md",  # relative to the current drive
    ],
)
def test_a_relative_run_log_path_is_refused(cli: Cli, ws: Path, path: str) -> None:
    """An error, and no FILE_ABSENT warning beside it."""
    given = record(run_id=run_id(1), run_log_filepath_abs=path)
    refused = cli.append(given)
    assert refused.code == 2, refused.out
    details = refused.error["details"]
    assert [(d["line"], d["field"], d["code"]) for d in details] == [
        (1, FIELD, "PATH_NOT_ABSOLUTE")
    ]
    assert repr(path) in details[0]["message"]
    assert (ws / RUNS_LOG).read_bytes() == b""
    assert _log_problems(ws, jsonl([given])) == [(1, FIELD, "PATH_NOT_ABSOLUTE", "error")]


@pytest.mark.parametrize(
    "path",
    [
        "/srv/c1/runs/RUN_LOG.md",
        "C:\\runs\\2026\\RUN_LOG.md",
        "C:/runs/2026/RUN_LOG.md",
        "\\\\c2\\share\\runs\\RUN_LOG.md",
        "//c2/share/runs/RUN_LOG.md",
    ],
)
def test_an_absolute_path_of_either_machine_is_accepted(cli: Cli, ws: Path, path: str) -> None:
    """Absent on this machine, it is only the FILE_ABSENT warning, and only in this machine's
    form (the other machine's path cannot be looked for here)."""
    given = record(run_id=run_id(1), run_log_filepath_abs=path)
    result = cli.append(given)
    assert result.code == 0, result.out
    native = PurePath(path).is_absolute()
    assert [(w["field"], w["code"]) for w in result.json["warnings"]] == (
        [(FIELD, "FILE_ABSENT")] if native else []
    )
    assert _log_problems(ws, jsonl([given])) == (
        [(1, FIELD, "FILE_ABSENT", "warning")] if native else []
    )


def test_the_run_log_is_required_at_final_save(cli: Cli, ws: Path) -> None:
    saved = record(run_id=run_id(1), run_log_filepath_abs=DROP)
    refused = cli.append(record(run_id=run_id(2)), saved)
    assert refused.code == 2, refused.out
    assert [(d["line"], d["field"], d["code"]) for d in refused.error["details"]] == [
        (2, FIELD, "REQUIRED_AT_FINAL_SAVE")
    ]
    assert (ws / RUNS_LOG).read_bytes() == b""
    assert _log_problems(ws, jsonl([saved])) == [  # not also RECOMMENDED_MISSING
        (1, FIELD, "REQUIRED_AT_FINAL_SAVE", "error")
    ]


def test_before_final_save_the_run_log_is_not_warned_about(cli: Cli, ws: Path) -> None:
    """Seed 004: "Recommended required at Final Save": before it, nothing to say."""
    early = failing(run_id=run_id(1), run_log_filepath_abs=DROP)
    result = cli.append(early)
    assert result.code == 0, result.out
    assert (FIELD, "RECOMMENDED_MISSING") not in {
        (w["field"], w["code"]) for w in result.json["warnings"]
    }
