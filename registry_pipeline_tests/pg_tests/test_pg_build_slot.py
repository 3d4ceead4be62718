"""One build at a time for processes sharing a PostgreSQL instance (`AdvisorySlot`)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from registry_pipeline.core.errors import BuildInProgress
from registry_pipeline.core.workspace.build_slot import slot
from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.postgres import LOCK_KEY, SLOT_TABLE, postgres_slot
from registry_pipeline_tests._helpers import Run
from registry_pipeline_tests.pg_tests._server import Database

HOLD = """
import sys, time
from pathlib import Path
from registry_pipeline.core.workspace.build_slot import build_slot, slot
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.postgres import postgres_slot
from registry_pipeline.lib.instance import open_instance
root, whole = Path(sys.argv[1]), sys.argv[2] == "whole"
with open_instance(root) as instance:
    backend = postgres_slot(instance)
    if whole:
        held = build_slot(Workspace(root), "test holder", wait=0, shared=[backend])
    else:
        held = slot(backend, "test holder", 0)
    with held:
        print("held", flush=True)
        sys.stdin.readline()
        print(f"releasing {time.time()!r}", flush=True)
"""
OWN_LOCK = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
"""In a mount namespace of its own the workspace's build.lock is another file: another machine."""
HOLDER = "test holder"
SMALL = "expected_versions"

Env = Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def own_lock_works() -> bool:
    """Whether a process can get a mount namespace of its own here (root, or user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--", "true"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


@pytest.fixture
def env(pg_url: str, pg_env: Env) -> dict[str, str]:
    """This process and its subprocesses on one PostgreSQL database."""
    return pg_env(pg_url)


def _own_lock(root: Path, command: list[str], own: Path) -> list[str]:
    """`command` in a mount namespace where `root`'s build.lock is the file `own`."""
    target = root / ".codex" / "build.lock"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch()
    own.touch()
    return ["unshare", "--mount", "--", "sh", "-c", OWN_LOCK, "sh", str(own), str(target),
            *command]  # fmt: skip


class Holder:
    """A process standing for another machine's build: it holds the slot until released."""

    def __init__(self, root: Path, env: dict[str, str], own: Path | None) -> None:
        command = [sys.executable, "-c", HOLD, str(root), "whole" if own else "backend"]
        self.process = subprocess.Popen(
            _own_lock(root, command, own) if own else command,
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

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=60)


@pytest.fixture
def holder(
    demo: Path, env: dict[str, str], own_lock_works: bool, tmp_path: Path
) -> Iterator[Callable[[], Holder]]:
    started: list[Holder] = []

    def start() -> Holder:
        own = tmp_path / f"other-{len(started)}.lock" if own_lock_works else None
        started.append(Holder(demo, env, own))
        return started[-1]

    yield start
    for each in started:
        if each.process.poll() is None:
            each.kill()


def _command(root: Path, *args: str) -> list[str]:
    """`registry build` of one small registry, its run executed in the command's process."""
    return ["build", "--workspace", str(root), "--json", "--in-process", "--select", SMALL, *args]


def _build(
    root: Path, env: dict[str, str], *args: str, own: Path | None = None
) -> subprocess.Popen[str]:
    """`registry build` in a process of its own (with the lock file `own`, when given)."""
    command = [sys.executable, "-m", "registry_pipeline", *_command(root, *args)]
    return subprocess.Popen(
        _own_lock(root, command, own) if own else command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _waiting_line(process: subprocess.Popen[str]) -> str:
    """The build's first line that says it waits (empty if it ended without waiting)."""
    assert process.stderr is not None
    while line := process.stderr.readline():
        if line.startswith("waiting"):
            return line
    return ""


def _finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return dict(json.loads(out))


def _steps(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    """When the run's first step started and its last step ended (all under the slot)."""
    kinds = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)
    times = [
        record.timestamp
        for kind in kinds
        for record in instance.get_records_for_run(run_id, of_type=kind).records
    ]
    assert times, run_id
    return min(times), max(times)


def _runs(root: Path) -> list[str]:
    return sorted(path.name for path in (root / ".codex" / "RUNS").iterdir())


def test_a_held_slot_fails_a_build_fast_naming_the_holder(
    cli: Run, demo: Path, env: dict[str, str], holder: Callable[[], Holder]
) -> None:
    held = holder()
    before = _runs(demo)
    code, out, err = cli(*_command(demo, "--wait", "0"))
    assert code == 1, out + err
    error = json.loads(out)["error"]
    assert error["code"] == "BUILD_IN_PROGRESS"
    assert HOLDER in error["message"] and str(LOCK_KEY) in error["message"], error
    assert _runs(demo) == before  # nothing sealed
    held.release()


def test_a_build_waits_for_the_holder_and_starts_after_it(
    demo: Path,
    env: dict[str, str],
    holder: Callable[[], Holder],
    pg_database: Database,
) -> None:
    held = holder()
    build = _build(demo, env, "--wait", "120")
    assert f"held by {HOLDER}" in _waiting_line(build)
    released = held.release()
    summary = _finish(build)
    assert summary["success"] is True
    with open_instance(demo) as instance:
        first_step, _last = _steps(instance, summary["dagster_run_id"])
    assert first_step > released
    assert pg_database.lock_free(LOCK_KEY)
    assert pg_database.rows(SLOT_TABLE) == []


def test_two_builds_whose_file_locks_do_not_meet_never_run_at_once(
    demo: Path,
    env: dict[str, str],
    holder: Callable[[], Holder],
    own_lock_works: bool,
    tmp_path: Path,
) -> None:
    if not own_lock_works:
        pytest.skip("cannot make a mount namespace here (unshare --mount)")
    held = holder()  # both builds start while the slot is taken: both must wait for it
    here = _build(demo, env, "--wait", "240")
    elsewhere = _build(demo, env, "--wait", "240", own=tmp_path / "elsewhere.lock")
    for build in (here, elsewhere):
        assert f"held by {HOLDER}" in _waiting_line(build)
    released = held.release()
    summaries = [_finish(here), _finish(elsewhere)]
    with open_instance(demo) as instance:
        spans = sorted(_steps(instance, summary["dagster_run_id"]) for summary in summaries)
    (start1, end1), (start2, end2) = spans
    assert released < start1 < end1 < start2 < end2  # one after the other, never at once


def test_a_killed_holder_frees_the_slot_for_the_next_build_which_leaves_dagsters_tables(
    cli: Run,
    demo: Path,
    env: dict[str, str],
    holder: Callable[[], Holder],
    pg_database: Database,
) -> None:
    holder().kill()  # its row stays; the server drops its session's lock with the connection
    code, out, err = cli(*_command(demo, "--wait", "60"))
    assert code == 0, out + err
    assert json.loads(out)["success"] is True
    assert pg_database.lock_free(LOCK_KEY)
    assert pg_database.rows(SLOT_TABLE) == []  # the dead holder's row, overwritten
    # the instance configures no pool and no op concurrency: any row there would be ours
    for table in ("concurrency_slots", "concurrency_limits"):
        assert pg_database.rows(table) in (None, []), table


def test_a_second_holder_is_refused_naming_the_first(
    demo: Path, env: dict[str, str], pg_database: Database
) -> None:
    told: list[str] = []
    with open_instance(demo) as instance:
        media = [postgres_slot(instance) for _ in range(3)]  # one per hold, as one per build
        assert all(medium is not None for medium in media)
        first, second, third = (medium for medium in media if medium is not None)
        with slot(first, "first holder", 0):
            with pytest.raises(BuildInProgress) as refused, slot(second, "second holder", 0):
                pass
            with pytest.raises(BuildInProgress), slot(third, "third holder", 0.1, told.append):
                pass
            assert [row[1] for row in pg_database.rows(SLOT_TABLE) or []] == ["first holder"]
        assert pg_database.rows(SLOT_TABLE) == []
        assert pg_database.lock_free(LOCK_KEY)
    assert refused.value.code == "BUILD_IN_PROGRESS"
    assert "first holder (since " in refused.value.message
    assert len(told) == 1 and told[0].startswith("first holder (since ")
