"""Losses are said, never read as "all fine" (issue 27): a lost pointer file, a future folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from registry_pipeline.core.builders import registry_delta_log
from registry_pipeline.core.builders.model import BuildInputs
from registry_pipeline.core.delta_log import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    CoveredRegistry,
    build_delta_log,
    load_previous_log,
)
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_id import base_run_id
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline.core.workspace.snapshots import list_snapshots, newest_valid, read_snapshot
from registry_pipeline_tests._helpers import Run

EXPECTED = "EXPECTED_VERSIONS_v0_1.json"
POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
FUTURE = datetime(2099, 1, 1, 0, 0, 0, tzinfo=UTC)


def _expected_versions(root: Path, marker: str) -> bytes:
    """The demo's expected versions with `marker` as one more expected builder version."""
    path = root / "registries" / "expected_versions" / EXPECTED
    document = json.loads(path.read_text(encoding="utf-8"))
    document["expected"]["builder_versions"][marker] = "1.0.0"
    return json.dumps(document, indent=2).encode() + b"\n"


def _seal_at(root: Path, moment: datetime, marker: str) -> SealedRun:
    """A valid expected_versions snapshot sealed with the store's clock at `moment`."""
    store = RunStore(Workspace(root), clock=lambda: moment)
    spec = RunSpec(registry_id="expected_versions", run_type="seal")
    return seal_files(store, spec, {EXPECTED: _expected_versions(root, marker)})


def _log_build(root: Path) -> tuple[str, dict[str, dict[str, object]]]:
    """A delta log build as `registry build` runs it: its run id, what it says per registry."""
    workspace = Workspace(root)
    spec = load_catalog(workspace).get(LOG_REGISTRY_ID)
    result = registry_delta_log.build(BuildInputs(workspace, spec, {}))
    plan = result.seal
    assert plan is not None
    listed = cast(list[dict[str, object]], result.summary["covered"])
    covered = {str(entry["registry_id"]): entry for entry in listed}
    if plan.reuse is not None:
        return plan.reuse.run_id, covered
    store = RunStore(workspace, clock=lambda: plan.moment)
    sealed = seal_files(store, RunSpec(LOG_REGISTRY_ID, inputs=plan.extra_inputs), result.files)
    assert sealed.run_id == plan.run_id
    return sealed.run_id, covered


def _records(root: Path, log_run_id: str, registry_id: str) -> list[dict[str, Any]]:
    data = (root / ".codex" / "RUNS" / log_run_id / LOG_ARTIFACT).read_text(encoding="utf-8")
    return [r for r in map(json.loads, data.splitlines()) if r["registry_id"] == registry_id]


# --- the pointer file ----------------------------------------------------------------------


def test_a_missing_pointer_file_is_an_error_once_pointers_existed(cli: Run, demo: Path) -> None:
    now = datetime.now(UTC)
    sealed = _seal_at(demo, now - timedelta(hours=1), "pointer_test")
    code, _out, err = cli("pointers", "promote", "expected_versions", sealed.run_id,
                          "--workspace", str(demo))  # fmt: skip
    assert code == 0, err
    code, out, _err = cli("validate", "--active", "--workspace", str(demo))
    assert code == 0 and sealed.run_id in out

    pointer_file = demo / POINTERS
    pointer_file.unlink()
    code, out, err = cli("validate", "--active", "--workspace", str(demo))
    assert code == 1, out + err
    assert err.startswith(f"error: POINTERS_MISSING {pointer_file}: "), err
    assert "expected_versions" in err and JOURNAL.rsplit("/", 1)[1] in err
    assert "checked 0 run folder(s)" not in out + err  # an error, not a verdict

    code, out, _err = cli("validate", "--active", "--json", "--workspace", str(demo))
    error = json.loads(out)["error"]
    assert code == 1 and (error["code"], error["path"]) == ("POINTERS_MISSING", str(pointer_file))


def test_a_fresh_workspace_has_no_pointers_and_says_so(cli: Run, demo: Path) -> None:
    assert not (demo / POINTERS).exists() and not (demo / JOURNAL).exists()
    code, out, err = cli("validate", "--active", "--workspace", str(demo))
    assert code == 0, err
    assert out == "checked 0 run folder(s): 0 PASS, 0 FAIL\n"
    assert "note: no active pointers yet" in err


# --- a run folder dated in the future ------------------------------------------------------


def test_a_future_dated_folder_never_stops_the_delta_log(cli: Run, demo: Path) -> None:
    now = datetime.now(UTC)
    first = _seal_at(demo, now - timedelta(hours=2), "first")
    log_one, _covered = _log_build(demo)
    future = _seal_at(demo, FUTURE, "from_the_future")
    assert future.run_id.startswith("2099-01-01__000000__")
    log_two, covered = _log_build(demo)  # the future folder is skipped and said: nothing new
    assert log_two == log_one
    assert covered["expected_versions"]["future_dated"] == [future.run_id]
    second = _seal_at(demo, now - timedelta(hours=1), "second")
    log_three, _covered = _log_build(demo)
    third = _seal_at(demo, now - timedelta(minutes=30), "third")
    log_four, _covered = _log_build(demo)

    logs = [log_one, log_three, log_four]
    assert not any(run_id.startswith("2099") for run_id in logs), logs
    records = _records(demo, log_four, "expected_versions")
    chain = [(r["from_ref"] and r["from_ref"]["run_id"], r["to_ref"]["run_id"]) for r in records]
    assert chain == [
        (None, first.run_id), (first.run_id, second.run_id), (second.run_id, third.run_id),
    ]  # fmt: skip
    # never an input, a baseline or a reused snapshot either: not a snapshot yet
    workspace = Workspace(demo)
    assert future.run_id not in [s.run_id for s in list_snapshots(workspace, "expected_versions")]
    newest = newest_valid(workspace, "expected_versions")
    assert newest is not None and newest.run_id == third.run_id

    code, out, err = cli("delta", "verify", "--workspace", str(demo))
    assert code == 1, out + err
    assert f"error: FUTURE_DATED {future.run_id}:" in err
    code, out, _err = cli("delta", "verify", "--json", "--workspace", str(demo))
    report = json.loads(out)
    assert code == 1 and report["status"] == "FAIL" and report["newest_run_id"] == log_four
    assert [(p["code"], p["run_id"]) for p in report["problems"]] == [
        ("FUTURE_DATED", future.run_id)
    ]


def test_a_log_dated_in_the_future_is_no_baseline(cli: Run, demo: Path) -> None:
    """An older release's log dated 2099 by a folder it named: the next extends the one before."""
    now = datetime.now(UTC)
    workspace = Workspace(demo)
    first = _seal_at(demo, now - timedelta(hours=2), "first")
    log_one, _covered = _log_build(demo)
    second = _seal_at(demo, now - timedelta(hours=1), "second")
    previous = load_previous_log(read_snapshot(demo / ".codex/RUNS" / log_one, LOG_REGISTRY_ID))
    covered = [CoveredRegistry("expected_versions", EXPECTED)]
    stray_id = base_run_id(LOG_REGISTRY_ID, FUTURE)
    schemas = SchemaCatalog.for_workspace(demo)
    stray_log = build_delta_log(workspace, covered, previous, stray_id, schemas)
    assert stray_log.appended == 1
    store = RunStore(workspace, clock=lambda: FUTURE)
    spec = RunSpec(LOG_REGISTRY_ID, inputs=(previous.ref(),))
    assert seal_files(store, spec, dict(stray_log.files)).run_id == stray_id

    log_two, _covered = _log_build(demo)
    assert log_two != stray_id and not log_two.startswith("2099")
    records = _records(demo, log_two, "expected_versions")
    assert [r["to_ref"]["run_id"] for r in records] == [first.run_id, second.run_id]
    code, out, _err = cli("delta", "verify", "--json", "--workspace", str(demo))
    report = json.loads(out)
    assert code == 1 and report["newest_run_id"] == log_two
    assert [(p["code"], p["run_id"]) for p in report["problems"]] == [("FUTURE_DATED", stray_id)]
    code, out, _err = cli("delta", "show", "--json", "--workspace", str(demo))
    assert code == 0 and json.loads(out)["log_run_id"] == log_two


def test_validate_all_reports_a_future_dated_folder(cli: Run, tmp_path: Path) -> None:
    init_workspace(tmp_path)
    store = RunStore(Workspace(tmp_path), clock=lambda: FUTURE)
    future = seal_files(store, RunSpec(registry_id="notes"), {"a.txt": b"a\n"})
    present = seal_files(RunStore(Workspace(tmp_path)), RunSpec(registry_id="notes"), {"a": b"a"})
    code, out, err = cli("validate", "--all", "--workspace", str(tmp_path))
    assert code == 1, out + err
    block = out.split(f"FAIL  .codex/RUNS/{future.run_id}", 1)[1].split("\n", 2)[1]
    assert "FUTURE_DATED" in block and "2099-01-01T00:00:00Z" in block
    assert f"PASS  .codex/RUNS/{present.run_id}" in out
    assert "1 PASS, 1 FAIL" in out
    code, out, _err = cli("validate", "--all", "--json", "--workspace", str(tmp_path))
    rows = {Path(row["run_folder"]).name: row for row in map(json.loads, out.splitlines())}
    assert code == 1 and rows[future.run_id]["verdict"] == "FAIL"
    assert [e["code"] for e in rows[future.run_id]["errors"]] == ["FUTURE_DATED"]
    assert rows[present.run_id]["verdict"] == "PASS"


def test_a_clock_a_minute_ahead_is_tolerated(cli: Run, tmp_path: Path) -> None:
    init_workspace(tmp_path)
    ahead = datetime.now(UTC) + timedelta(minutes=1)
    store = RunStore(Workspace(tmp_path), clock=lambda: ahead)
    sealed = seal_files(store, RunSpec(registry_id="notes"), {"a.txt": b"a\n"})
    code, out, err = cli("validate", "--all", "--workspace", str(tmp_path))
    assert code == 0, out + err
    assert f"PASS  .codex/RUNS/{sealed.run_id}" in out
    assert [s.run_id for s in list_snapshots(Workspace(tmp_path), "notes")] == [sealed.run_id]
