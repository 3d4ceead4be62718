"""`registry_pipeline.core.run_index.log_problems`, the build's rules check over a whole log, on
crafted logs: each kind of damage gives its code at its line; a clean log gives no error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.gen_run_index import generate
from registry_pipeline.core.errors import Problem
from registry_pipeline.core.run_index import RunIndex, log_problems
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    OVERRIDES_LOG,
    failing,
    jsonl,
    line,
    override,
    record,
    run_id,
    utc,
)

OVR = "OVR-20260901-0900-OOOO"
DROP_KEY = ""
"""An empty run_id: not a usable key."""


@pytest.fixture
def index(ws: Path) -> Iterator[RunIndex]:
    opened = RunIndex.open(ws, "run_index")
    yield opened
    opened.close()


def _problems(index: RunIndex, data: bytes) -> list[Problem]:
    return log_problems(index.root, index.catalog, index.spec, data)


def _errors(index: RunIndex, data: bytes) -> list[tuple[int, str]]:
    return [(p.line, p.code) for p in _problems(index, data) if p.severity == "error"]


def test_clean_log_has_no_problem(index: RunIndex) -> None:
    data = jsonl(
        [
            failing(
                run_id=run_id(1),
                created_utc=utc(1, 8),
                work_id="WORK-20260901-0800-B5KC",
                version_ids=["VER-20260901-0800-URMH"],
            ),
            record(run_id=run_id(2), created_utc=utc(1, 9)),
            record(run_id=run_id(1), created_utc=utc(1, 10)),
        ]
    )
    assert _problems(index, data) == []
    assert _problems(index, b"") == []


def test_clean_generated_log_has_no_error(ws: Path, index: RunIndex) -> None:
    """The generated log's only errors: overrides not logged yet, and passing records without
    their run log (REQUIRED_AT_FINAL_SAVE, as far as the generator writes such records)."""
    lines, overrides = generate(500, seed=2, start="2026-01-01T00:00Z")
    data = "".join(lines).encode()
    unsaved = [
        (number, "REQUIRED_AT_FINAL_SAVE")
        for number, text in enumerate(data.decode().splitlines(), start=1)
        if (value := json.loads(text))["qa_gate2"] == "PASS" and "run_log_filepath_abs" not in value
    ]
    assert overrides  # the generated runs name overrides, which must exist
    without = [p for p in _problems(index, data) if p.code != "REQUIRED_AT_FINAL_SAVE"]
    without = [p for p in without if p.severity == "error"]
    assert len(without) == len({r["override_id"] for r in overrides})
    assert {p.code for p in without} == {"run-override-exists"}
    (ws / OVERRIDES_LOG).write_bytes(jsonl(overrides))
    assert _errors(index, data) == unsaved


def test_missing_override(ws: Path, index: RunIndex) -> None:
    data = jsonl(
        [
            record(run_id=run_id(1)),
            record(run_id=run_id(2), uniqueness_scene="FAIL", override_id=OVR),
        ]
    )
    problems = [p for p in _problems(index, data) if p.severity == "error"]
    assert [(p.line, p.code, p.field, *p.subject) for p in problems] == [
        (2, "run-override-exists", "/override_id", run_id(2))
    ]
    (ws / OVERRIDES_LOG).write_bytes(line(override(override_id=OVR, run_id=run_id(2))))
    fresh = RunIndex.open(ws, "run_index")
    try:
        assert _errors(fresh, data) == []
    finally:
        fresh.close()


def test_torn_line(index: RunIndex) -> None:
    complete = jsonl([record(run_id=run_id(1)), record(run_id=run_id(2))])
    torn = complete + line(record(run_id=run_id(3)))[:60]
    assert _errors(index, torn) == [(3, "LOG_TORN")]
    assert _errors(index, complete + b"{") == [(3, "LOG_TORN")]
    assert _errors(index, b'{"run_id"') == [(1, "LOG_TORN")]


def test_unusable_key_and_time_and_not_an_object(index: RunIndex) -> None:
    data = b"".join(
        [
            line(record(run_id=run_id(1))),
            line([1, 2]),
            line(record(run_id=DROP_KEY)),
            line(record(run_id=run_id(2), created_utc="soon")),
        ]
    )
    assert _errors(index, data) == [
        (2, "RECORD_NOT_OBJECT"),
        (3, "KEY_MISSING"),
        (4, "TIME_INVALID"),
    ]


def test_every_kind_at_once_sorted_by_line(index: RunIndex) -> None:
    data = (
        jsonl(
            [
                record(run_id=run_id(1), created_utc=utc(1, 9)),
                record(run_id=run_id(2), created_utc=utc(1, 9)),
                record(run_id=run_id(1), created_utc=utc(1, 8)),  # earlier
                record(run_id=run_id(2), created_utc=utc(1, 9)),  # equal
                record(run_id=run_id(1), created_utc=utc(1, 10)),  # later than line 1: fine
                record(run_id=run_id(3), uniqueness_hook="FAIL", override_id=OVR),
            ]
        )
        + b"oops\n"
        + b'{"record_type":"RUN"'
    )
    problems = [p for p in _problems(index, data) if p.severity == "error"]
    assert [(p.line, p.code, p.field, *p.subject) for p in problems] == [
        (3, "AUGMENT_NOT_LATER", "/created_utc", run_id(1)),
        (4, "AUGMENT_NOT_LATER", "/created_utc", run_id(2)),
        (6, "run-override-exists", "/override_id", run_id(3)),
        (7, "RECORD_UNPARSABLE", ""),
        (8, "LOG_TORN", ""),
    ]


def test_warnings_only_for_each_runs_latest_view(index: RunIndex) -> None:
    """Recommended fields are judged on a run's latest view, and only at Final Save: an early
    record without its scripture packet is not warned about once a later record has it, nor
    a run whose qa_gate2 FAILed."""
    data = jsonl(
        [
            record(run_id=run_id(1), created_utc=utc(1, 8), scripture_packet_id=DROP),
            record(run_id=run_id(1), created_utc=utc(1, 9)),
            failing(run_id=run_id(2), created_utc=utc(1, 9), run_log_filepath_abs="/no/such"),
            record(run_id=run_id(3), created_utc=utc(1, 10), scripture_packet_id=DROP),
        ]
    )
    warnings = {(p.line, p.field, p.code) for p in _problems(index, data)}
    assert warnings == {
        (3, "/run_log_filepath_abs", "FILE_ABSENT"),
        (4, "/scripture_packet_id", "RECOMMENDED_MISSING"),
    }
    assert {p.severity for p in _problems(index, data)} == {"warning"}


def test_a_log_with_more_warnings_than_are_listed_lists_the_first_and_counts_the_rest(
    index: RunIndex, tmp_path: Path
) -> None:
    """Past MAX_WARNINGS the check lists no more warnings, one MORE_WARNINGS counting them: the
    listed ones are the log's first, each at its line, naming its run."""
    from registry_pipeline.core.run_index.log_check import MAX_WARNINGS

    missing = str(tmp_path / "absent" / "RUN_LOG.md")
    extra = 7
    records = [
        record(run_id=run_id(n, day=1 + n // 1440), run_log_filepath_abs=missing)
        for n in range(MAX_WARNINGS + extra)
    ]
    problems = _problems(index, jsonl(records))
    warnings = [p for p in problems if p.code == "FILE_ABSENT"]
    assert [p.line for p in warnings] == list(range(1, MAX_WARNINGS + 1))
    assert warnings[0].subject == (run_id(0),)
    assert all(p.severity == "warning" for p in warnings)
    (more,) = [p for p in problems if p.code == "MORE_WARNINGS"]
    assert more.message == f"{extra} more warning(s)"
    assert not [p for p in problems if p.severity == "error"]


@pytest.mark.parametrize("code", ["DEPENDENCY_NOT_SEALED", "SCHEMA_VIOLATION"])
def test_an_unreadable_registry_is_said_not_judged(index: RunIndex, code: str) -> None:
    """A registry the rules read that cannot be read (the build: its snapshot) is
    DEPENDENCY_UNREADABLE, or DEPENDENCY_NOT_SEALED as the reader said, naming what is not
    checked: for the overrides log and for the coordination rules alike."""
    from registry_pipeline.core.write_path import TypeContent
    from registry_pipeline.core.write_path.content import EntryType, Keep, finding

    def read(_root: Path, entry_type: EntryType, keep: Keep | None = None) -> TypeContent:
        content = TypeContent(entry_type)
        problem = finding(code, "error", entry_type.name, None, "", "gone", entry_type.source)
        content.problems.append(problem)
        return content

    data = jsonl([record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=OVR)])
    found = log_problems(index.root, index.catalog, index.spec, data, read)
    said = {(p.code, p.message) for p in found if p.code.startswith("DEPENDENCY_")}
    assert (
        "DEPENDENCY_UNREADABLE",
        "the overrides log cannot be read (gone): overrides not checked",
    ) in said
    kept = code if code == "DEPENDENCY_NOT_SEALED" else "DEPENDENCY_UNREADABLE"
    assert {
        c for c, m in said if m.endswith("cannot be read (gone): coordination not checked")
    } == {kept}
