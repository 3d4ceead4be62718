"""The four questions on crafted data, asked through `registry runs ... --json` and through the
Python API (`RunIndex.show/runs/failed/latest`, pandas DataFrames) on the same case, both giving
the run ids written out below by hand: lanes, date windows (the until-day whole), ties in
created_utc, lanes with no success, runs that failed uniqueness checks (`--gates`: the failure
predicate) on the latest view, and every usage error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.run_index import RunIndex
from registry_pipeline.core.run_index.index import select_runs
from registry_pipeline.core.run_index.rules import needs_override
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    Cli,
    failing,
    lane_args,
    make_workspace,
    override,
    record,
    utc,
)

A = {"artist_id": "ART-alpha", "genre_id": "GEN-worship"}
A2 = {"artist_id": "ART-alpha", "genre_id": "GEN-techno"}
B = {"artist_id": "ART-beta", "genre_id": "GEN-worship"}
OVR = "OVR-20260901-1000-OVR8"


def rid(n: int) -> str:
    return f"RUN-20260901-0000-R{n:03d}"


# The log, line by line (line 10 augments R9, line 13 augments R12).
LINES: list[dict[str, Any]] = [
    record(run_id=rid(1), created_utc=utc(1, 8, 0), **A),
    failing(run_id=rid(2), created_utc=utc(2, 0, 0), **A),  # the until-day's first minute
    record(run_id=rid(3), created_utc=utc(2, 23, 59), **A),  # and its last
    record(run_id=rid(4), created_utc=utc(3, 8, 0), **A),  # R4, R5, R11: one first time
    record(run_id=rid(5), created_utc=utc(3, 8, 0), **A),
    failing(run_id=rid(6), created_utc=utc(1, 9, 0), **B),  # lane B never succeeds
    failing(run_id=rid(7), created_utc=utc(2, 10, 0), qa_gate0="FAIL", **B),
    record(
        run_id=rid(8), created_utc=utc(1, 10, 0), uniqueness_hook="FAIL", override_id=OVR, **A2
    ),  # passed with an override: success and failed
    failing(run_id=rid(9), created_utc=utc(1, 11, 0), **A2),
    record(run_id=rid(9), created_utc=utc(4, 9, 0), **A2),  # failed, then augmented to pass
    record(run_id=rid(10), created_utc=utc(1, 12, 0), qa_gate3="FAIL", **A),
    failing(run_id=rid(11), created_utc=utc(3, 8, 0), uniqueness_scene="FAIL", **B),
    record(run_id=rid(12), created_utc=utc(2, 9, 0), **A2),
    failing(run_id=rid(12), created_utc=utc(5, 9, 0), notes="QA re-run flipped gate 2", **A2),
]

ALL = [1, 6, 8, 9, 10, 2, 12, 7, 3, 4, 5, 11]
"""Every run by its first record's time, then line."""


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace whose run index holds LINES, appended through the Python API."""
    root = make_workspace(tmp_path_factory.mktemp("queries"))
    overrides = RunIndex.open(root, "run_overrides")
    overrides.append([override(override_id=OVR, run_id=rid(8), checks=["uniqueness_hook"])])
    overrides.close()
    index = RunIndex.open(root, "run_index")
    done = index.append(LINES)
    index.close()
    assert (done.appended, done.augmented) == (14, 2)
    yield root


@pytest.fixture
def q(crafted: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(crafted, capsys)


@pytest.fixture
def api(crafted: Path) -> Iterator[RunIndex]:
    index = RunIndex.open(crafted, "run_index")
    yield index
    index.close()


ALPHA = {"artist_id": "ART-alpha"}
WORSHIP = {"genre_id": "GEN-worship"}
DAY_2 = {"since": "2026-09-02", "until": "2026-09-02"}

# id: (command, its options as the API's keywords, the expected run numbers)
CASES: dict[str, tuple[str, dict[str, Any], list[int]]] = {
    "list-all": ("list", {}, ALL),
    "list-artist": ("list", {"lanes": ALPHA}, [1, 8, 9, 10, 2, 12, 3, 4, 5]),
    "list-genre": ("list", {"lanes": WORSHIP}, [1, 6, 10, 2, 7, 3, 4, 5, 11]),
    "list-two-lanes": ("list", {"lanes": A}, [1, 10, 2, 3, 4, 5]),
    "list-lane-without-runs": ("list", {"lanes": {"artist_id": "ART-gamma"}}, []),
    "list-one-day-whole": ("list", DAY_2, [2, 12, 7, 3]),
    "list-until-day": ("list", {"until": "2026-09-01"}, [1, 6, 8, 9, 10]),
    "list-until-the-last-day": ("list", {"until": "9999-12-31"}, ALL),  # its whole day too
    "list-since-day": ("list", {"since": "2026-09-03"}, [4, 5, 11]),
    "list-times-inclusive": (
        "list",
        {"since": "2026-09-01T10:00Z", "until": "2026-09-01T11:00Z"},
        [8, 9],
    ),
    "list-time-with-offset": ("list", {"since": "2026-09-03T10:00+02:00"}, [4, 5, 11]),
    "list-lane-and-dates": (
        "list",
        {"lanes": A, "since": "2026-09-02", "until": "2026-09-03"},
        [2, 3, 4, 5],
    ),
    "list-after-everything": ("list", {"since": "2026-10-01"}, []),
    "failed-all": ("failed", {}, [8, 11]),  # a uniqueness check FAILed
    "failed-lane": ("failed", {"lanes": A}, []),
    "failed-lane-since": ("failed", {"lanes": B, "since": "2026-09-02"}, [11]),
    "failed-augmented-lane": ("failed", {"lanes": A2}, [8]),
    "failed-gates-all": ("failed", {"gates": True}, [6, 8, 10, 2, 12, 7, 11]),
    "failed-gates-lane": ("failed", {"lanes": A, "gates": True}, [10, 2]),
    "failed-gates-lane-since": (
        "failed",
        {"lanes": B, "since": "2026-09-02", "gates": True},
        [7, 11],
    ),
    "failed-gates-augmented-lane": ("failed", {"lanes": A2, "gates": True}, [8, 12]),
    "latest-tie-later-line": ("latest", {"lanes": A}, [5]),
    "latest-artist-only": ("latest", {"lanes": ALPHA}, [5]),
    "latest-on-latest-view": ("latest", {"lanes": A2}, [9]),
    "latest-genre": ("latest", {"lanes": WORSHIP}, [5]),
}


@pytest.mark.parametrize("case", CASES)
def test_cli_and_api_give_the_same_runs(q: Cli, api: RunIndex, case: str) -> None:
    command, options, numbers = CASES[case]
    expected = [rid(n) for n in numbers]
    flags = [f"--{name}={value}" for name, value in options.items() if name in ("since", "until")]
    gates = ["--gates"] if options.get("gates") else []
    result = q.runs(command, *lane_args(options.get("lanes", {})), *flags, *gates, "--json")
    assert result.code == 0, result.out
    found = result.json if isinstance(result.json, list) else [result.json]
    assert [r["run_id"] for r in found] == expected
    assert result.err == ""

    frame = getattr(api, "runs" if command == "list" else command)(**options)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == expected
    assert list(frame["run_id"]) == expected


def test_answers_are_latest_views_with_status(q: Cli, api: RunIndex) -> None:
    frame = api.runs()
    status = dict(zip(frame.index, frame["_status"], strict=True))
    assert status[rid(8)] == "success+failed"
    assert status[rid(9)] == "success"
    assert status[rid(12)] == "failed"
    assert status[rid(1)] == "success"
    assert frame.loc[rid(9), "_records"] == 2
    assert frame.loc[rid(9), "_first_utc"] == utc(1, 11, 0)
    assert frame.loc[rid(9), "created_utc"] == utc(4, 9, 0)
    listed = {r["run_id"]: r for r in q.runs("list", "--json").json}
    assert listed[rid(12)] == LINES[13]  # the latest view, exactly
    assert listed[rid(9)] == LINES[9]


def test_the_sidecars_marks_say_which_runs_need_an_override_as_the_rule_does(
    api: RunIndex,
) -> None:
    """`runs failed` judges a run's override from its record only when the sidecar's marks say
    it passed with a failed check: what `needs_override` says of its latest view."""
    runs = list(select_runs(api, "1", [], "", None, marks=True))
    assert len(runs) == len(ALL)
    marked = {run.key for run in runs if run.success and run.marks[0] != "[]"}
    assert marked == {run.key for run in runs if needs_override(api.spec, run.record)}
    assert marked == {rid(8)}  # passed with an override


def test_limit(q: Cli) -> None:
    assert q.runs("list", "--limit", "2", "--json").run_ids() == [rid(1), rid(6)]
    assert q.runs("failed", "--limit", "1", "--json").run_ids() == [rid(8)]
    assert q.runs("failed", "--gates", "--limit", "1", "--json").run_ids() == [rid(6)]
    assert q.runs("list", "--limit", "0", "--json").code == 2


@pytest.mark.parametrize("lanes", [B, {"artist_id": "ART-beta"}, {"artist_id": "ART-gamma"}])
def test_lane_without_success(q: Cli, api: RunIndex, lanes: dict[str, str]) -> None:
    result = q.runs("latest", *lane_args(lanes), "--json")
    assert result.code == 1
    assert result.error["code"] == "NO_SUCCESS"
    human = q.runs("latest", *lane_args(lanes))
    assert human.code == 1
    assert "NO_SUCCESS" in human.err
    frame = api.latest(lanes)
    assert frame.empty
    assert "run_id" in frame.columns


def test_show_unknown_run(q: Cli, api: RunIndex) -> None:
    result = q.runs("show", "RUN-20260901-0000-NONE", "--json")
    assert result.code == 1
    assert result.error["code"] == "RUN_NOT_FOUND"
    assert q.runs("show", "RUN-20260901-0000-NONE", "--history", "--json").code == 1
    assert api.show("RUN-20260901-0000-NONE").empty
    assert api.show("RUN-20260901-0000-NONE", history=True).empty
    assert q.runs("show", rid(1), "--json").json == LINES[0]


@pytest.mark.parametrize("command", ["list", "failed", "latest"])
def test_unknown_lane_field(q: Cli, api: RunIndex, command: str) -> None:
    result = q.runs(command, "--lane", "artist=ART-alpha", "--json")
    assert result.code == 2
    assert result.error["code"] == "UNKNOWN_LANE"
    assert result.error["path"] == "artist"
    method = getattr(api, "runs" if command == "list" else command)
    with pytest.raises(RegistryError) as caught:
        method({"artist": "ART-alpha"})
    assert (caught.value.code, caught.value.exit_code) == ("UNKNOWN_LANE", 2)


def test_lane_without_value_separator(q: Cli) -> None:
    result = q.runs("list", "--lane", "artist_id", "--json")
    assert result.code == 2
    assert result.error["code"] == "BAD_LANE"
    assert (result.error["field"], result.error["path"]) == ("--lane", None)
    assert "artist_id" in result.error["message"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--since", "2026-09-31"],
        ["--until", "2026-13-01"],
        ["--since", "yesterday"],
        ["--until", "01/09/2026"],
        ["--since", "2026-09-03", "--until", "2026-09-02"],
        ["--since", "2026-09-01T10:00"],
        ["--until", "2026-W36-1"],
    ],
    ids=["no-such-day", "no-such-month", "word", "slashes", "since-after-until", "no-zone",
         "week-date"],
)  # fmt: skip
def test_bad_date(q: Cli, api: RunIndex, flags: list[str]) -> None:
    for command in ("list", "failed"):
        result = q.runs(command, *flags, "--json")
        assert result.code == 2, result.out
        assert result.error["code"] == "BAD_DATE"
        option = "--since" if len(flags) == 4 else flags[0]  # since-after-until: --since
        assert (result.error["field"], result.error["path"]) == (option, None)
    keywords = dict(zip([f.lstrip("-") for f in flags[::2]], flags[1::2], strict=True))
    with pytest.raises(RegistryError) as caught:
        api.runs(since=keywords.get("since"), until=keywords.get("until"))
    assert (caught.value.code, caught.value.exit_code) == ("BAD_DATE", 2)
    if "2026-09-01T10:00" in flags:  # the commands' one time grammar: a time has its zone
        assert "did you mean '2026-09-01T10:00Z'" in caught.value.message or (
            "did you mean 2026-09-01T10:00Z?" in caught.value.message
        ), caught.value.message


@pytest.mark.parametrize(
    "command",
    [
        ["show", rid(1)],
        ["list"],
        ["failed"],
        ["repair"],
        ["latest", "--lane", "artist_id=ART-alpha"],
    ],
)
def test_unknown_index(q: Cli, crafted: Path, command: list[str]) -> None:
    result = q.runs(*command, "--index", "run_indx", "--json")
    assert result.code == 2
    assert result.error["code"] == "UNKNOWN_INDEX"
    assert (result.error["field"], result.error["path"]) == ("--index", None)
    assert "run_indx" in result.error["message"]
    with pytest.raises(RegistryError) as caught:
        RunIndex.open(crafted, "run_indx")
    assert (caught.value.code, caught.value.exit_code) == ("UNKNOWN_INDEX", 2)


def test_other_index_by_id(q: Cli) -> None:
    """--index names the log; without it the catalog's first run index is asked."""
    overrides = q.runs("show", OVR, "--index", "run_overrides", "--json")
    assert overrides.code == 0
    assert overrides.json["run_id"] == rid(8)
    assert q.runs("show", OVR, "--json").code == 1  # not a run
    assert q.runs("list", "--index", "run_overrides", "--json").json[0]["override_id"] == OVR
    # the overrides log has no lanes
    result = q.runs("list", "--index", "run_overrides", "--lane", "artist_id=x", "--json")
    assert result.code == 2
    assert result.error["code"] == "UNKNOWN_LANE"


def test_human_output_names_the_runs(q: Cli) -> None:
    listed = q.runs("list", *lane_args(A))
    assert listed.code == 0
    rows = [line.split()[0] for line in listed.out.splitlines()[1:]]
    assert rows == [rid(n) for n in (1, 10, 2, 3, 4, 5)]
    shown = q.runs("show", rid(9))
    assert shown.code == 0
    assert rid(9) in shown.out.splitlines()[0]
    latest = q.runs("latest", *lane_args(A))
    assert latest.code == 0
    assert rid(5) in latest.out.splitlines()[0]
    empty = q.runs("list", "--lane", "artist_id=ART-gamma")
    assert empty.code == 0
    assert empty.out == ""


def test_missing_field_in_frame_is_absent_not_carried_over(api: RunIndex) -> None:
    """R12's latest view has no work_id: the frame does not take the older record's."""
    assert LINES[13].get("work_id", DROP) is DROP
    assert "work_id" in LINES[12]
    frame = api.show(rid(12))
    assert "work_id" not in frame.columns or bool(frame["work_id"].isna().all())
    assert frame.loc[rid(12), "notes"] == "QA re-run flipped gate 2"
