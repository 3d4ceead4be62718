"""Seed 004: "Find runs that failed uniqueness checks". `registry runs failed` lists the runs whose
latest view has a uniqueness check FAIL, and says of each whether an override covers it (the
rule `registry runs append` applies); `--gates` lists the runs meeting the catalog's failure
predicate (any gate or check FAIL). Every problem in `registry runs ... --json` is a
`problem_object` with the line and the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.run_index import RunIndex
from registry_pipeline_tests._helpers import copy_demo
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    OVERRIDES_LOG,
    RUNS_LOG,
    Cli,
    failing,
    jsonl,
    make_workspace,
    override,
    record,
    slow_list,
    utc,
    write_input,
)

PROBLEM_KEYS = {"code", "path", "line", "field", "message"}


def rid(n: int) -> str:
    return f"RUN-20260901-0000-F{n:03d}"


def ovr(n: int) -> str:
    return f"OVR-20260901-0000-O{n:03d}"


LINES: list[dict[str, Any]] = [
    record(run_id=rid(1), created_utc=utc(1, 8)),  # passed
    failing(run_id=rid(2), created_utc=utc(1, 9), uniqueness_hook="FAIL"),  # failed, no override
    record(run_id=rid(3), created_utc=utc(1, 10), uniqueness_scene="FAIL", override_id=ovr(3)),
    record(run_id=rid(4), created_utc=utc(1, 11), qa_gate3="FAIL"),  # a gate only
    failing(run_id=rid(5), created_utc=utc(1, 12), uniqueness_scripture="FAIL"),
    record(run_id=rid(5), created_utc=utc(1, 12), last_updated_utc=utc(1, 13)),  # re-run: passed
    record(run_id=rid(6), created_utc=utc(1, 14)),
    failing(  # augmented to a failure
        run_id=rid(6),
        created_utc=utc(1, 14),
        last_updated_utc=utc(1, 15),
        uniqueness_hook="FAIL",
        qa_gate0="FAIL",
    ),
    # written by hand: the override is another run's, for another check (the build refuses it)
    record(run_id=rid(7), created_utc=utc(1, 16), uniqueness_hook="FAIL", override_id=ovr(3)),
]
OVERRIDES = [override(override_id=ovr(3), run_id=rid(3), checks=["uniqueness_scene"])]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_workspace(tmp_path_factory.mktemp("failed"))
    (root / RUNS_LOG).write_bytes(jsonl(LINES))
    (root / OVERRIDES_LOG).write_bytes(jsonl(OVERRIDES))
    return root


@pytest.fixture
def q(crafted: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(crafted, capsys)


@pytest.fixture
def api(crafted: Path) -> Iterator[RunIndex]:
    index = RunIndex.open(crafted, "run_index")
    yield index
    index.close()


def test_failed_lists_the_runs_that_failed_a_uniqueness_check(q: Cli, api: RunIndex) -> None:
    result = q.runs("failed", "--json")
    assert result.code == 0, result.err
    found = {item["run_id"]: item for item in result.json}
    assert list(found) == [rid(2), rid(3), rid(6), rid(7)]
    assert {n: item["failed_checks"] for n, item in found.items()} == {
        rid(2): ["uniqueness_hook"],
        rid(3): ["uniqueness_scene"],
        rid(6): ["uniqueness_hook"],
        rid(7): ["uniqueness_hook"],
    }
    assert found[rid(6)]["failed_gates"] == ["qa_gate0", "qa_gate2"]
    assert found[rid(3)]["record"] == LINES[2]  # the latest view, exactly
    assert found[rid(6)]["record"] == LINES[7]
    frame = api.failed()
    assert list(frame.index) == list(found)
    assert list(frame["_failed_checks"]) == [item["failed_checks"] for item in found.values()]
    assert list(frame["_covered"]) == [False, True, False, False]


def test_failed_marks_the_runs_an_override_covers(q: Cli) -> None:
    found = {item["run_id"]: item for item in q.runs("failed", "--json").json}
    covered = found[rid(3)]
    assert (covered["override_id"], covered["covered"], covered["problems"]) == (ovr(3), True, [])
    assert (found[rid(2)]["override_id"], found[rid(2)]["covered"]) == (None, False)
    wrong = found[rid(7)]
    assert (wrong["override_id"], wrong["covered"]) == (ovr(3), False)
    problems = wrong["problems"]
    assert [(p["line"], p["field"], p["code"]) for p in problems] == [
        (9, "/override_id", "OVERRIDE_OTHER_RUN"),
        (9, "/uniqueness_hook", "OVERRIDE_NOT_COVERING"),
    ]
    for problem in problems:
        assert set(problem) >= PROBLEM_KEYS
        assert problem["path"] == RUNS_LOG

    human = q.runs("failed")
    assert human.code == 0
    rows = {line.split()[0]: line.split() for line in human.out.splitlines()[1:]}
    assert list(rows) == [rid(2), rid(3), rid(6), rid(7)]
    header = human.out.splitlines()[0].split()
    assert header[-3:] == ["FAILED", "OVERRIDE", "COVERED"]
    assert rows[rid(3)][-3:] == ["uniqueness_scene", ovr(3), "yes"]
    assert rows[rid(7)][-3:] == ["uniqueness_hook", ovr(3), "no"]
    assert rows[rid(2)][-3:] == ["uniqueness_hook,qa_gate2", "-", "no"]


def test_gates_lists_the_failure_predicate(q: Cli, api: RunIndex) -> None:
    result = q.runs("failed", "--gates", "--json")
    assert result.code == 0
    found = {item["run_id"]: item for item in result.json}
    assert list(found) == [rid(2), rid(3), rid(4), rid(6), rid(7)]
    assert (found[rid(4)]["failed_checks"], found[rid(4)]["failed_gates"]) == ([], ["qa_gate3"])
    assert found[rid(4)]["covered"] is None  # no check failed: nothing to cover
    assert found[rid(3)]["covered"] is True
    assert list(api.failed(gates=True).index) == list(found)


def test_the_demo_index_answers_and_has_13_runs_that_failed_a_uniqueness_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repository's own run index (copied): its documented example run, every run, 13."""
    demo = Cli(copy_demo(tmp_path), capsys)
    shown = demo.runs("show", "RUN-20260901-0800-3PPB", "--json")
    assert shown.code == 0 and shown.json["artist_id"] == "ART-iron-harbor"
    listed = demo.runs("list", "--json").run_ids()
    assert listed == slow_list((demo.root / RUNS_LOG).read_bytes())
    found = demo.runs("failed", "--json").json
    assert len(found) == 13
    assert all(item["failed_checks"] for item in found)
    covered = [item for item in found if item["covered"]]
    assert len(covered) == 7
    assert all(item["record"]["qa_gate2"] == "PASS" for item in covered)
    assert all(item["record"]["qa_gate2"] == "FAIL" for item in found if not item["covered"])
    assert len(demo.runs("failed", "--gates", "--json").json) == 103


def test_append_problems_are_problem_objects(runs_ws: Path, runs_cli: Cli) -> None:
    q = runs_cli
    given = write_input(
        runs_ws.parent, [record(), record(machine_id="C9", run_log_filepath_abs=DROP)]
    )
    refused = q.runs("append", "--record-file", given, "--json")
    assert refused.code == 2
    [detail] = [d for d in refused.error["details"] if d["field"] == "/machine_id"]
    assert set(detail) >= PROBLEM_KEYS
    assert (detail["path"], detail["line"], detail["code"]) == (given, 2, "SCHEMA_VIOLATION")

    warned = write_input(runs_ws.parent, [failing(scripture_packet_id=DROP)], "warned.jsonl")
    result = q.runs("append", "--record-file", warned, "--json")
    assert result.code == 0, result.out
    for warning in result.json["warnings"]:
        assert set(warning) >= PROBLEM_KEYS
        assert (warning["path"], warning["line"]) == (warned, 1)

    missing = q.runs("show", "RUN-20260901-0000-NONE", "--json")
    assert missing.code == 1
    assert set(missing.error) >= PROBLEM_KEYS
