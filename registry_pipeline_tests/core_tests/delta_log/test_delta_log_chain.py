"""The log chain: every lost or rewritten record caught with code, line and run ids."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from registry_pipeline.core.delta_log import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    STATE_ARTIFACT,
    CoveredRegistry,
    DeltaLogResult,
    PreviousLog,
    build_delta_log,
    check_append_only,
    inspect_chain,
    load_previous_log,
    newest_valid_log,
    state_from_log,
)
from registry_pipeline.core.delta_log.chain import state_problem
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.checks import delta_append_only_check
from registry_pipeline.core.seal.envelope import RunSpec, SealedRef
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline_tests._helpers import unseal

MakeRun = Callable[..., SealedRun]
COVERED = [CoveredRegistry("alpha", "ALPHA.json"), CoveredRegistry("beta", "BETA.json")]


@dataclass
class History:
    """Three chained log snapshots over a growing history of two registries."""

    logs: list[PreviousLog]
    sealed: list[SealedRun]


def _build(workspace: Workspace, previous: PreviousLog | None, run_id: str) -> DeltaLogResult:
    schemas = SchemaCatalog.for_workspace(workspace.root)
    return build_delta_log(workspace, COVERED, previous, run_id, schemas)


def _seal(
    store: RunStore, files: dict[str, bytes], previous: PreviousLog | SealedRef | None
) -> SealedRun:
    inputs = [previous.ref() if isinstance(previous, PreviousLog) else previous] if previous else []
    return seal_files(store, RunSpec(LOG_REGISTRY_ID, inputs=inputs), files)


def _load(run: SealedRun) -> PreviousLog:
    return load_previous_log(read_snapshot(run.path, LOG_REGISTRY_ID))


@pytest.fixture
def history(workspace: Workspace, store: RunStore, make_run: MakeRun) -> History:
    logs: list[PreviousLog] = []
    sealed: list[SealedRun] = []
    rounds = [
        [({"ALPHA.json": b"1"}, "alpha"), ({"BETA.json": b"1"}, "beta")],
        [({"ALPHA.json": b"2"}, "alpha"), ({"BETA.json": b"2"}, "beta")],
        [({"ALPHA.json": b"3", "x": b"x"}, "alpha")],
    ]
    for number, runs in enumerate(rounds, start=1):
        for files, registry_id in runs:
            make_run(files, registry_id=registry_id)
        previous = logs[-1] if logs else None
        run = _seal(store, dict(_build(workspace, previous, f"LOG-{number}").files), previous)
        sealed.append(run)
        logs.append(_load(run))
    return History(logs, sealed)


def _bad_build(store: RunStore, history: History, jsonl: bytes) -> SealedRun:
    """A later log with edited records, sealed with a state that matches its bytes."""
    state = state_from_log(jsonl)
    files = {LOG_ARTIFACT: jsonl, STATE_ARTIFACT: state.render()}
    return _seal(store, files, history.logs[-1])


def _grow(workspace: Workspace, make_run: MakeRun, history: History) -> bytes:
    make_run({"BETA.json": b"3"}, registry_id="beta")
    return _build(workspace, history.logs[-1], "LOG-4").files[LOG_ARTIFACT]


# --------------------------------------------------------------------------------------------
# a good chain
# --------------------------------------------------------------------------------------------


def test_a_good_chain_verifies_back_to_the_first_log(
    workspace: Workspace, history: History
) -> None:
    newest = history.sealed[-1]
    report = inspect_chain(workspace, newest.path)
    assert report.ok and report.problems == ()
    assert (report.snapshots, report.records) == (3, 5)
    assert report.first_run_id == history.sealed[0].run_id
    assert report.newest_run_id == newest.run_id
    assert report.as_json()["status"] == "PASS"
    assert newest_valid_log(workspace, SchemaCatalog.for_workspace(workspace.root)) == (
        read_snapshot(newest.path, LOG_REGISTRY_ID)
    )


def test_no_log_yet_means_no_baseline(workspace: Workspace) -> None:
    assert newest_valid_log(workspace, SchemaCatalog.for_workspace(workspace.root)) is None


# --------------------------------------------------------------------------------------------
# edit, drop, reorder a record in a later log
# --------------------------------------------------------------------------------------------


def _edit(lines: list[bytes]) -> list[bytes]:
    return [lines[0], lines[1].replace(b'"LOG-1"', b'"LOG-X"'), *lines[2:]]


def _drop(lines: list[bytes]) -> list[bytes]:
    return [lines[0], *lines[2:]]


def _reorder(lines: list[bytes]) -> list[bytes]:
    return [lines[1], lines[0], *lines[2:]]


@pytest.mark.parametrize(
    ("damage", "line"), [(_edit, 2), (_drop, 2), (_reorder, 1)], ids=["edit", "drop", "reorder"]
)
def test_a_later_log_that_rewrites_history_is_caught(
    workspace: Workspace,
    store: RunStore,
    make_run: MakeRun,
    history: History,
    damage: Callable[[list[bytes]], list[bytes]],
    line: int,
) -> None:
    good = _grow(workspace, make_run, history)
    jsonl = b"".join(damage(good.splitlines(keepends=True)))

    (finding,) = check_append_only(jsonl, history.logs[-1])
    assert (finding.code, finding.line) == ("PREFIX_VIOLATION", line)
    assert finding.previous_run_id == history.logs[-1].run_id

    bad = _bad_build(store, history, jsonl)
    report = inspect_chain(workspace, bad.path)
    assert not report.ok
    (problem,) = report.problems
    assert problem.code == "PREFIX_VIOLATION" and problem.line == line
    assert (problem.run_id, problem.previous_run_id) == (bad.run_id, history.logs[-1].run_id)
    assert problem.path == f"{bad.run_id}/{LOG_ARTIFACT}"  # as a refusal lists it (`gate.checks`)

    baseline = newest_valid_log(workspace, SchemaCatalog.for_workspace(workspace.root))
    assert baseline is not None and baseline.run_id == history.sealed[-1].run_id


def test_records_dropped_at_the_end_are_caught(history: History) -> None:
    previous = history.logs[-1]
    shorter = b"".join(previous.jsonl.splitlines(keepends=True)[:-1])
    (finding,) = check_append_only(shorter, previous)
    assert (finding.code, finding.line) == ("PREFIX_VIOLATION", 5)
    assert "missing" in finding.message


def test_a_torn_log_is_record_invalid_naming_its_last_line(history: History) -> None:
    """The delta log's torn-tail policy is refuse, under its own code (docs/OPERATIONS.md)."""
    previous = history.logs[-1]
    torn = previous.jsonl + previous.jsonl.splitlines(keepends=True)[-1][:-1]
    findings = check_append_only(torn, previous)
    assert (findings[0].code, findings[0].line, findings[0].field) == ("RECORD_INVALID", 6, "/")
    with pytest.raises(RegistryError) as raised:
        state_from_log(torn)
    assert (raised.value.code, raised.value.line) == ("RECORD_INVALID", 6)


# --------------------------------------------------------------------------------------------
# appended records: valid and chained
# --------------------------------------------------------------------------------------------


def test_an_appended_record_must_chain_from_its_registry(
    workspace: Workspace, make_run: MakeRun, history: History
) -> None:
    good = _grow(workspace, make_run, history)
    appended = good[len(history.logs[-1].jsonl) :]
    last = history.logs[-1].state.registries["beta"].last_to_ref.run_id
    broken = appended.replace(  # quoted: a newer id of the same second extends this one
        f'"{last}"'.encode(), b'"2000-01-01__000000__beta_build"'
    )
    (finding,) = check_append_only(history.logs[-1].jsonl + broken, history.logs[-1])
    assert (finding.code, finding.line, finding.field) == ("FROM_MISMATCH", 6, "/from_ref")


def test_a_snapshot_recorded_twice_is_caught(
    workspace: Workspace, store: RunStore, history: History
) -> None:
    previous = history.logs[-1]
    jsonl = previous.jsonl + previous.jsonl.splitlines(keepends=True)[-1]
    assert "DUPLICATE_SNAPSHOT" in {f.code for f in check_append_only(jsonl, previous)}
    bad = _bad_build(store, history, jsonl)
    (problem,) = inspect_chain(workspace, bad.path).problems
    assert problem.code in ("FROM_MISMATCH", "DUPLICATE_SNAPSHOT")
    assert problem.line == 6 and problem.run_id == bad.run_id
    baseline = newest_valid_log(workspace, SchemaCatalog.for_workspace(workspace.root))
    assert baseline is not None and baseline.run_id == history.sealed[-1].run_id


def test_an_invalid_appended_line_names_its_line_and_field(history: History) -> None:
    previous = history.logs[-1]
    findings = check_append_only(previous.jsonl + b'{"delta_version":"0.1"}\nnot json\n', previous)
    assert [(f.code, f.line) for f in findings] == [
        ("RECORD_INVALID", 6),
        ("RECORD_INVALID", 7),
    ]
    assert findings[0].field == "/registry_id"


# --------------------------------------------------------------------------------------------
# the chain of snapshots: missing, root mismatch, seal invalid
# --------------------------------------------------------------------------------------------


def test_a_snapshot_missing_from_the_chain(workspace: Workspace, history: History) -> None:
    middle, newest = history.sealed[1], history.sealed[2]
    unseal(middle.path)
    shutil.rmtree(middle.path)
    report = inspect_chain(workspace, newest.path)
    (problem,) = report.problems
    assert problem.code == "MISSING_SNAPSHOT"
    assert (problem.run_id, problem.previous_run_id) == (newest.run_id, middle.run_id)
    assert report.snapshots == 1
    baseline = newest_valid_log(workspace, SchemaCatalog.for_workspace(workspace.root))
    # the newest no longer links to anything: the first log (a valid bootstrap) is the baseline
    assert baseline is not None and baseline.run_id == history.sealed[0].run_id


def test_a_root_mismatch_in_the_chain(
    workspace: Workspace, store: RunStore, make_run: MakeRun, history: History
) -> None:
    good = _grow(workspace, make_run, history)
    previous = history.logs[-1]
    wrong = SealedRef(LOG_REGISTRY_ID, previous.run_id, "f" * 64, ".codex/RUNS", LOG_ARTIFACT)
    bad = _seal(store, {LOG_ARTIFACT: good, STATE_ARTIFACT: state_from_log(good).render()}, wrong)
    (problem,) = inspect_chain(workspace, bad.path).problems
    assert problem.code == "ROOT_MISMATCH"
    assert (problem.expected, problem.found) == ("f" * 64, previous.root_sha256)
    assert (problem.run_id, problem.previous_run_id) == (bad.run_id, previous.run_id)


def test_a_tampered_snapshot_in_the_chain(workspace: Workspace, history: History) -> None:
    middle, newest = history.sealed[1], history.sealed[2]
    unseal(middle.path)
    (middle.path / "run.json").write_bytes((middle.path / "run.json").read_bytes() + b" ")
    problems = inspect_chain(workspace, newest.path).problems
    assert [(p.code, p.run_id, p.previous_run_id) for p in problems] == [
        ("SEAL_INVALID", newest.run_id, middle.run_id)
    ]
    report = inspect_chain(workspace, middle.path)
    assert report.problems[0].code == "SEAL_INVALID"
    assert report.problems[0].previous_run_id is None


def test_the_first_log_records_are_checked_too(
    workspace: Workspace, store: RunStore, make_run: MakeRun
) -> None:
    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    good = _build(workspace, None, "LOG-1").files[LOG_ARTIFACT]
    jsonl = good + good  # the same snapshot twice
    bad = _seal(store, {LOG_ARTIFACT: jsonl, STATE_ARTIFACT: state_from_log(jsonl).render()}, None)
    codes = [p.code for p in inspect_chain(workspace, bad.path).problems]
    assert codes in (["FROM_MISMATCH"], ["DUPLICATE_SNAPSHOT"])
    assert newest_valid_log(workspace, SchemaCatalog.for_workspace(workspace.root)) is None


@pytest.mark.parametrize("total", [False, True], ids=["a-registry", "the-total"])
def test_one_state_rule_for_the_build_and_the_chain(
    workspace: Workspace, store: RunStore, make_run: MakeRun, history: History, total: bool
) -> None:
    """A state whose counts do not add up is refused by `load_previous_log` and the chain alike,
    in one sentence; a total that neither the JSONL nor the registries give names both."""
    jsonl = _grow(workspace, make_run, history)
    state = json.loads(state_from_log(jsonl).render())
    if total:
        state["records"] += 1
    else:
        state["registries"]["alpha"]["records"] += 1
    files = {LOG_ARTIFACT: jsonl, STATE_ARTIFACT: json.dumps(state).encode()}
    bad = _seal(store, files, history.logs[-1])
    (problem,) = inspect_chain(workspace, bad.path).problems
    assert problem.code == "LOG_STATE_MISMATCH" and "do not add up" in problem.message
    assert ("but the JSONL has" in problem.message) is total
    with pytest.raises(RegistryError) as raised:
        _load(bad)
    assert (raised.value.code, raised.value.message) == ("LOG_STATE_MISMATCH", problem.message)


def test_a_malformed_state_in_the_chain_names_its_field_in_the_message_only(
    workspace: Workspace, store: RunStore, make_run: MakeRun, history: History
) -> None:
    jsonl = _grow(workspace, make_run, history)
    state = json.loads(state_from_log(jsonl).render())
    state["records"] = "many"
    files = {LOG_ARTIFACT: jsonl, STATE_ARTIFACT: json.dumps(state).encode()}
    bad = _seal(store, files, history.logs[-1])
    problems = inspect_chain(workspace, bad.path).problems
    (problem,) = [p for p in problems if p.code == "LOG_STATE_INVALID"]
    assert (problem.message, problem.field) == ("/records: must be a non-negative integer", None)
    assert problem.path == f"{bad.run_id}/{STATE_ARTIFACT}"


def test_an_unreadable_state_says_cannot_read_in_the_chain(history: History) -> None:
    folder = history.sealed[-1].path
    unseal(folder)
    (folder / STATE_ARTIFACT).unlink()
    (folder / STATE_ARTIFACT).mkdir()
    problem, state = state_problem(folder)
    assert state is None and problem is not None
    assert (problem.code, problem.message) == (
        "LOG_STATE_INVALID",
        "cannot read: Is a directory",
    )
    assert (problem.path, problem.field) == (f"{folder.name}/{STATE_ARTIFACT}", None)
    with pytest.raises(RegistryError) as raised:  # the build words it with the file's name
        _load(history.sealed[-1])
    assert raised.value.message == f"cannot read {STATE_ARTIFACT}: Is a directory"


@pytest.mark.parametrize("hostile", ["../outside", "absolute", "absent"])
def test_the_gate_never_reads_a_previous_log_outside_runs(
    workspace: Workspace, store: RunStore, make_run: MakeRun, history: History, hostile: str
) -> None:
    """A run.json link that is no folder name under RUNS/ (the chain's rule) is refused unread."""
    outside = workspace.root / ".codex" / "outside"
    shutil.copytree(history.sealed[-1].path, outside)  # a good log, where no link may lead
    name = {"absolute": str(outside), "absent": "2026-01-01__000000__gone"}.get(hostile, hostile)
    jsonl = _grow(workspace, make_run, history)
    ref = SealedRef(LOG_REGISTRY_ID, name, history.logs[-1].root_sha256, ".codex/RUNS")
    files = {LOG_ARTIFACT: jsonl, STATE_ARTIFACT: state_from_log(jsonl).render()}
    bad = _seal(store, files, ref)
    with pytest.raises(RegistryError) as raised:
        delta_append_only_check(bad.path, workspace, LOG_REGISTRY_ID)
    assert raised.value.code == "MISSING_SNAPSHOT"
    (problem,) = inspect_chain(workspace, bad.path).problems  # the chain says the same
    assert problem.code == "MISSING_SNAPSHOT"
