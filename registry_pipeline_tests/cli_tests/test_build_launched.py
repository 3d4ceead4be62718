"""`registry build` launches its run through the workspace's code location and the instance's
run launcher (a code server, a run worker): the run is a run of the job in the instance, on its
pages, its link printed; its entries are those of the same build executed in process; the run
goes on as the build's delegate, under the lock the command holds, while any other run waits.

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

from registry_pipeline.core.workspace.build_lock import build_lock
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build import BUILD_JOB, QUIET_LOGS, SUBMITTER_TAG
from registry_pipeline.lib.build_entries import run_entries
from registry_pipeline.lib.instance import BUILD_TAG, open_instance
from registry_pipeline.lib.launch import code_location, submit, wait_for_run
from registry_pipeline.lib.resources import HOST_TAG, PID_TAG
from registry_pipeline_tests._helpers import (
    DEMO_GRAPH,
    break_built_schema,
    child_env,
    copy_demo,
    registry_process,
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
    *entries, last = out.splitlines()
    assert len(entries) == len(DEMO_GRAPH) and all(line.startswith("BUILT ") for line in entries)
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
        for registry_id in DEMO_GRAPH:
            event = instance.get_latest_materialization_event(dg.AssetKey(registry_id))
            assert event is not None and event.run_id == run.run_id, registry_id
            sealed = event.asset_materialization.metadata["run_id"].value  # type: ignore[union-attr]
            assert f"{sealed} " in out  # the folder the CLI printed for it
    note = json.loads((root / ".codex" / "build.lock").read_text())
    assert note["delegate"] == run.run_id and note["pid"] == build.pid  # the command held it


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
        assert run.remote_job_origin is not None
    with open_instance(in_process) as instance:
        (run,) = _runs(instance)
        assert run.run_id == reference["dagster_run_id"] and run.remote_job_origin is None


@contextmanager
def _held_for(root: Path, delegate: str) -> Iterator[None]:
    """The build lock held, naming `delegate`, by another thread (as `registry build` does)."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with build_lock(Workspace(root), wait=0, command="test build", delegate=delegate):
            held.set()
            release.wait(timeout=600)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(timeout=60)
    try:
        yield
    finally:
        release.set()
        thread.join(timeout=60)


def test_the_run_the_holder_names_goes_on_and_any_other_run_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Launched runs in run workers: the holder's delegate builds under its lock; a run with
    another id (a re-execution of it, from the UI) is refused (its wait set to 0 here)."""
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)
    root = copy_demo(tmp_path)
    resources = {"build_lock": {"config": {"root": str(root), "wait_seconds": 0}}}
    config = {**QUIET_LOGS, "resources": resources}
    delegate, impostor = str(uuid.uuid4()), str(uuid.uuid4())
    with open_instance(root) as instance, code_location(instance, root) as context:
        with _held_for(root, delegate):
            for run_id in (delegate, impostor):
                submit(context, BUILD_JOB, {}, config, [SMALL], run_id=run_id)
                wait_for_run(context, run_id, timeout=600)
            outcome = {r: instance.get_run_by_id(r).status for r in (delegate, impostor)}  # type: ignore[union-attr]
        refusal = [
            record.dagster_event.event_specific_data.error
            for record in instance.all_logs(impostor)
            if record.dagster_event is not None and record.dagster_event.is_failure
        ]
        refused, built = (
            run_entries(instance, impostor, [SMALL]),
            run_entries(instance, delegate, [SMALL]),
        )
        event = instance.get_latest_materialization_event(SMALL)
        others = [instance.get_latest_materialization_event(dg.AssetKey(r)) for r in DEMO_GRAPH]
    assert [e.dagster_event.asset_key for e in others if e and e.dagster_event] == [SMALL]
    assert outcome == {
        delegate: dg.DagsterRunStatus.SUCCESS,
        impostor: dg.DagsterRunStatus.FAILURE,
    }
    assert event is not None and event.run_id == delegate
    messages = []
    for error in refusal:
        while error is not None:
            messages.append(error.message)
            error = error.cause
    assert any("BuildInProgress" in m and "(test build)" in m for m in messages), messages
    assert built.success and built.entries["expected_versions"].status == "built"
    assert built.problems == []
    assert not refused.success and refused.entries["expected_versions"].status == "skipped"
    assert [p["code"] for p in refused.problems] == ["RUN_FAILED"]
    assert "another build of this workspace is running" in str(refused.problems[0]["message"])


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
    (its build_lock resource tags the run with its pid; polled: the instance cannot notify)."""
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
    one in progress (as a UI run waiting for the command's lock would be), and says so once."""
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
    assert said.startswith("waiting: dagster run ") and f"queued behind {ahead} " in said, said
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
