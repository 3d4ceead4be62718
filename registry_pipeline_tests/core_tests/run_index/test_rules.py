"""Every rule a record given to `registry runs append` meets: the schema's (its if/then rules
included) refuse with exit 2, the coordination rule `run-override-exists` with exit 1, the
catalog's recommended fields and file fields warn (exit 0); a refusal writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.run_index import RecordsError, RunIndex
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    OVERRIDES_LOG,
    RUNS_LOG,
    UNIQUENESS,
    Cli,
    failing,
    override,
    record,
    run_id,
)

OVR = "OVR-20260901-0900-OOOO"

# (record, [(field pointer, name the message must mention or None)]): SCHEMA_VIOLATION, or
# RECORD_INVALID for the cases in MIXED (the index's own check finds a problem beside the schema's)
SCHEMA_CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str | None]]]] = {
    "gate2-pass-without-work-id": (record(work_id=DROP), [("", "work_id")]),
    "gate2-pass-without-version-ids": (record(version_ids=DROP), [("", "version_ids")]),
    "gate2-pass-empty-version-ids": (record(version_ids=[]), [("/version_ids", None)]),
    **{
        f"{check}-fail-pass-without-override": (record(**{check: "FAIL"}), [("", "override_id")])
        for check in UNIQUENESS
    },
    "bad-enum-machine": (record(machine_id="C9"), [("/machine_id", None)]),
    "bad-enum-gate": (record(qa_gate1="MAYBE"), [("/qa_gate1", None)]),
    "bad-enum-uniqueness": (record(uniqueness_scene="SKIPPED"), [("/uniqueness_scene", None)]),
    "bad-record-type": (record(record_type="RUNS"), [("/record_type", None)]),
    "unknown-field": (record(colour="red"), [("", "colour")]),
    "bad-run-id": (record(run_id="RUN-2026-09-01"), [("/run_id", None)]),
    "run-id-lowercase-rand": (record(run_id="RUN-20260901-0800-abcd"), [("/run_id", None)]),
    "created-utc-with-seconds": (
        record(created_utc="2026-09-01T08:00:00Z"),
        [("/created_utc", None)],
    ),
    "created-utc-not-a-time": (  # TIME_INVALID (the index's) and SCHEMA_VIOLATION
        record(created_utc="yesterday"),
        [("/created_utc", None), ("/created_utc", None)],
    ),
    "bad-override-id-pattern": (
        record(uniqueness_hook="FAIL", override_id="OVR-1"),
        [("/override_id", None)],
    ),
    "missing-created-by-and-gate2": (
        record(created_by=DROP, qa_gate2=DROP),
        [("", "created_by"), ("", "qa_gate2")],
    ),
    "missing-lanes": (
        record(artist_id=DROP, genre_id=DROP),
        [("", "artist_id"), ("", "genre_id")],
    ),
    "missing-run-id": (  # KEY_MISSING and SCHEMA_VIOLATION
        record(run_id=DROP),
        [("/run_id", None), ("", "run_id")],
    ),
}
MIXED = {"created-utc-not-a-time", "missing-run-id"}


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_schema_rule_refuses_with_exit_2_and_writes_nothing(
    cli: Cli, ws: Path, seeded: bytes, case: str
) -> None:
    given, expected = SCHEMA_CASES[case]
    result = cli.append(record(run_id=run_id(1)), given)  # the bad one is line 2
    assert result.code == 2, result.out
    assert result.error["code"] == ("RECORD_INVALID" if case in MIXED else "SCHEMA_VIOLATION")
    details = result.error["details"]
    assert [(d["line"], d["field"]) for d in details] == [(2, f) for f, _ in expected]
    assert {d["severity"] for d in details} == {"error"}
    for detail, (_field, name) in zip(details, expected, strict=True):
        if name is not None:  # a required or unexpected property is named in the message only
            assert repr(name) in detail["message"]
    assert (ws / RUNS_LOG).read_bytes() == seeded


def test_schema_rules_accept_the_valid_variants(cli: Cli, ws: Path) -> None:
    """The if/then rules only bite when their `if` holds: a failed gate 2 needs no work, a
    failed uniqueness check needs no override when gate 2 did not pass."""
    given = [
        failing(run_id=run_id(1)),
        failing(run_id=run_id(2), uniqueness_hook="FAIL", uniqueness_scene="FAIL"),
        record(run_id=run_id(3), uniqueness_scene="NOT_RUN", qa_gate3="REWRITE_REQUIRED"),
    ]
    result = cli.append(*given)
    assert result.code == 0, result.out
    assert result.json["appended"] == 3
    assert result.json["warnings"] == []  # recommended fields only at Final Save
    assert len((ws / RUNS_LOG).read_bytes().splitlines()) == 3


def test_override_must_exist_then_is_accepted(cli: Cli, ws: Path) -> None:
    given = record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=OVR)
    refused = cli.append(given)
    assert refused.code == 1
    assert refused.error["code"] == "RECORD_REFUSED"
    [detail] = refused.error["details"]
    assert (detail["code"], detail["field"], detail["key"], detail["line"]) == (
        "run-override-exists",
        "/override_id",
        run_id(1),
        1,
    )
    assert (ws / RUNS_LOG).read_bytes() == b""

    other = override(override_id="OVR-20260901-0900-ZZZZ")
    assert cli.append(other, index="run_overrides").code == 0
    assert cli.append(given).code == 1  # another override does not do

    added = cli.append(override(override_id=OVR, run_id=run_id(1)), index="run_overrides")
    assert added.code == 0, added.out
    assert added.json["index"] == "run_overrides"
    assert len((ws / OVERRIDES_LOG).read_bytes().splitlines()) == 2

    accepted = cli.append(given)
    assert accepted.code == 0, accepted.out
    shown = cli.runs("show", run_id(1), "--json")
    assert shown.json["override_id"] == OVR


def test_override_record_is_checked_by_its_own_schema(cli: Cli, ws: Path) -> None:
    result = cli.append(override(checks=[]), index="run_overrides")
    assert result.code == 2
    assert [d["field"] for d in result.error["details"]] == ["/checks"]
    result = cli.append(override(checks=["qa_gate2"]), index="run_overrides")
    assert result.code == 2
    assert [d["field"] for d in result.error["details"]] == ["/checks/0"]
    assert (ws / OVERRIDES_LOG).read_bytes() == b""


def test_recommended_fields_and_absent_file_warn_but_append(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-dir" / "RUN_LOG.md")
    given = [
        record(run_id=run_id(1)),  # nothing to warn about
        record(run_id=run_id(2), scripture_packet_id=DROP, run_log_filepath_abs=missing),
        # not at Final Save: no warning, its run log neither
        failing(run_id=run_id(3), scripture_packet_id=DROP, run_log_filepath_abs=DROP),
    ]
    result = cli.append(*given)
    assert result.code == 0, result.out
    warnings = {(w["line"], w["field"], w["code"], w["severity"]) for w in result.json["warnings"]}
    assert warnings == {
        (2, "/scripture_packet_id", "RECOMMENDED_MISSING", "warning"),
        (2, "/run_log_filepath_abs", "FILE_ABSENT", "warning"),
    }
    assert result.json["appended"] == 3
    assert len((ws / RUNS_LOG).read_bytes().splitlines()) == 3


def test_warnings_go_to_stderr_without_json(cli: Cli, ws: Path, tmp_path: Path) -> None:
    given = tmp_path / "one.json"
    given.write_text(
        '{"record_type":"RUN","run_id":"RUN-20260901-0800-AAAA","created_utc":'
        '"2026-09-01T08:00Z","created_by":"gpt","machine_id":"C1","artist_id":"ART-a",'
        '"genre_id":"GEN-b","qa_gate2":"FAIL","run_log_filepath_abs":"/no/such/RUN_LOG.md"}'
    )
    result = cli.runs("append", "--record-file", str(given))
    assert result.code == 0
    assert "FILE_ABSENT" in result.err
    assert "RECOMMENDED_MISSING" not in result.err  # qa_gate2 FAIL: not at Final Save
    assert "FILE_ABSENT" not in result.out
    assert len((ws / RUNS_LOG).read_bytes().splitlines()) == 1


def test_python_api_refuses_the_same(ws: Path) -> None:
    index = RunIndex.open(ws, "run_index")
    try:
        with pytest.raises(RecordsError) as caught:
            index.append([record(run_id=run_id(1)), record(machine_id="C9")])
        assert caught.value.exit_code == 2
        assert [(p.line, p.field, p.code) for p in caught.value.problems] == [
            (2, "/machine_id", "SCHEMA_VIOLATION")
        ]
        with pytest.raises(RecordsError) as refused:
            index.append([record(uniqueness_hook="FAIL", override_id=OVR)])
        assert refused.value.exit_code == 1
        assert refused.value.code == "RECORD_REFUSED"
        assert (ws / RUNS_LOG).read_bytes() == b""
        done = index.append([record(run_id=run_id(1))])
        assert (done.appended, done.augmented, done.keys) == (1, 0, [run_id(1)])
    finally:
        index.close()


def test_record_json_and_not_an_object(cli: Cli, ws: Path) -> None:
    bad = cli.runs("append", "--record-json", "[1, 2]", "--json")
    assert bad.code == 2
    assert bad.error["code"] == "RECORD_NOT_OBJECT"
    unparsable = cli.runs("append", "--record-json", "{nope", "--json")
    assert unparsable.code == 2
    assert unparsable.error["code"] == "RECORD_UNPARSABLE"
    assert (ws / RUNS_LOG).read_bytes() == b""
    good = cli.runs("append", "--record-json", json.dumps(record()), "--json")
    assert good.code == 0
    assert good.json["keys"] == [record()["run_id"]]
