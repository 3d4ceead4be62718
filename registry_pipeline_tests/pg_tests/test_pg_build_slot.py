"""One build at a time for processes that share one PostgreSQL instance and one workspace: the
instance's build slot (pool `registry_build`, limit 1), seen by processes the workspace's file
lock does not reach (another machine; here, a process with a lock file of its own).

The holder is always a process of its own; a build that only has to meet it (refused, or after
it was killed) runs in this process (`cli`), one that waits or runs beside another in its own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from registry_pipeline.core.workspace.build_lock import BuildInProgress
from registry_pipeline.definitions import BUILD_JOB, build_definitions
from registry_pipeline.lib.build_slot import BUILD_POOL, build_slot, slot_holders
from registry_pipeline.lib.instance import open_instance
from registry_pipeline_tests.pg_tests.conftest import Run

HOLD = """
import sys, time
from pathlib import Path
from registry_pipeline.lib.build_slot import build_slot
from registry_pipeline.lib.instance import open_instance
root = Path(sys.argv[1])
with open_instance(root) as instance, build_slot(instance, root, wait=0, command="test holder"):
    print("held", flush=True)
    sys.stdin.readline()
    print(f"releasing {time.time()!r}", flush=True)
"""
OWN_LOCK = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
"""In a mount namespace of its own, the workspace's build.lock is another file: the file lock
no longer meets the other process's, as on another machine."""

Env = Callable[[str], dict[str, str]]
SMALL = "expected_versions"


@pytest.fixture
def env(pg_url: str, pg_env: Env) -> dict[str, str]:
    """This process and its subprocesses on one PostgreSQL database."""
    return pg_env(pg_url)


class Holder:
    """A process that holds the instance's build slot (and not the file lock) until released."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == "held", self.process.communicate(timeout=60)

    def release(self) -> float:
        """Let go; the time just before the slot was freed."""
        out, err = self.process.communicate(input="\n", timeout=60)
        assert self.process.returncode == 0, err
        return float(out.split()[-1])


@pytest.fixture
def holder(demo: Path, env: dict[str, str]) -> Iterator[Callable[[], Holder]]:
    started: list[Holder] = []

    def start() -> Holder:
        started.append(Holder(demo, env))
        return started[-1]

    yield start
    for each in started:
        if each.process.poll() is None:
            each.process.kill()
            each.process.communicate(timeout=60)


def _command(root: Path, *args: str) -> list[str]:
    """The arguments of `registry build` of one small registry (a Dagster run all the same,
    quicker)."""
    return ["build", "--workspace", str(root), "--json", "--select", SMALL, *args]


def _build(root: Path, env: dict[str, str], *args: str, own_lock: Path | None = None) -> Any:
    """`registry build` of one small registry in a process of its own."""
    command = [sys.executable, "-m", "registry_pipeline", *_command(root, *args)]
    if own_lock is not None:
        target = root / ".codex" / "build.lock"
        command = ["unshare", "--mount", "--", "sh", "-c", OWN_LOCK, "sh", str(own_lock),
                   str(target), *command]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _waiting_line(process: subprocess.Popen[str]) -> str:
    """The build's first line that says it waits (empty if it ended without waiting)."""
    assert process.stderr is not None
    while line := process.stderr.readline():
        if "waiting" in line:
            return line
    return ""


def _finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return dict(json.loads(out))


def test_a_held_slot_fails_a_build_fast_naming_the_holder(
    cli: Run, demo: Path, env: dict[str, str], holder: Callable[[], Holder]
) -> None:
    held = holder()
    code, out, err = cli(*_command(demo, "--wait", "0"))
    assert code == 1, out + err
    document = json.loads(out)
    assert document["error"]["code"] == "BUILD_IN_PROGRESS"
    message = document["error"]["message"]
    assert f"pid {held.process.pid} (test holder)" in message and BUILD_POOL in message
    assert sorted(p.name for p in (demo / ".codex" / "RUNS").iterdir()) == [".gitkeep"]
    held.release()


def test_a_build_waits_for_the_holder_and_starts_after_it(
    demo: Path, env: dict[str, str], holder: Callable[[], Holder]
) -> None:
    held = holder()
    build = _build(demo, env, "--wait", "120")
    assert f"pid {held.process.pid} (test holder)" in _waiting_line(build)
    released = held.release()
    summary = _finish(build)
    with open_instance(demo) as instance:
        record = instance.get_run_record_by_id(summary["dagster_run_id"])
        assert record is not None and record.start_time is not None
        assert record.start_time > released
        assert slot_holders(instance) == []


def test_a_killed_holder_frees_the_slot_for_the_next_build(
    cli: Run, demo: Path, env: dict[str, str], holder: Callable[[], Holder]
) -> None:
    held = holder()
    held.process.send_signal(signal.SIGKILL)
    held.process.communicate(timeout=60)
    code, out, err = cli(*_command(demo, "--wait", "60"))
    assert code == 0, err
    assert json.loads(out)["success"] is True
    with open_instance(demo) as instance:
        assert slot_holders(instance) == []


def test_two_builds_whose_file_locks_do_not_meet_never_run_at_once(
    demo: Path, env: dict[str, str], holder: Callable[[], Holder], tmp_path: Path
) -> None:
    probe = subprocess.run(["unshare", "--mount", "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.strip()}")
    (demo / ".codex" / "build.lock").touch()
    (tmp_path / "other.lock").touch()
    held = holder()  # both builds start while the slot is taken: both must wait for it
    here = _build(demo, env, "--wait", "240")
    elsewhere = _build(demo, env, "--wait", "240", own_lock=tmp_path / "other.lock")
    for build in (here, elsewhere):
        assert f"pid {held.process.pid} (test holder)" in _waiting_line(build)
    released = held.release()
    summaries = [_finish(here), _finish(elsewhere)]
    with open_instance(demo) as instance:
        records = [instance.get_run_record_by_id(s["dagster_run_id"]) for s in summaries]
        assert slot_holders(instance) == []
    spans = sorted((r.start_time, r.end_time) for r in records if r is not None)
    assert len(spans) == 2 and all(start and end for start, end in spans)
    (start1, end1), (start2, end2) = spans
    assert released < start1 < end1 < start2 < end2  # one after the other, never at once


def test_a_run_launched_by_dagster_waits_for_the_slot_too(
    demo: Path, env: dict[str, str], holder: Callable[[], Holder]
) -> None:
    """A run of the build job (as the UI or a schedule launches it) holds the slot through the
    build_lock resource."""
    held = holder()
    job = build_definitions(demo, build_wait=0).resolve_job_def(BUILD_JOB)
    with open_instance(demo) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    held.release()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure).event_specific_data
    error, messages = failure.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any("BuildInProgress" in m and BUILD_POOL in m for m in messages), messages
    assert sorted(p.name for p in (demo / ".codex" / "RUNS").iterdir()) == [".gitkeep"]
    assert result.dagster_run.status == dg.DagsterRunStatus.FAILURE


def test_two_holders_of_one_token_take_turns_and_free_only_their_own_row(
    demo: Path, env: dict[str, str]
) -> None:
    """The steps of one run in several processes (the multiprocess executor) share its token:
    the second waits, and its failure does not free the first one's slot."""
    refused: list[BuildInProgress] = []

    def second_step(instance: dg.DagsterInstance) -> None:
        try:
            with build_slot(instance, demo, wait=0, command="step two", token="run-1"):
                pass
        except BuildInProgress as exc:
            refused.append(exc)

    with open_instance(demo) as instance:
        with build_slot(instance, demo, wait=0, command="step one", token="run-1"):
            thread = threading.Thread(target=second_step, args=(instance,))
            thread.start()
            thread.join(timeout=120)
            assert len(refused) == 1 and "(step one)" in refused[0].message
            assert [token for token, _who in slot_holders(instance)] == ["run-1"]
        assert slot_holders(instance) == []
        second_step(instance)  # free now: taken and released
    assert len(refused) == 1


def test_the_run_a_build_names_goes_on_and_any_other_run_waits(
    demo: Path, env: dict[str, str]
) -> None:
    """`registry build` holds the slot naming the run it launched: that run's build_lock resource
    (asking with its run id, from a run worker) goes on; a re-execution (a new run id) or a run
    naming none waits, as does the holder's own token asked again (it names no delegate)."""
    outcome: dict[str | None, object] = {}

    def run(instance: dg.DagsterInstance, token: str | None) -> None:
        try:
            with build_slot(instance, demo, wait=0, command="the run", token=token):
                outcome[token] = slot_holders(instance)
        except BuildInProgress as exc:
            outcome[token] = exc.message

    with open_instance(demo) as instance:
        with build_slot(instance, demo, wait=0, command="registry build", delegate="run-1"):
            ((token, who),) = slot_holders(instance)
            assert token == "registry-build-for-run-1" and "(registry build)" in who
            for asking in ("run-1", "run-2", None, token):  # each from a thread of its own
                thread = threading.Thread(target=run, args=(instance, asking))
                thread.start()
                thread.join(timeout=120)
            assert slot_holders(instance) == [(token, who)]  # the delegate freed nothing
        assert slot_holders(instance) == []
    assert outcome["run-1"] == [(token, who)]  # went on under the holder's claim
    for refused in ("run-2", None, token):
        assert "(registry build)" in str(outcome[refused]), outcome


@pytest.mark.launched
def test_a_launched_build_runs_under_its_own_claim(
    cli: Run, demo: Path, env: dict[str, str]
) -> None:
    """The run `registry build` launches (a run worker, another process) is the delegate of the
    command's claim: it builds at once instead of waiting for the slot the command holds."""
    code, out, err = cli(*_command(demo, "--wait", "0"))
    assert code == 0, out + err
    summary = json.loads(out)
    with open_instance(demo) as instance:
        run = instance.get_run_by_id(summary["dagster_run_id"])
        assert run is not None and run.remote_job_origin is not None  # launched, not in process
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert slot_holders(instance) == []
    assert [entry["status"] for entry in summary["registries"]] == ["built"]
