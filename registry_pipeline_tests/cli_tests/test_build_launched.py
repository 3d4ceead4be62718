"""`registry build` submits its run to the instance's queue and its run launcher (a run worker
forked from the command): the run is a run of the job in the instance, on its pages, its link
printed; its entries are those of the same build executed in process; the run holds the
workspace's build slot, and a run that finds it held waits, saying for whom.

The builds whose stdout is looked at as a whole are processes of their own (the code server and
the run worker inherit their descriptors)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from registry_pipeline.lib.build import QUIET_LOGS
from registry_pipeline.lib.build_run import (
    BUILD_JOB,
    HOST_TAG,
    PID_TAG,
    SLOT_WAIT_KEY,
    SUBMITTER_TAG,
)
from registry_pipeline.lib.instance import BUILD_TAG, open_instance
from registry_pipeline.lib.launcher import WORKER_TAG, code_location, wait_for_run
from registry_pipeline_tests._helpers import (
    DEMO_GRAPH,
    break_built_schema,
    child_env,
    copy_demo,
    registry_process,
    slot_holder,
    submit,
)
from registry_pipeline_tests.cli_tests.conftest import Run

pytestmark = pytest.mark.launched
TIME = re.compile(r"\d{4}-\d\d-\d\d__\d{6}__")
SMALL = dg.AssetKey("expected_versions")


def _runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(job_name=BUILD_JOB)))


def test_a_build_is_a_run_of_the_job_launched_through_the_code_location(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    build = registry_process("build", "--workspace", str(root))
    out, err = build.communicate(timeout=600)
    assert build.returncode == 0, out + err
    assert err == ""  # neither the code server nor the run worker said anything
    *lines, last = out.splitlines()
    entries = [line for line in lines if not line.startswith(" ")]  # an entry's notes indented
    assert len(entries) == len(DEMO_GRAPH) and all(line.startswith("BUILT ") for line in entries)
    assert [line.split("note: ")[1][:17] for line in lines if line.startswith(" ")] == [
        "git state unknown"  # the copy is in no git repository: never read as clean
    ]
    with open_instance(root) as instance:
        (run,) = _runs(instance)
        assert last == (
            f"dagster run {run.run_id}: all registries built and checked "
            f"(http://127.0.0.1:3000/runs/{run.run_id})"
        )
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.remote_job_origin is not None  # launched from the code location
        assert run.remote_job_origin.location_name == "registry_pipeline"
        assert run.tags[SUBMITTER_TAG].split("@")[0] == str(build.pid)
        assert run.tags[PID_TAG] != str(build.pid)  # executed by a run worker, not the command
        assert run.tags[WORKER_TAG].split("@")[0] == run.tags[PID_TAG]
        for registry_id in DEMO_GRAPH:
            event = instance.get_latest_materialization_event(dg.AssetKey(registry_id))
            assert event is not None and event.run_id == run.run_id, registry_id
            sealed = event.asset_materialization.metadata["run_id"].value  # type: ignore[union-attr]
            assert f"{sealed} " in out  # the folder the CLI printed for it
    note = json.loads((root / ".codex" / "build.lock").read_text())  # the run held the slot
    assert note["pid"] == int(run.tags[PID_TAG])
    assert note["holder"].startswith(f"dagster run {run.run_id} (started by registry build")


def _comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without what differs between two builds of the same inputs: times, hashes."""
    text = TIME.sub("<TIME>__", json.dumps(entry, sort_keys=True))
    document = json.loads(text)
    document["root_sha256"] = document["root_sha256"] is not None
    return dict(document)


def test_a_failing_check_gives_the_same_entries_launched_and_in_process(
    cli: Run, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    launched, in_process = copy_demo(tmp_path / "a"), copy_demo(tmp_path / "b")
    for root in (launched, in_process):
        break_built_schema(root)
    base = "https://dagster.example:8443/"
    build = registry_process(
        "build", "--workspace", str(launched), "--json", env=child_env(DAGSTER_WEBSERVER_URL=base)
    )
    out, err = build.communicate(timeout=600)
    assert build.returncode == 1, out + err
    document = json.loads(out)  # one document: nothing of the code server or run worker
    run_id = document["dagster_run_id"]
    assert document["dagster_run_url"] == f"https://dagster.example:8443/runs/{run_id}"
    code, out, err = cli("build", "--workspace", str(in_process), "--json", "--in-process")
    assert code == 1, out + err
    reference = json.loads(out)
    assert document["success"] is reference["success"] is False
    entries = [_comparable(entry) for entry in document["registries"]]
    assert entries == [_comparable(entry) for entry in reference["registries"]]
    by_id = {entry["registry_id"]: entry for entry in entries}
    assert by_id["drift_signals"]["status"] == "failed"
    assert by_id["drift_signals"]["checks"]["schema_valid"] is False
    assert any("signed_off_by" in p["message"] for p in by_id["drift_signals"]["problems"])
    assert by_id["system_health_report"]["status"] == "skipped"
    with open_instance(launched) as instance:
        (run,) = _runs(instance)
        assert run.run_id == run_id and run.status == dg.DagsterRunStatus.FAILURE
        assert WORKER_TAG in run.tags  # launched: a run worker of its own
    with open_instance(in_process) as instance:
        (run,) = _runs(instance)
        assert run.run_id == reference["dagster_run_id"] and WORKER_TAG not in run.tags


@contextmanager
def _held(root: Path) -> Iterator[None]:
    """The build slot held by another process (as another build's run would: not by this one,
    which the forked run worker would inherit it from)."""
    holder = slot_holder(root, "test build")
    try:
        yield
    finally:
        holder.communicate(input="\n", timeout=60)


def test_a_run_that_finds_the_slot_held_waits_saying_for_whom_then_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run the queue did not hold back (another machine's build holds the slot, not a run of
    this instance) waits in its run worker, its log naming the holder, and builds once the
    slot is free; with no time to wait it fails naming the holder, having built nothing."""
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)
    root = copy_demo(tmp_path)
    config = {**QUIET_LOGS, "resources": {"build_run": {"config": {"root": str(root)}}}}
    refused = {
        **QUIET_LOGS,
        "resources": {"build_run": {"config": {"root": str(root), "wait_seconds": 0}}},
    }
    runs: dict[str, dg.DagsterRun] = {}
    with open_instance(root) as instance, code_location(instance, root, here=True) as context:
        with _held(root):
            impatient = submit(context, BUILD_JOB, {}, refused, [SMALL]).run_id
            runs[impatient] = wait_for_run(context, impatient, timeout=600)
            patient = submit(context, BUILD_JOB, {}, config, [SMALL]).run_id
            waiter = threading.Thread(
                target=lambda: runs.setdefault(patient, wait_for_run(context, patient, 600))
            )  # it dequeues and launches the run, then waits for its end
            waiter.start()
            said = _slot_waits(instance, patient)
        waiter.join(timeout=600)
        event = instance.get_latest_materialization_event(SMALL)
    assert said == ["test build"]
    assert runs[impatient].status == dg.DagsterRunStatus.FAILURE
    assert runs[patient].status == dg.DagsterRunStatus.SUCCESS
    assert event is not None and event.run_id == patient


def _slot_waits(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Who the run says it waits for, once it says it (polled: the instance cannot notify)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        metadata = [
            record.dagster_event.event_specific_data.metadata
            for record in records
            if record.dagster_event is not None
        ]
        said = [str(m[SLOT_WAIT_KEY].value) for m in metadata if SLOT_WAIT_KEY in m]
        if said:
            return said
        time.sleep(0.02)  # polls an observable condition: the run says it waits
    raise AssertionError(f"run {run_id} never said it waits for the build slot")


def test_ctrl_c_cancels_the_launched_run_with_one_line_and_130(cli: Run, tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    build = registry_process("build", "--workspace", str(root))
    run_id, worker = _started_run(root, build)
    os.kill(worker, signal.SIGSTOP)  # the run cannot end before the command is interrupted
    try:
        with open_instance(root) as instance:
            stopped = instance.get_run_by_id(run_id)
            assert stopped is not None and not stopped.is_finished
        build.send_signal(signal.SIGINT)
    finally:
        os.kill(worker, signal.SIGCONT)
    out, err = build.communicate(timeout=300)
    assert build.returncode == 130, out + err
    assert out == "" and err.splitlines()[-1:] == ["interrupted"], err
    assert "Traceback" not in err
    with open_instance(root) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.CANCELED
    pointers = root / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    assert not pointers.exists()  # an interrupted build promotes nothing
    code, out, err = cli("build", "--workspace", str(root), "--in-process")
    assert code == 0, out + err  # and the lock is free: the next one is green


def _started_run(root: Path, build: subprocess.Popen[str]) -> tuple[str, int]:
    """The build's run and its run worker's pid, once the worker has taken the run's resources
    (its build_run resource tags the run with its pid; polled: the instance cannot notify)."""
    deadline = time.monotonic() + 300
    runs_db = root / ".codex" / "dagster_home" / "history" / "runs.db"
    while build.poll() is None and time.monotonic() < deadline:
        if runs_db.exists():
            with open_instance(root) as instance:
                for run in _runs(instance):
                    if PID_TAG in run.tags:
                        return run.run_id, int(run.tags[PID_TAG])
        time.sleep(0.02)  # polls an observable condition: the run worker has started the run
    raise AssertionError(f"no run started: {build.communicate(timeout=60)}")


def test_a_build_run_in_progress_holds_the_launched_run_in_the_queue(tmp_path: Path) -> None:
    """The instance admits one build run at a time: the command's run waits in the queue behind
    one in progress (a UI run waits there too), and the command says so once, naming it."""
    root = copy_demo(tmp_path)
    ahead = str(uuid.uuid4())
    tags = {BUILD_TAG: "1", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    with open_instance(root) as instance:  # alive (this pid): no build marks it failed
        instance.add_run(
            dg.DagsterRun(
                job_name=BUILD_JOB, run_id=ahead, status=dg.DagsterRunStatus.STARTED, tags=tags
            )
        )
    build = registry_process("build", "--workspace", str(root))
    assert build.stderr is not None
    said = build.stderr.readline()  # the command waits for the run ahead: let that one end
    assert said.startswith("waiting: dagster run "), said
    assert f"queued behind dagster run {ahead} (the Dagster UI or API)" in said, said
    with open_instance(root) as instance:
        queued = [r for r in _runs(instance) if r.run_id != ahead]
        assert [r.status for r in queued] == [dg.DagsterRunStatus.QUEUED]
        instance.report_run_failed(instance.get_run_by_id(ahead))  # type: ignore[arg-type]
    out, err = build.communicate(timeout=600)
    assert build.returncode == 0, out + err
    assert err == ""  # said once
    with open_instance(root) as instance:
        run = instance.get_run_by_id(queued[0].run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS


def test_a_ui_materialization_of_some_registries_queues_as_a_build(tmp_path: Path) -> None:
    """The UI's Materialize button on a selection of registries launches an implicit asset job,
    not the build job: the queue counts it as a build all the same (it needs the build run),
    so it waits queued behind a build in progress; the daily drift job is not a build."""
    from registry_pipeline.defs.drift_daily import DRIFT_DAILY_JOB

    root = copy_demo(tmp_path)
    ahead = str(uuid.uuid4())
    tags = {BUILD_TAG: "1", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    with open_instance(root) as instance, code_location(instance, root, here=True) as context:
        instance.add_run(
            dg.DagsterRun(
                job_name=BUILD_JOB, run_id=ahead, status=dg.DagsterRunStatus.STARTED, tags=tags
            )
        )
        selection = submit(context, "__ASSET_JOB", {}, QUIET_LOGS, [SMALL])
        drift = submit(context, DRIFT_DAILY_JOB, {"dagster/partition": "2026-01-01"}, {})
        records = instance.all_logs(selection.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    assert selection.tags[BUILD_TAG] == "1"
    assert selection.status == dg.DagsterRunStatus.QUEUED
    said = [r.dagster_event.message for r in records if r.dagster_event is not None]
    assert said == [  # in the queued run's log, where the UI shows it: whom it waits for
        "queued: one build at a time per workspace; this run starts when dagster run "
        f"{ahead} (the Dagster UI or API) ends"
    ]
    assert BUILD_TAG not in drift.tags


def test_wait_0_on_an_idle_workspace_builds_at_once(built: Path, cli: Run) -> None:
    """`--wait 0` fails at once only when another build holds the workspace: with none, the
    launched run is dequeued on the first look and the build completes."""
    code, out, err = cli(
        "build", "--workspace", str(built), "--force", "--select", "expected_versions",
        "--wait", "0", "--json",
    )  # fmt: skip
    assert code == 0, out + err
    document = json.loads(out)
    assert document["success"] is True
    assert [entry["registry_id"] for entry in document["registries"]] == ["expected_versions"]
