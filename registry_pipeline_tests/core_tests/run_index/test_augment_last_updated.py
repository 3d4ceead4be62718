"""Seed 004: "append a newer RUN record with same `run_id` and later `created_utc` or add
`last_updated_utc`". Records of a run are ordered by (created_utc, last_updated_utc),
lexicographically (an absent last_updated_utc counts as created_utc): a record augments the run
when it comes after the run's latest in that order. Append, the build's `log_problems` and the
sidecar's latest view agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.run_index import RunIndex
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    RUNS_LOG,
    Cli,
    jsonl,
    log_rows,
    record,
    run_id,
    utc,
)

RUN = run_id(1)


def _run(created: str, updated: str | None = None, **fields: Any) -> dict[str, Any]:
    return record(run_id=RUN, created_utc=created, last_updated_utc=updated or DROP, **fields)


def _log_errors(ws: Path, data: bytes) -> list[tuple[Any, ...]]:
    return log_rows(ws, data, "line", "code", errors=True)


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
    result = cli.append(given)
    if later:
        assert result.code == 0, result.out
        assert result.json["augmented"] == 1
        assert cli.runs("show", RUN, "--json").json == given
        assert cli.runs("show", RUN, "--history", "--json").json == [latest, given]
    else:
        assert result.code == 1, result.out
        assert result.error["code"] == "AUGMENT_NOT_LATER"
        assert (ws / RUNS_LOG).read_bytes() == before
        assert cli.runs("show", RUN, "--json").json == latest
    assert _log_errors(ws, jsonl([latest, given])) == ([] if later else [(2, "AUGMENT_NOT_LATER")])


@pytest.mark.parametrize("case", CASES)
def test_augment_order_within_a_batch(cli: Cli, ws: Path, case: str) -> None:
    latest, given, later = CASES[case]
    result = cli.append(latest, given)
    assert result.code == (0 if later else 2), result.out
    if later:
        assert cli.runs("show", RUN, "--json").json == given
    else:
        assert [(d["line"], d["code"]) for d in result.error["details"]] == [
            (2, "AUGMENT_NOT_LATER")
        ]


def test_a_hand_written_log_shows_the_record_written_last(cli: Cli, ws: Path) -> None:
    """Out of order by hand: the latest view is the greatest (created, updated), not the last
    line; the history is in that order too."""
    newest = _run(utc(1, 10), notes="newest")
    middle = _run(utc(1, 8), utc(1, 11))
    oldest = _run(utc(1, 8))
    (ws / RUNS_LOG).write_bytes(jsonl([newest, oldest, middle]))
    assert cli.runs("show", RUN, "--json").json == newest
    assert cli.runs("show", RUN, "--history", "--json").json == [oldest, middle, newest]
    listed = cli.runs("list", "--json").json
    assert listed == [newest]
    index = RunIndex.open(ws, "run_index")
    try:
        frame = index.show(RUN)
        assert frame.loc[RUN, "_first_utc"] == utc(1, 8)
        assert frame.loc[RUN, "notes"] == "newest"
    finally:
        index.close()


def test_updated_before_created_is_refused(cli: Cli, ws: Path) -> None:
    given = _run(utc(1, 9), utc(1, 8))
    refused = cli.append(given)
    assert refused.code == 2, refused.out
    assert [(d["line"], d["field"], d["code"]) for d in refused.error["details"]] == [
        (1, "/last_updated_utc", "UPDATED_BEFORE_CREATED")
    ]
    assert (ws / RUNS_LOG).read_bytes() == b""
    assert _log_errors(ws, jsonl([given])) == [(1, "UPDATED_BEFORE_CREATED")]
