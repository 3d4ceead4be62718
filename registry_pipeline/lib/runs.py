"""The runs we start: their tags, their process's lock, the dead ones cleared (OPERATIONS.md)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg

from registry_pipeline.core.lock import FileLock, Owner, lock_state

BUILD_TAG = "registry-pipeline/build"
"""Every build run carries this tag; the instance's run queue admits one such run at a time."""
PID_TAG = "registry-pipeline/pid"
HOST_TAG = "registry-pipeline/host"
"""The pid and host of the process that executes a run (its lock is on that host)."""
PROMOTION_TAG = "registry-pipeline/promotion"
"""On a build run: `pending` until a promotion run takes it, then that run's id (or a `none: `
value: never promoted)."""
PROMOTES_TAG = "registry-pipeline/promotes"
"""On a promotion run: the id of the build run it promotes."""
SUBMITTER_TAG = "registry-pipeline/submitted-by"
"""`pid@host` of an earlier release's `registry build` that queued its run (none queue now)."""
RUN_KEY_TAG = "dagster/run_key"
"""Dagster's documented run-key tag: a sensor never requests a run whose key a run carries."""
PENDING = "pending"
ABANDONED = "none: the build was killed"
"""The promotion tag of a build whose process was killed: nothing of it is promoted."""
LEASE_LOST = "none: the build lost its lease"
"""The promotion tag of a build that lost the bucket's build lease: another may have built since."""

IN_PROGRESS = (
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
ENDED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)
"""How a build run ends when what it sealed may be promoted (a canceled one promotes nothing)."""

_held: dict[str, FileLock] = {}
"""This process's run locks, by run id."""
_kept: set[str] = set()
"""Runs whose lock outlives the run's own end here (`kept`): a command still acting for it."""


def lock_path(instance: dg.DagsterInstance, run_id: str) -> Path:
    """Where run `run_id`'s lock lives: the instance's home, on the host that executes it."""
    return Path(instance.root_directory) / "run_locks" / f"{run_id}.lock"


def hold_run(instance: dg.DagsterInstance, run: dg.DagsterRun, what: str) -> None:
    """Take this process's lock of `run` (once) and tag the run with the host that holds it."""
    if run.run_id in _held:
        return
    path = lock_path(instance, run.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    if not lock.try_take(Owner(f"{what} dagster run {run.run_id}")):
        return  # another process of this host executes it (a re-entered resource): it holds
    _held[run.run_id] = lock
    instance.add_run_tags(run.run_id, {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})


def release_run(run_id: str) -> None:
    """Give up this process's lock of `run_id`, unless a command keeps it (`kept`)."""
    if run_id not in _kept and (lock := _held.pop(run_id, None)) is not None:
        lock.release()


@contextmanager
def kept(run_id: str) -> Iterator[None]:
    """Keep `run_id`'s lock past the run's end, until the block ends (a build to promote)."""
    _kept.add(run_id)
    try:
        yield
    finally:
        _kept.discard(run_id)
        release_run(run_id)


def gone(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether the process that executed `run` on this host ended without finishing it."""
    if run.tags.get(HOST_TAG) != socket.gethostname() or run.run_id in _held:
        return False
    path = lock_path(instance, run.run_id)
    return path.exists() and lock_state(path) is None


def holds(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a live process of this host holds run `run_id`'s lock (this one included)."""
    path = lock_path(instance, run_id)
    return run_id in _held or (path.exists() and lock_state(path) == "held")


def give_back(instance: dg.DagsterInstance, build_run_id: str, promotion_run_id: str) -> None:
    """Build `build_run_id` pending again, if promotion run `promotion_run_id` had taken it."""
    build = instance.get_run_by_id(build_run_id)
    if build is not None and build.tags.get(PROMOTION_TAG) == promotion_run_id:
        instance.add_run_tags(build_run_id, {PROMOTION_TAG: PENDING})


def clear_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark FAILURE the runs a gone process left running here (CANCELED: queued); a line each."""
    said = _cancel_orphans(instance)
    records = instance.get_run_records(dg.RunsFilter(statuses=list(IN_PROGRESS)))
    for record in records:
        run = record.dagster_run
        if HOST_TAG not in run.tags or not gone(instance, run):
            continue
        latest = instance.get_run_by_id(run.run_id)
        if latest is None or latest.is_finished:
            continue
        if latest.tags.get(PROMOTION_TAG) == PENDING:  # a killed build is never promoted
            instance.add_run_tags(run.run_id, {PROMOTION_TAG: ABANDONED})
        instance.report_run_failed(
            latest,
            message="the process that executed this run ended before it finished (killed, or "
            "its host stopped); marked failed by the next build",
        )
        with suppress(OSError):
            lock_path(instance, run.run_id).unlink()
        if (build := latest.tags.get(PROMOTES_TAG)) is not None:  # promoted again
            give_back(instance, build, run.run_id)
        said.append(f"dagster run {run.run_id} ({run.job_name}) was left {latest.status.value} "
                    "by a process that is gone: marked FAILURE")  # fmt: skip
    return said


def submitter_gone(run: dg.DagsterRun) -> int | None:
    """The pid of the gone `registry build` of this host that queued `run`, else None."""
    text, _, host = run.tags.get(SUBMITTER_TAG, "").partition("@")
    if host != socket.gethostname() or not (text.isascii() and text.isdigit()) or int(text) < 1:
        return None
    try:
        os.kill(int(text), 0)  # signal 0: whether the process exists, nothing sent
    except ProcessLookupError:
        return int(text)
    except (PermissionError, OverflowError):  # another user's process, or no pid at all
        return None
    return None


def _cancel_orphans(instance: dg.DagsterInstance) -> list[str]:
    """Mark CANCELED the runs left QUEUED by a `registry build` that is gone; a line for each."""
    said = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])):
        run = record.dagster_run
        pid = submitter_gone(run)
        if pid is None:
            continue  # a daemon's queue (the UI, a schedule), or a submitter that still runs
        latest = instance.get_run_by_id(run.run_id)
        if latest is None or latest.status != dg.DagsterRunStatus.QUEUED:
            continue  # dequeued meanwhile
        instance.report_run_canceled(
            latest,
            message=f"the `registry build` (pid {pid}) that queued this run is gone: marked "
            "canceled by the next build, so that no daemon starts it later",
        )
        said.append(f"dagster run {run.run_id} ({run.job_name}) was left QUEUED by a "
                    f"`registry build` (pid {pid}) that is gone: marked CANCELED")  # fmt: skip
    return said
