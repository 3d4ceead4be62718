"""Dead builds on every medium (issue 62): killed mid-seal, left QUEUED, and the next build."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dagster as dg  # noqa: TID251  # the Dagster layer's tests use these helpers

from registry_pipeline.core.lock import lock_state
from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import BUILD_JOB, build_definitions
from registry_pipeline.lib.instance import dagster_home, open_instance
from registry_pipeline.lib.runs import (
    ABANDONED,
    BUILD_TAG,
    PROMOTION_TAG,
    SUBMITTER_TAG,
    lock_path,
)
from registry_pipeline_tests._helpers import child_env, registry_process

GUARD = 600.0
"""Seconds before a build is taken to hang (a killed build's bucket lease expires with its term)."""
POLL = 0.02
"""Seconds between two looks at another process's observable state."""
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def wait_until(condition: Callable[[], bool], what: str, within: float = GUARD) -> None:
    """Return once `condition()` holds; fail the test, naming `what`, after `within` s."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within:g} s"
        time.sleep(POLL)  # between two looks at another process's state


def killed_mid_run(root: Path, hold_dir: Path) -> str:
    """`registry build --force` SIGKILLed at its first seal: the run it left STARTED."""
    hold = hold_dir / "hold-at-first-seal"
    hold.touch()
    env = child_env(REGISTRY_PIPELINE_HOLD_AT=f"staging_created:{hold}")
    build = registry_process("build", "--force", "--workspace", str(root), env=env)
    try:
        reached = Path(f"{hold}.reached")
        wait_until(lambda: reached.exists() or build.poll() is not None, "the build's first seal")
        assert build.poll() is None, build.communicate()
        with open_instance(root) as instance:
            [run] = instance.get_runs(
                dg.RunsFilter(job_name=BUILD_JOB, statuses=[dg.DagsterRunStatus.STARTED])
            )
            assert lock_state(lock_path(instance, run.run_id)) == "held"  # by the build's process
        os.kill(build.pid, signal.SIGKILL)  # kill -9: no handler runs, nothing is released
        build.communicate(timeout=60)
    finally:
        hold.unlink(missing_ok=True)
        if build.poll() is None:
            build.kill()
            build.communicate()
    assert build.returncode == -signal.SIGKILL
    with open_instance(root) as instance:
        left = instance.get_run_by_id(run.run_id)
        assert left is not None and left.status == dg.DagsterRunStatus.STARTED
        assert left.tags[PROMOTION_TAG] == "pending"  # it began: its promotion was due
        path = lock_path(instance, run.run_id)
        assert path.exists() and lock_state(path) is None  # freed by the kernel at its death
    return run.run_id


def gone_pid() -> int:
    """The pid of a process of this host that ended (and was reaped)."""
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    try:
        os.kill(ended.pid, 0)
    except ProcessLookupError:
        return ended.pid
    raise AssertionError(f"pid {ended.pid} was taken again at once")


_ORIGINS: dict[Path, Any] = {}
"""Workspace root -> the origin Dagster gave the first run it queued there (`queued_run`)."""


def queued_run(root: Path, tags: dict[str, str]) -> str:
    """A build run QUEUED in `root`'s instance with `tags`, as an earlier release queued it."""
    tagged = {BUILD_TAG: "1", **tags}
    if root in _ORIGINS:
        job = build_definitions(root).resolve_job_def(BUILD_JOB)
        with open_instance(root) as instance:
            run = instance.create_run_for_job(
                job, status=dg.DagsterRunStatus.QUEUED, tags=tagged,
                remote_job_origin=_ORIGINS[root],
            )  # fmt: skip
        return run.run_id
    with open_instance(root) as instance:
        before = {run.run_id for run in instance.get_runs()}
    dagster = Path(sys.executable).with_name("dagster")
    env = child_env(DAGSTER_HOME=str(dagster_home(root)), REGISTRY_WORKSPACE=str(root))
    done = subprocess.run(
        [str(dagster), "job", "launch", "-m", "registry_pipeline.definitions", "-j", BUILD_JOB,
         "--tags", json.dumps(tagged)],
        env=env, cwd=root, capture_output=True, text=True, timeout=GUARD,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    with open_instance(root) as instance:
        (run,) = [run for run in instance.get_runs() if run.run_id not in before]
    assert run.status == dg.DagsterRunStatus.QUEUED and run.tags.items() >= tagged.items(), run
    _ORIGINS[root] = run.remote_job_origin
    return run.run_id


def queued_by_a_gone_submitter(root: Path) -> str:
    """A build run QUEUED by a gone `registry build` of this host (its `pid@host` tag): its id."""
    return queued_run(root, {SUBMITTER_TAG: f"{gone_pid()}@{socket.gethostname()}"})


def next_build_clears(
    root: Path, *, started: Sequence[str] = (), queued: Sequence[str] = ()
) -> dict[str, Any]:
    """The next `registry build`: a `cleaned up` line per dead run, exit 0; its `--json`."""
    build = registry_process("build", "--json", "--workspace", str(root))
    out, err = build.communicate(timeout=GUARD)
    assert build.returncode == 0, out + err
    assert "Traceback" not in err
    cleaned = [line for line in err.splitlines() if line.startswith("cleaned up: ")]
    for run_id in started:
        [said] = [line for line in cleaned if run_id in line]
        assert "was left STARTED" in said and said.endswith("marked FAILURE"), said
    for run_id in queued:
        [said] = [line for line in cleaned if run_id in line]
        assert "was left QUEUED" in said and said.endswith("marked CANCELED"), said
    assert len(cleaned) == len(started) + len(queued), cleaned
    document: dict[str, Any] = json.loads(out)
    assert document["success"] is True and document["dagster_run_id"] not in (*started, *queued)
    with open_instance(root) as instance:
        for run_id in started:
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
            assert run.tags[PROMOTION_TAG] == ABANDONED  # a killed build is never promoted
            assert not lock_path(instance, run_id).exists()
        for run_id in queued:
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.status == dg.DagsterRunStatus.CANCELED
            begun = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
            assert begun == []  # never executed; a daemon's queue takes QUEUED runs only
        assert instance.get_runs(dg.RunsFilter(statuses=UNFINISHED)) == []
    promoted_by(root, document)
    journal = PointerStore(Workspace(root)).journal_path
    actors = {record.actor.get("id") for record in read_records(journal)}
    assert not actors & {*started, *queued}
    return document


def promoted_by(root: Path, document: dict[str, Any]) -> None:
    """Each pointer of a registry `document`'s build built or reused is active; it promoted some."""
    catalog = load_catalog(Workspace(root))
    pointers = PointerStore(Workspace(root)).read()
    entries = {entry["registry_id"]: entry for entry in document["registries"]}
    wanted = {spec.registry_id for spec in catalog.registries if spec.active_pointer}
    assert wanted and wanted <= set(entries)
    for registry_id in wanted:
        entry, active = entries[registry_id], pointers.active(registry_id)
        assert entry["promoted"] or entry["promotion"] == "already active", entry
        assert active is not None and active.run_id == entry["run_id"], registry_id
    assert any(entries[registry_id]["promoted"] for registry_id in wanted)
