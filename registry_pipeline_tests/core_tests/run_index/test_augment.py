"""A later record with the same run_id augments the run: `show` gives the newest record's fields,
`--history` every record oldest first; a record at an equal or earlier time is refused, against
the index (exit 1) and within one batch (exit 2); nothing is ever rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.run_index import RunIndex
from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    Cli,
    failing,
    jsonl,
    record,
    run_id,
    utc,
)

RUN = run_id(1)


def test_later_record_augments_and_history_is_oldest_first(cli: Cli, ws: Path) -> None:
    log = ws / RUNS_LOG
    first = failing(run_id=RUN, created_utc=utc(1, 8, 0), notes="first take")
    assert cli.append(first).code == 0
    after_first = log.read_bytes()

    second = record(run_id=RUN, created_utc=utc(1, 9, 30), machine_id="C2")
    appended = cli.append(second)
    assert appended.code == 0, appended.out
    assert (appended.json["appended"], appended.json["augmented"]) == (1, 1)
    after_second = log.read_bytes()
    assert after_second.startswith(after_first)

    third = record(run_id=RUN, created_utc=utc(2, 7, 0), qa_gate3="PASS")
    assert cli.append(third).json["augmented"] == 1
    assert log.read_bytes().startswith(after_second)

    shown = cli.runs("show", RUN, "--json")
    assert shown.code == 0
    assert shown.json == third  # the newest record's fields, exactly
    assert "notes" not in shown.json  # fields are not merged from older records

    history = cli.runs("show", RUN, "--history", "--json")
    assert history.code == 0
    assert history.json == [first, second, third]

    index = RunIndex.open(ws, "run_index")
    try:
        frame = index.show(RUN)
        assert list(frame.index) == [RUN]
        row = frame.loc[RUN]
        assert (row["created_utc"], row["machine_id"], row["qa_gate3"]) == (
            utc(2, 7, 0),
            "C1",  # the third record's, not the second's C2
            "PASS",
        )
        assert row["_records"] == 3
        assert row["_first_utc"] == utc(1, 8, 0)
        assert row["_status"] == "success"
        past = index.show(RUN, history=True)
        assert list(past["created_utc"]) == [utc(1, 8, 0), utc(1, 9, 30), utc(2, 7, 0)]
    finally:
        index.close()

    listed = cli.runs("list", "--json")
    assert listed.run_ids() == [RUN]  # one run, not three


ORDER_WORDS = "ordered by created_utc, then last_updated_utc"


@pytest.mark.parametrize("when", [utc(1, 9, 0), utc(1, 8, 59), utc(1, 7, 0)], ids=str)
def test_equal_or_earlier_time_is_refused_against_the_index(cli: Cli, ws: Path, when: str) -> None:
    assert cli.append(failing(run_id=RUN, created_utc=utc(1, 8, 0))).code == 0
    assert cli.append(record(run_id=RUN, created_utc=utc(1, 9, 0))).code == 0
    before = (ws / RUNS_LOG).read_bytes()

    refused = cli.append(record(run_id=run_id(2)), record(run_id=RUN, created_utc=when))
    assert refused.code == 1, refused.out
    assert refused.error["code"] == "AUGMENT_NOT_LATER"
    assert [(d["line"], d["field"], d["key"], d["code"]) for d in refused.error["details"]] == [
        (2, "/created_utc", RUN, "AUGMENT_NOT_LATER")
    ]
    assert (ws / RUNS_LOG).read_bytes() == before
    assert cli.runs("show", run_id(2), "--json").code == 1  # the valid one was not written
    # the message says the order the index keeps (created first), as docs/RUN_INDEX.md does
    assert ORDER_WORDS in refused.error["details"][0]["message"], refused.error


@pytest.mark.parametrize("offset", [0, -1], ids=["equal", "earlier"])
def test_equal_or_earlier_time_is_refused_within_a_batch(cli: Cli, ws: Path, offset: int) -> None:
    assert cli.append(record(run_id=run_id(9))).code == 0
    before = (ws / RUNS_LOG).read_bytes()
    given = [
        failing(run_id=RUN, created_utc=utc(1, 8, 10)),
        record(run_id=run_id(2), created_utc=utc(1, 8, 0)),
        record(run_id=RUN, created_utc=utc(1, 8, 10 + offset)),
    ]
    refused = cli.append(*given)
    assert refused.code == 2, refused.out
    assert refused.error["code"] == "AUGMENT_NOT_LATER"
    assert [(d["line"], d["key"]) for d in refused.error["details"]] == [(3, RUN)]
    assert ORDER_WORDS in refused.error["details"][0]["message"], refused.error
    assert (ws / RUNS_LOG).read_bytes() == before


def test_a_batch_may_create_and_augment_a_run(cli: Cli, ws: Path) -> None:
    given = [
        failing(run_id=RUN, created_utc=utc(1, 8, 0)),
        record(run_id=run_id(2), created_utc=utc(1, 8, 1)),
        record(run_id=RUN, created_utc=utc(1, 8, 2)),
    ]
    result = cli.append(*given)
    assert result.code == 0, result.out
    assert (result.json["appended"], result.json["augmented"]) == (3, 1)
    assert result.json["keys"] == [RUN, run_id(2), RUN]
    assert (ws / RUNS_LOG).read_bytes() == jsonl(given)  # appended as given, compact
    assert cli.runs("show", RUN, "--json").json["qa_gate2"] == "PASS"


def test_a_batch_later_than_the_index_is_judged_by_its_first_record(cli: Cli, ws: Path) -> None:
    assert cli.append(failing(run_id=RUN, created_utc=utc(1, 9, 0))).code == 0
    before = (ws / RUNS_LOG).read_bytes()
    given = [
        record(run_id=RUN, created_utc=utc(1, 8, 30)),  # earlier than the index's latest
        record(run_id=RUN, created_utc=utc(1, 10, 0)),
    ]
    refused = cli.append(*given)
    assert refused.code == 1
    assert [(d["line"], d["code"]) for d in refused.error["details"]] == [(1, "AUGMENT_NOT_LATER")]
    assert (ws / RUNS_LOG).read_bytes() == before


def test_latest_view_is_the_greatest_time_not_the_last_line(cli: Cli, ws: Path) -> None:
    """A log written by hand out of order (the build's check reports it): the run is still shown
    as its newest record, and its history is oldest first."""
    newest = record(run_id=RUN, created_utc=utc(1, 10, 0))
    older = failing(run_id=RUN, created_utc=utc(1, 8, 0))
    (ws / RUNS_LOG).write_bytes(jsonl([newest, older]))
    assert cli.runs("show", RUN, "--json").json == newest
    assert cli.runs("show", RUN, "--history", "--json").json == [older, newest]
    assert cli.runs("failed", "--json").json == []
    # and the index refuses to add anything not later than the newest
    refused = cli.append(record(run_id=RUN, created_utc=utc(1, 9, 0)))
    assert refused.code == 1
    assert refused.error["code"] == "AUGMENT_NOT_LATER"


def test_equal_times_written_by_hand_the_later_line_is_the_latest(cli: Cli, ws: Path) -> None:
    a = failing(run_id=RUN, created_utc=utc(1, 8, 0), machine_id="C1")
    b = failing(run_id=RUN, created_utc=utc(1, 8, 0), machine_id="C2")
    (ws / RUNS_LOG).write_bytes(jsonl([a, b]))
    assert cli.runs("show", RUN, "--json").json == b
    assert cli.runs("show", RUN, "--history", "--json").json == [a, b]
