"""Seed 004: "If any uniqueness check is `FAIL`, `qa_gate2` should not be `PASS` unless an
override was logged". The override a passing record names must exist, name this run and cover
every uniqueness check that FAILed: one problem per fact, the same from `registry runs append`
(one record, a batch) and from the build's `log_problems`."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.run_index import RunIndex
from registry_pipeline.core.run_index.records import RecordsError
from registry_pipeline_tests.core_tests.run_index._support import (
    COORDINATION,
    OVERRIDES_LOG,
    RULE,
    RUNS_LOG,
    Cli,
    found,
    jsonl,
    log_rows,
    override,
    record,
    run_id,
)

OVR = "OVR-20260901-0900-OOOO"
OTHER = "OVR-20260901-0901-XXXX"


@pytest.fixture
def logged(ws: Path) -> Path:
    """The overrides log: OVR for run 1 covering uniqueness_scene, OTHER for run 2 covering
    uniqueness_hook."""
    (ws / OVERRIDES_LOG).write_bytes(
        jsonl(
            [
                override(override_id=OVR, run_id=run_id(1), checks=["uniqueness_scene"]),
                override(
                    override_id=OTHER,
                    created_utc="2026-09-01T09:01Z",
                    run_id=run_id(2),
                    checks=["uniqueness_hook"],
                ),
            ]
        )
    )
    return ws


def _log_errors(ws: Path, data: bytes) -> list[tuple[Any, ...]]:
    return log_rows(ws, data, "line", "field", "code", errors=True)


def test_override_of_another_run_for_another_check_is_refused(
    cli: Cli, ws: Path, logged: Path
) -> None:
    given = record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=OTHER)
    refused = cli.append(given)
    assert refused.code == 1, refused.out
    assert refused.error["code"] == "RECORD_REFUSED"
    details = refused.error["details"]
    assert found(details) == [
        (1, "/override_id", "OVERRIDE_OTHER_RUN"),
        (1, "/uniqueness_scene", "OVERRIDE_NOT_COVERING"),
    ]
    assert {d["key"] for d in details} == {run_id(1)}
    assert (ws / RUNS_LOG).read_bytes() == b""
    assert _log_errors(ws, jsonl([given])) == found(details)


def test_one_problem_per_uncovered_check(cli: Cli, ws: Path, logged: Path) -> None:
    given = record(
        run_id=run_id(1),
        uniqueness_hook="FAIL",
        uniqueness_scene="FAIL",
        uniqueness_scripture="FAIL",
        override_id=OVR,
    )
    refused = cli.append(record(run_id=run_id(5)), given)
    assert refused.code == 1
    assert found(refused.error["details"]) == [
        (2, "/uniqueness_hook", "OVERRIDE_NOT_COVERING"),
        (2, "/uniqueness_scripture", "OVERRIDE_NOT_COVERING"),
    ]
    assert (ws / RUNS_LOG).read_bytes() == b""
    assert _log_errors(ws, jsonl([record(run_id=run_id(5)), given])) == found(
        refused.error["details"]
    )


def test_an_override_needs_no_coverage_when_gate2_did_not_pass(
    cli: Cli, ws: Path, logged: Path
) -> None:
    """The rule bites only on a passing record: a failed gate 2 with a failed check is simply a
    failed run, whatever override it names."""
    given = record(
        run_id=run_id(1),
        qa_gate2="FAIL",
        uniqueness_hook="FAIL",
        override_id=OTHER,
    )
    assert cli.append(given).code == 0


def test_a_bulk_append_judges_every_record(cli: Cli, ws: Path, logged: Path) -> None:
    given = [record(run_id=run_id(n, day=2)) for n in range(1, 40)]
    given[17] = record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=OVR)
    given[30] = record(run_id=run_id(2), uniqueness_scene="FAIL", override_id=OTHER)
    refused = cli.append(*given)
    assert refused.code == 1
    assert found(refused.error["details"]) == [(31, "/uniqueness_scene", "OVERRIDE_NOT_COVERING")]


def test_an_absent_override_is_one_problem(cli: Cli, ws: Path, logged: Path) -> None:
    """With the coordination rule `run-override-exists`, its finding is the one said; without a
    coordination file the index says OVERRIDE_NOT_LOGGED itself."""
    absent = "OVR-20260901-0902-NONE"
    given = record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=absent)
    refused = cli.append(given)
    assert found(refused.error["details"]) == [(1, "/override_id", "run-override-exists")]

    (ws / COORDINATION).write_text('version: "0.1"\nrules: []\n', encoding="utf-8")
    alone = cli.append(given)
    assert alone.code == 1
    details = alone.error["details"]
    assert found(details) == [(1, "/override_id", "OVERRIDE_NOT_LOGGED")]
    assert absent in details[0]["message"]
    assert _log_errors(ws, jsonl([given])) == [(1, "/override_id", "OVERRIDE_NOT_LOGGED")]

    warning = RULE.replace("severity: error", "severity: warning")
    assert warning != RULE
    (ws / COORDINATION).write_text(warning, encoding="utf-8")
    warned = cli.append(given)  # a rule that only warns does not relax the index's own
    assert warned.code == 1
    assert found(warned.error["details"]) == [(1, "/override_id", "OVERRIDE_NOT_LOGGED")]


@pytest.fixture
def without_schema_rule(ws: Path) -> Iterator[Path]:
    """The run schema's if/then requiring an override_id removed (the rule is the index's too)."""
    import json

    path = ws / "schemas" / "run_index_record.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["allOf"] = schema["allOf"][:1]
    path.write_text(json.dumps(schema), encoding="utf-8")
    yield ws


def test_a_passing_record_without_override_is_refused_by_the_index_too(
    cli: Cli, without_schema_rule: Path
) -> None:
    given = record(run_id=run_id(1), uniqueness_hook="FAIL")
    refused = cli.append(given)
    assert refused.code == 1
    assert found(refused.error["details"]) == [(1, "/override_id", "OVERRIDE_MISSING")]
    assert _log_errors(without_schema_rule, jsonl([given])) == [
        (1, "/override_id", "OVERRIDE_MISSING")
    ]


class Verdict(StrEnum):
    PASS = "PASS"


def test_the_python_api_judges_a_record_as_its_line_reads_back(without_schema_rule: Path) -> None:
    """A value of a `str` subclass is written as the string: the rules (and the sidecar's marks)
    judge that string, so a passing record without its override is refused here too."""
    given = record(run_id=run_id(1), uniqueness_hook="FAIL", qa_gate2=Verdict.PASS)
    index = RunIndex.open(without_schema_rule, "run_index")
    try:
        with pytest.raises(RecordsError) as refused:
            index.append([given])
    finally:
        index.close()
    assert [(p.line, p.field, p.code) for p in refused.value.problems] == [
        (1, "/override_id", "OVERRIDE_MISSING")
    ]
