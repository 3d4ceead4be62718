"""A log ending in an incomplete line (an interrupted append): appends are refused, queries
answer from the complete lines with a warning, `registry runs repair` moves the bytes aside
(kept under .codex/quarantine/) and appending works again."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.run_index import RunIndex
from registry_pipeline_tests.core_tests.run_index._support import (
    OVERRIDES_LOG,
    QUARANTINE,
    RUNS_LOG,
    Cli,
    line,
    override,
    record,
    run_id,
    utc,
)

TORN_CASES = {
    "half-a-record": line(record(run_id=run_id(3)))[:70],
    "complete-json-no-newline": line(record(run_id=run_id(3)))[:-1],
    "one-byte": b"{",
}


@pytest.fixture
def complete(cli: Cli, ws: Path) -> bytes:
    """Two runs appended; the log's bytes."""
    given = [record(run_id=run_id(1), created_utc=utc(1, 8)), record(run_id=run_id(2))]
    assert cli.append(*given).code == 0
    return (ws / RUNS_LOG).read_bytes()


@pytest.mark.parametrize("torn", TORN_CASES.values(), ids=list(TORN_CASES))
def test_torn_line_refuses_appends_and_repair_keeps_its_bytes(
    cli: Cli, ws: Path, complete: bytes, torn: bytes
) -> None:
    log = ws / RUNS_LOG
    with log.open("ab") as handle:
        handle.write(torn)
    before = log.read_bytes()

    refused = cli.append(record(run_id=run_id(4)))
    assert refused.code == 1
    assert refused.error["code"] == "LOG_TORN"
    assert log.read_bytes() == before

    listed = cli.runs("list", "--json")
    assert listed.code == 0
    assert listed.run_ids() == [run_id(1), run_id(2)]
    assert "LOG_TORN" in listed.err
    shown = cli.runs("show", run_id(2), "--json")
    assert shown.code == 0
    assert "LOG_TORN" in shown.err
    assert cli.runs("latest", "--lane", "artist_id=ART-iron-harbor", "--json").code == 0
    assert cli.runs("failed", "--json").json == []

    index = RunIndex.open(ws, "run_index")
    try:
        assert list(index.runs().index) == [run_id(1), run_id(2)]
        state = index.sync()
        assert state.torn
        assert (state.covered, state.size) == (len(complete), len(before))
    finally:
        index.close()

    repaired = cli.runs("repair", "--json")
    assert repaired.code == 0, repaired.out
    assert repaired.json["moved_bytes"] == len(torn)
    assert repaired.json["size"] == len(complete)
    kept = ws / repaired.json["kept_at"]
    assert kept.parent == ws / QUARANTINE
    assert kept.read_bytes() == torn
    assert log.read_bytes() == complete

    listed = cli.runs("list", "--json")
    assert listed.err == ""
    again = cli.append(record(run_id=run_id(4)))
    assert again.code == 0, again.out
    assert log.read_bytes() == complete + line(record(run_id=run_id(4)))
    assert cli.runs("list", "--json").run_ids() == [run_id(1), run_id(2), run_id(4)]


def test_repair_with_nothing_torn_changes_nothing(cli: Cli, ws: Path, complete: bytes) -> None:
    result = cli.runs("repair", "--json")
    assert result.code == 0
    assert (result.json["moved_bytes"], result.json["kept_at"]) == (0, None)
    assert (ws / RUNS_LOG).read_bytes() == complete
    assert not (ws / QUARANTINE).exists()
    human = cli.runs("repair")
    assert human.code == 0


def test_torn_line_completed_by_hand_is_indexed(cli: Cli, ws: Path, complete: bytes) -> None:
    """A torn line finished later (the rest of the bytes written) is a record like any other."""
    whole = line(record(run_id=run_id(3)))
    log = ws / RUNS_LOG
    with log.open("ab") as handle:
        handle.write(whole[:40])
    assert cli.runs("show", run_id(3), "--json").code == 1
    with log.open("ab") as handle:
        handle.write(whole[40:])
    shown = cli.runs("show", run_id(3), "--json")
    assert shown.code == 0
    assert shown.err == ""
    assert cli.append(record(run_id=run_id(4))).code == 0


def test_torn_overrides_log_is_repaired_by_index(cli: Cli, ws: Path) -> None:
    assert cli.append(override(), index="run_overrides").code == 0
    log = ws / OVERRIDES_LOG
    complete = log.read_bytes()
    with log.open("ab") as handle:
        handle.write(b'{"override_id":"OVR-2026')
    refused = cli.append(override(override_id="OVR-20260901-0900-ZZZZ"), index="run_overrides")
    assert refused.code == 1
    assert refused.error["code"] == "LOG_TORN"
    untouched = cli.runs("repair", "--json")  # the run index is not torn
    assert untouched.json["moved_bytes"] == 0
    repaired = cli.runs("repair", "--index", "run_overrides", "--json")
    assert repaired.json["moved_bytes"] == len(b'{"override_id":"OVR-2026')
    assert log.read_bytes() == complete


def test_missing_log_is_refused_and_not_created(cli: Cli, ws: Path) -> None:
    """The catalog names the log as a source: without it nothing is answered or appended (the
    catalog check refuses first), and an append does not create it."""
    (ws / RUNS_LOG).unlink()
    for result in (cli.runs("list", "--json"), cli.append(record())):
        assert result.code == 2
        assert result.error["code"] == "CATALOG_INVALID"
    assert not (ws / RUNS_LOG).exists()
    with pytest.raises(RegistryError) as caught:
        RunIndex.open(ws)
    assert caught.value.code == "CATALOG_INVALID"


UNREADABLE_CASES = {
    "byte-order-mark": lambda log: b"\xef\xbb\xbf" + log,
    "garbage-line": lambda log: log + b"not json\n",
    "no-key": lambda log: log + b'{"record_type": "RUN"}\n',
    "no-time": lambda log: log + line(record(run_id=run_id(9), created_utc="2026-10-01 9am")),
    "not-an-object": lambda log: log + b"[1, 2]\n",
}


@pytest.mark.parametrize("damage", UNREADABLE_CASES.values(), ids=list(UNREADABLE_CASES))
def test_a_line_the_index_cannot_read_refuses_appends(
    cli: Cli, ws: Path, complete: bytes, damage: object
) -> None:
    """A complete line that does not parse (a BOM an editor added, a garbage line): appends
    checked the records against the other lines and wrote, so a record conflicting with the
    unread one (an earlier time of its run) went in, and the build then refused the log."""
    assert callable(damage)
    log = ws / RUNS_LOG
    log.write_bytes(damage(complete))
    before = log.read_bytes()
    earlier = record(run_id=run_id(1), created_utc=utc(1, 7))  # before line 1's record of it
    refused = cli.append(earlier)
    assert refused.code == 1, refused.out
    assert refused.error["code"] == "LOG_UNREADABLE"
    assert "line" in refused.error["message"]
    assert log.read_bytes() == before
    assert cli.runs("list", "--json").code == 0  # queries still answer, with their warning
