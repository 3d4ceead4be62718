"""A later record with the same run_id augments the run (seed 004: "append a newer RUN record with
same `run_id` and later `created_utc` or add `last_updated_utc`"). Records of a run are ordered by
(created_utc, last_updated_utc), lexicographically (an absent last_updated_utc counts as
created_utc): a record augments the run when it comes after the run's latest in that order, else
it is refused, against the index (exit 1) and within one batch (exit 2). `show` gives the newest
record's fields, `--history` every record in that order; append, the build's `log_problems` and
the sidecar's latest view agree; nothing is ever rewritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.run_index import RunIndex
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    RUNS_LOG,
    Cli,
    failing,
    jsonl,
    log_rows,
    record,
    run_id,
    utc,
)

RUN = run_id(1)
ORDER_WORDS = "ordered by created_utc, then last_updated_utc"


def _run(created: str, updated: str | None = None, **fields: Any) -> dict[str, Any]:
    return record(run_id=RUN, created_utc=created, last_updated_utc=updated or DROP, **fields)


def _log_errors(ws: Path, data: bytes) -> list[tuple[Any, ...]]:
    return log_rows(ws, data, "line", "code", errors=True)


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


# (the run's latest record, the record appended after it, whether it augments)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
    "same-created-later-updated": (
        _run(utc(1, 8)),
        _run(utc(1, 8), utc(1, 9), notes="second version"),
        True,
    ),
    "same-created-updated-again": (
        _run(utc(1, 8), utc(1, 9)),
        _run(utc(1, 8), utc(1, 10)),
        True,
    ),
    "later-created-no-updated": (_run(utc(1, 8)), _run(utc(1, 9)), True),
    "earlier-created-later-updated": (  # created earlier: never later (review item 2)
        _run(utc(1, 9)),
        _run(utc(1, 8), utc(1, 10)),
        False,
    ),
    "same-written-later-created": (_run(utc(1, 8), utc(1, 10)), _run(utc(1, 10)), True),
    "later-created-than-an-updated-latest": (  # created 11:00 after one created 09:00,
        _run(utc(1, 9), utc(1, 12)),  # updated 12:00: later (review item 2)
        _run(utc(1, 11)),
        True,
    ),
    "same-created-same-updated": (
        _run(utc(1, 8), utc(1, 9)),
        _run(utc(1, 8), utc(1, 9), notes="the same moment"),  # not byte for byte: no retry
        False,
    ),
    "same-created-no-updated": (_run(utc(1, 8), utc(1, 8)), _run(utc(1, 8)), False),
    "same-written-earlier-created": (_run(utc(1, 9)), _run(utc(1, 8), utc(1, 9)), False),
}


@pytest.mark.parametrize("case", CASES)
def test_augment_order_against_the_index(cli: Cli, ws: Path, case: str) -> None:
    latest, given, later = CASES[case]
    assert cli.append(latest).code == 0
    before = (ws / RUNS_LOG).read_bytes()
    result = cli.append(record(run_id=run_id(2)), given)
    if later:
        assert result.code == 0, result.out
        assert result.json["augmented"] == 1
        assert cli.runs("show", RUN, "--json").json == given
        assert cli.runs("show", RUN, "--history", "--json").json == [latest, given]
    else:
        assert result.code == 1, result.out
        assert result.error["code"] == "AUGMENT_NOT_LATER"
        details = result.error["details"]
        assert [(d["line"], d["key"], d["code"]) for d in details] == [
            (2, RUN, "AUGMENT_NOT_LATER")
        ]
        assert ORDER_WORDS in details[0]["message"]  # the order docs/RUN_INDEX.md gives
        assert (ws / RUNS_LOG).read_bytes() == before
        assert cli.runs("show", RUN, "--json").json == latest
        assert cli.runs("show", run_id(2), "--json").code == 1  # the valid one not written
    assert _log_errors(ws, jsonl([latest, given])) == ([] if later else [(2, "AUGMENT_NOT_LATER")])


@pytest.mark.parametrize("case", CASES)
def test_augment_order_within_a_batch(cli: Cli, ws: Path, seeded: bytes, case: str) -> None:
    latest, given, later = CASES[case]
    result = cli.append(latest, record(run_id=run_id(2)), given)
    assert result.code == (0 if later else 2), result.out
    if later:
        assert (result.json["appended"], result.json["augmented"]) == (3, 1)
        assert result.json["keys"] == [RUN, run_id(2), RUN]
        assert (ws / RUNS_LOG).read_bytes() == seeded + jsonl(
            [latest, record(run_id=run_id(2)), given]
        )
        assert cli.runs("show", RUN, "--json").json == given
    else:
        assert [(d["line"], d["key"], d["code"]) for d in result.error["details"]] == [
            (3, RUN, "AUGMENT_NOT_LATER")
        ]
        assert (ws / RUNS_LOG).read_bytes() == seeded


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


def test_a_hand_written_log_shows_the_greatest_time_not_the_last_line(cli: Cli, ws: Path) -> None:
    """Out of order by hand (the build's check reports it): the latest view is the greatest
    (created, updated), ties the later line; the history is in that order too; the index refuses
    to add anything not later than the newest."""
    newest = _run(utc(1, 10), notes="newest")
    middle = _run(utc(1, 8), utc(1, 11))
    oldest = failing(run_id=RUN, created_utc=utc(1, 8), machine_id="C2")
    tie = failing(run_id=RUN, created_utc=utc(1, 8), machine_id="C1")  # a later line, same time
    (ws / RUNS_LOG).write_bytes(jsonl([newest, oldest, tie, middle]))
    assert cli.runs("show", RUN, "--json").json == newest
    assert cli.runs("show", RUN, "--history", "--json").json == [oldest, tie, middle, newest]
    assert cli.runs("list", "--json").json == [newest]
    assert cli.runs("failed", "--json").json == []
    index = RunIndex.open(ws, "run_index")
    try:
        frame = index.show(RUN)
        assert frame.loc[RUN, "_first_utc"] == utc(1, 8)
        assert frame.loc[RUN, "notes"] == "newest"
    finally:
        index.close()
    refused = cli.append(_run(utc(1, 9, 30)))
    assert (refused.code, refused.error["code"]) == (1, "AUGMENT_NOT_LATER")
    (ws / RUNS_LOG).write_bytes(jsonl([oldest, tie]))  # equal times alone: the later line shows
    assert cli.runs("show", RUN, "--json").json == tie


def test_updated_before_created_is_refused(cli: Cli, ws: Path) -> None:
    given = _run(utc(1, 9), utc(1, 8))
    refused = cli.append(given)
    assert refused.code == 2, refused.out
    assert [(d["line"], d["field"], d["code"]) for d in refused.error["details"]] == [
        (1, "/last_updated_utc", "UPDATED_BEFORE_CREATED")
    ]
    assert (ws / RUNS_LOG).read_bytes() == b""
    assert _log_errors(ws, jsonl([given])) == [(1, "UPDATED_BEFORE_CREATED")]
