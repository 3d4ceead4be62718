"""With --json, every problem, finding, refusal and warning is an object with `code`, `path`,
`line`, `field` and `message` (`core.errors.problem_object`); in human mode verdicts go to stdout
and diagnostics to stderr. One bad case per command: validate, pointers, delta, adopt, drift
backfill, restore-line-endings."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, break_built_schema, unseal
from registry_pipeline_tests.cli_tests.test_adopt import make_seed_repo

KEYS = {"code", "path", "line", "field", "message"}
JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"


def assert_problems(problems: Iterable[object], *codes: str) -> list[dict[str, object]]:
    """Every item is a problem object (the five keys, a string code and message); the codes are
    `codes`, in order, when given."""
    found = list(problems)
    assert found, "no problem listed"
    for problem in found:
        assert isinstance(problem, dict) and set(problem) >= KEYS, problem
        assert isinstance(problem["code"], str) and isinstance(problem["message"], str), problem
    if codes:
        assert [p["code"] for p in found] == list(codes)  # type: ignore[index]
    return found  # type: ignore[return-value]


def _seal(root: Path, registry_id: str = "alpha", at: datetime | None = None) -> Path:
    """A valid snapshot of `registry_id`, sealed at `at` (default now); returns its folder."""
    store = RunStore(Workspace(root), clock=lambda: at) if at else RunStore(Workspace(root))
    body = json.dumps({"at": str(at), "n": len(list((root / ".codex/RUNS").iterdir()))})
    return seal_files(
        store, RunSpec(registry_id), {f"{registry_id.upper()}.json": body.encode()}
    ).path


def _promoted(cli: Run, root: Path) -> Path:
    folder = _seal(root)
    code, _out, err = cli("pointers", "promote", "alpha", folder.name, "--workspace", str(root))
    assert code == 0, err
    return folder


# -- validate --------------------------------------------------------------------------------


def test_validate_json_an_unreadable_folder_is_a_problem_object(cli: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    code, out, _err = cli("validate", str(missing), "--json", "--workspace", str(tmp_path))
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert code == 2 and row["status"] == "ERROR"
    (problem,) = assert_problems(row["errors"])
    assert problem["path"] == str(missing)


def test_validate_json_a_future_dated_folder_is_a_problem_object(cli: Run, ws: Path) -> None:
    folder = _seal(ws, at=datetime.now(UTC) + timedelta(days=2))
    code, out, _err = cli("validate", str(folder), "--json", "--workspace", str(ws))
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and row["verdict"] == "FAIL"
    (problem,) = assert_problems(row["errors"], "FUTURE_DATED")
    assert "its run id dates it" in str(problem["message"])


def test_validate_json_a_damaged_folder_lists_problem_objects(cli: Run, ws: Path) -> None:
    folder = _seal(ws)
    unseal(folder)
    (folder / "ALPHA.json").write_text("{}")
    code, out, _err = cli("validate", str(folder), "--json", "--workspace", str(ws))
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert_problems(row["errors"])


def test_validate_says_its_verdict_on_stdout(cli: Run, ws: Path) -> None:
    folder = _seal(ws)
    code, out, err = cli("validate", str(folder), "--workspace", str(ws))
    assert code == 0 and "checked 1 run folder(s): 1 PASS, 0 FAIL" in out
    assert "checked" not in err


# -- pointers --------------------------------------------------------------------------------


def test_pointers_verify_json_findings_are_problem_objects(cli: Run, ws: Path) -> None:
    _promoted(cli, ws)
    _promoted(cli, ws)
    journal = ws / JOURNAL
    journal.write_bytes(journal.read_bytes().replace(b'"reason":""', b'"reason":"x"', 1))
    code, out, _err = cli("pointers", "verify", "--json", "--workspace", str(ws))
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    (problem,) = assert_problems(report["problems"], "CHAIN_BROKEN")
    assert (problem["path"], problem["line"], problem["seq"]) == (str(journal), 2, 2)


def test_pointers_verify_json_a_hand_edit_names_the_pointer_file(cli: Run, ws: Path) -> None:
    _promoted(cli, ws)
    newer = _seal(ws)
    document = json.loads((ws / POINTERS).read_text())
    document["pointers"][0]["active_ref"]["run_id"] = newer.name
    (ws / POINTERS).write_text(json.dumps(document))
    code, out, _err = cli("pointers", "verify", "--json", "--workspace", str(ws))
    (problem,) = assert_problems(json.loads(out)["problems"], "POINTER_MISMATCH")
    assert code == 1 and problem["path"] == str(ws / POINTERS)
    assert problem["registry_id"] == "alpha"


def test_pointers_verify_says_a_failure_on_stdout(cli: Run, ws: Path) -> None:
    _promoted(cli, ws)
    journal = ws / JOURNAL
    journal.write_bytes(b"{not json\n" + journal.read_bytes())
    code, out, err = cli("pointers", "verify", "--workspace", str(ws))
    assert code == 1 and "RECORD_UNREADABLE" in err
    assert out.startswith("journal FAILED: 1 problem(s)")


def test_pointers_show_json_lists_a_missing_target_as_a_problem(cli: Run, ws: Path) -> None:
    folder = _promoted(cli, ws)
    unseal(folder)
    shutil.rmtree(folder)
    code, out, _err = cli("pointers", "show", "--json", "--workspace", str(ws))
    (row,) = json.loads(out)["pointers"]
    assert code == 0 and row["target"] == "missing"
    (problem,) = assert_problems(row["problems"], "TARGET_MISSING")
    assert problem["registry_id"] == "alpha"


def test_pointers_show_json_an_ok_pointer_has_no_problems(cli: Run, ws: Path) -> None:
    _promoted(cli, ws)
    code, out, _err = cli("pointers", "show", "--json", "--workspace", str(ws))
    (row,) = json.loads(out)["pointers"]
    assert code == 0 and row["target"] == "ok" and row["problems"] == []


def test_pointers_check_json_a_failed_check_is_a_problem_object(cli: Run, ws: Path) -> None:
    folder = _seal(ws)
    unseal(folder)
    (folder / "ALPHA.json").write_text("{}")
    code, out, _err = cli(
        "pointers", "check", "alpha", folder.name, "--json", "--workspace", str(ws)
    )
    document = json.loads(out)
    assert code == 1 and document["passed"] is False
    problems = assert_problems(document["problems"])
    assert {p["check"] for p in problems} == {"seal_valid"}


def test_pointers_check_judges_a_malformed_root_line_instead_of_calling_it_unsealed(
    cli: Run, ws: Path
) -> None:
    folder = _seal(ws)
    unseal(folder)
    manifest = folder / "MANIFEST.sha256"
    head, root = manifest.read_text().rsplit("ROOT_SHA256  ", 1)
    manifest.write_text(f"{head}ROOT_SHA256  {root.upper()}")  # has a root, in uppercase hex
    code, out, err = cli("pointers", "check", "alpha", folder.name, "--workspace", str(ws))
    assert code == 1 and "TARGET_UNSEALED" not in err, err
    assert "FAIL  seal_valid  (MALFORMED_MANIFEST, ROOT_MISMATCH)" in out.splitlines()
    assert (ws / ".codex/RECEIPTS" / f"{root.strip().upper()}.jsonl").is_file()


# -- delta -----------------------------------------------------------------------------------


def test_delta_verify_json_a_future_dated_log_is_a_problem_object(cli: Run, ws: Path) -> None:
    folder = _seal(ws, "registry_delta_log", datetime.now(UTC) + timedelta(days=2))
    code, out, _err = cli("delta", "verify", "--json", "--workspace", str(ws))
    document = json.loads(out)
    assert code == 1 and document["status"] == "FAIL"
    (problem,) = assert_problems(document["problems"], "FUTURE_DATED")
    assert problem["path"] == f".codex/RUNS/{folder.name}" and problem["run_id"] == folder.name


def test_delta_verify_says_a_failure_on_stdout(cli: Run, ws: Path) -> None:
    _seal(ws, "registry_delta_log", datetime.now(UTC) + timedelta(days=2))
    code, out, err = cli("delta", "verify", "--workspace", str(ws))
    assert code == 1 and "FUTURE_DATED" in err
    assert "FAILED: 1 problem(s)" in out


# -- adopt -----------------------------------------------------------------------------------


def test_adopt_json_warnings_are_problem_objects(cli: Run, tmp_path: Path) -> None:
    repo = make_seed_repo(tmp_path / "ovc")
    code, out, err = cli("adopt", str(repo), "--dry-run", "--json")
    assert code == 0, err
    warnings = assert_problems(json.loads(out)["warnings"])
    codes = {str(w["code"]) for w in warnings}
    assert {"SNAPSHOTS_ABSENT", "POINTER_TARGETS_GIT_IGNORED"} <= codes, codes
    assert "LINE_ENDINGS_CONVERTIBLE" not in codes  # the run appends the `-text` line: no warning


# -- drift backfill --------------------------------------------------------------------------


def test_drift_backfill_json_a_failed_check_is_a_problem_object(cli: Run, demo: Path) -> None:
    break_built_schema(demo)  # drift_signals_daily writes drift_signals' v0.1 document too
    day = str(datetime.now(UTC).date() - timedelta(days=1))
    code, out, err = cli(
        "drift", "backfill", "--from", day, "--to", day, "--json", "--workspace", str(demo)
    )
    (outcome,) = json.loads(out)["days"]
    assert code == 1 and outcome["success"] is False
    problems = assert_problems(outcome["problems"])
    assert "schema_valid" in {p.get("check") for p in problems}, problems
    code, out, err = cli("drift", "backfill", "--from", day, "--to", day, "--workspace", str(demo))
    assert code == 1 and "0 of 1 day(s) sealed and checked" in out
    assert "schema_valid" in out and "sealed and checked" not in err


# -- refusals, through the one error handler -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("restore-line-endings", "NOWHERE", "DEST", "--json"),
        ("drift", "backfill", "--from", "2026-02-30", "--to", "2026-03-01", "--json"),
        ("pointers", "as-of", "yesterday", "--json"),
    ],
)
def test_a_refusal_is_a_problem_object(cli: Run, ws: Path, args: tuple[str, ...]) -> None:
    code, out, _err = cli(*args, *(["--workspace", str(ws)] if args[0] != "restore-line-endings"
                                   else []))  # fmt: skip
    assert code == 2
    assert_problems([json.loads(out)["error"]])


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (
            ("drift", "backfill", "--from", "2026-02-30", "--to", "2026-03-01"),
            "--from",
            "2026-02-30",
        ),
        (("drift", "backfill", "--from", "2026-03-01", "--to", "2026-3-2"), "--to", "2026-3-2"),
        (("delta", "show", "--since", "yesterday"), "--since", "yesterday"),
        (("pointers", "as-of", "2026/11/20"), "TIMESTAMP", "2026/11/20"),
    ],
)
def test_a_bad_day_names_its_option_as_the_field(
    cli: Run, ws: Path, args: tuple[str, ...], field: str, value: str
) -> None:
    code, out, _err = cli(*args, "--json", "--workspace", str(ws))
    (problem,) = assert_problems([json.loads(out)["error"]])
    assert code == 2 and (problem["field"], problem["path"]) == (field, None)
    assert repr(value) in str(problem["message"])  # the value: said in the message, not a path
