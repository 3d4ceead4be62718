"""`registry build`: run the build job against the workspace's Dagster instance, launched
through the workspace's code location and the instance's run launcher (the run on the job's
page, the asset pages and the Overview timeline, as one launched from the UI) or, `in_process`,
executed in this process (tests, `--in-process`); each registry's entry is read from the run's
events in the instance either way (`lib.build_entries`)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import dagster as dg

from registry_pipeline.core.errors import RegistryError, problem_object
from registry_pipeline.core.gate.registry import check_names
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.workspace.build_lock import DEFAULT_WAIT, build_lock
from registry_pipeline.core.workspace.catalog import RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build_entries import RegistryBuild, run_entries
from registry_pipeline.lib.instance import dagster_home, open_instance
from registry_pipeline.lib.promotion import promote_checked, promote_materialization, run_verdict
from registry_pipeline.lib.resources import HOST_TAG, PID_TAG
from registry_pipeline.lib.settled import settled_sources

BUILD_JOB = "build_registries"
"""The job that builds every registry: `definitions.py` defines it under this name."""
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Dagster's run log stays in the instance (the UI shows it); the CLI prints its own summary."""
IN_PROCESS_ENV = "REGISTRY_BUILD_IN_PROCESS"
"""Set to 1: `registry build` executes its run in process, as with `--in-process`."""
RUN_TIMEOUT = 24 * 3600.0
"""Seconds `registry build` waits for the run it launched before cancelling it."""
SUBMITTER_TAG = "registry-pipeline/submitted-by"
"""`pid@host` of the `registry build` that launched the run, whose delegate it is."""


class DefinitionsFactory(Protocol):
    """Makes a workspace's Definitions (`definitions.build_definitions`): lib is given the graph."""

    def __call__(
        self, root: Path, *, full_audit: bool = ..., build_wait: float = ...
    ) -> dg.Definitions: ...


@dataclass(frozen=True)
class BuildSummary:
    """The Dagster run (None when there was nothing to run) and one entry per registry."""

    dagster_run_id: str | None
    success: bool
    registries: list[RegistryBuild]
    problems: list[dict[str, object]] = field(default_factory=list)
    """Why the run failed outside any registry's step (RUN_FAILED), if it did."""


def in_process_default() -> bool:
    """Whether a build executes in process when not told: `$REGISTRY_BUILD_IN_PROCESS` is 1."""
    return os.environ.get(IN_PROCESS_ENV, "").strip() == "1"


def run_build(
    root: Path,
    definitions: DefinitionsFactory,
    *,
    select: Sequence[str] = (),
    full_audit: bool = False,
    wait: float = DEFAULT_WAIT,
    on_wait: Callable[[str], None] | None = None,
    in_process: bool | None = None,
) -> BuildSummary:
    """Build the selected registries (all when empty), promote them, summarize what happened.

    Without a selection, a source registry whose newest snapshot already holds exactly its
    current files and validates is settled before Dagster starts: it is not materialized again
    (Dagster keeps its last materialization, dependents read that snapshot) and its entry says
    `reused`. A full audit settles nothing: every registry is materialized and checked.

    The run of BUILD_JOB (of the graph `definitions` makes: `definitions.build_definitions`) is
    launched through the workspace's code location, or executed in this process when
    `in_process` (None: `in_process_default()`). When every registry built and passed its
    checks, each one is promoted through `lib.promotion` (the job's code path); a failed build
    promotes nothing.

    The whole build holds the workspace's build lock (waiting up to `wait` seconds for another
    build, then BUILD_IN_PROGRESS): one build at a time per workspace. On a PostgreSQL instance
    it also holds the instance's build slot, which builds on other machines wait for too. Both
    name the run it executes their delegate: that run takes neither again.
    """
    from dagster._core.utils import make_new_run_id

    from registry_pipeline.lib.build_slot import workspace_build_slot

    workspace = Workspace(root)
    command, run_id = "registry build", make_new_run_id()
    in_process = in_process_default() if in_process is None else in_process
    with (
        build_lock(workspace, wait=wait, command=command, on_wait=on_wait, delegate=run_id),
        workspace_build_slot(root, wait=wait, command=command, on_wait=on_wait, delegate=run_id),
    ):
        return _run_build(
            workspace, definitions, select, full_audit, wait, run_id, in_process, on_wait
        )


def _run_build(
    workspace: Workspace,
    make_definitions: DefinitionsFactory,
    select: Sequence[str],
    full_audit: bool,
    wait: float,
    dagster_run_id: str,
    in_process: bool,
    on_wait: Callable[[str], None] | None,
) -> BuildSummary:
    root = workspace.root
    with_pointer = [
        spec.registry_id for spec in load_catalog(workspace).registries if spec.active_pointer
    ]
    store = PointerStore(workspace)
    store.require_intact()  # a broken journal or a hand-edited pointer stops the build here
    store.explained(with_pointer)
    home = dagster_home(root)
    os.environ["DAGSTER_HOME"] = str(home)
    with (
        open_instance(root) as instance,
        inspection_cache(workspace.verdicts_path, trust_stored=not full_audit),
    ):
        # resolved inside the instance's context: Dagster loads definitions against the
        # instance entered last in this process (a context variable), which must be this one
        definitions = make_definitions(root, full_audit=full_audit, build_wait=wait)
        job = definitions.resolve_job_def(BUILD_JOB)
        in_job = job.asset_layer.asset_graph.executable_asset_keys  # not drift_signals_daily
        graph_keys = [
            key for key in definitions.resolve_asset_graph().toposorted_asset_keys if key in in_job
        ]
        mark_dead_builds_failed(instance)
        settled = {} if select or full_audit else _settled_sources(workspace, graph_keys)
        wanted = [dg.AssetKey(registry_id) for registry_id in select] or [
            key for key in graph_keys if key.to_user_string() not in settled
        ]
        run_id: str | None = dagster_run_id
        problems: list[dict[str, object]] = []
        if not wanted:  # every registry is a settled source: nothing for Dagster to do
            entries, run_id, success = list(settled.values()), None, True
        else:
            config = _run_config(root, full_audit, wait, settled)
            if in_process:
                job.execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    asset_selection=wanted,
                    run_config=config,
                    run_id=dagster_run_id,
                )
            else:
                _launch(instance, root, wanted, config, dagster_run_id, on_wait)
            outcome = run_entries(instance, dagster_run_id, wanted)
            if outcome.interrupted and in_process:  # Ctrl-C: Dagster failed the run
                raise KeyboardInterrupt  # nothing is promoted
            entries = [
                settled.get(key.to_user_string()) or outcome.entries[key.to_user_string()]
                for key in graph_keys
                if key in wanted or key.to_user_string() in settled
            ]
            success = outcome.success and all(e.status in ("built", "reused") for e in entries)
            problems = outcome.problems
        verdict = run_verdict(instance, run_id)  # the sensor's rule, on this run
        if success and verdict.promotable:
            catalog = load_catalog(workspace)
            entries = [
                _promote(instance, workspace, catalog.get(e.registry_id), e, run_id, settled)
                for e in entries
            ]
            success = not any(entry.problems for entry in entries)
        else:
            success = False
    return BuildSummary(run_id, success, entries, problems)


def _launch(
    instance: dg.DagsterInstance,
    root: Path,
    wanted: Sequence[dg.AssetKey],
    run_config: dict[str, Any],
    dagster_run_id: str,
    on_wait: Callable[[str], None] | None,
) -> None:
    """The run `dagster_run_id` of BUILD_JOB for `wanted`, submitted through the workspace's
    code location and waited for (`on_wait` told once when it stays queued); interrupted
    (Ctrl-C), it is cancelled first; cancelled from elsewhere (the UI), RUN_CANCELED."""
    from registry_pipeline.lib.launch import cancel_run, code_location, submit, wait_for_run

    tags = {SUBMITTER_TAG: f"{os.getpid()}@{socket.gethostname()}"}
    polls_queued = [0]

    def queued(run: dg.DagsterRun) -> None:  # queued still after a turn of the queue: say why
        polls_queued[0] = polls_queued[0] + 1 if run.status == dg.DagsterRunStatus.QUEUED else 0
        if on_wait is not None and polls_queued[0] == 2:
            on_wait(_queued_behind(instance, dagster_run_id))

    with code_location(instance, root) as context:
        try:
            submit(context, BUILD_JOB, tags, run_config, wanted, run_id=dagster_run_id)
            run = wait_for_run(context, dagster_run_id, timeout=RUN_TIMEOUT, on_poll=queued)
        except KeyboardInterrupt:
            cancel_run(context, dagster_run_id)
            raise
        except TimeoutError:
            cancel_run(context, dagster_run_id)
            raise RegistryError(
                f"dagster run {dagster_run_id} did not finish in {RUN_TIMEOUT:g} s: cancelled",
                code="RUN_TIMEOUT",
            ) from None
    if run.status == dg.DagsterRunStatus.CANCELED:
        raise RegistryError(
            f"dagster run {dagster_run_id} was cancelled before it finished (from the UI?); "
            "nothing was promoted",
            code="RUN_CANCELED",
        )


def _run_config(
    root: Path, full_audit: bool, wait: float, settled: dict[str, RegistryBuild]
) -> dict[str, object]:
    """Quiet logs, the settled sources as the run's own inputs (`lib.inputs.SAME_BUILD`), and
    this build's settings for the resources (a code server's definitions have the defaults)."""
    config = {
        "root": str(root),
        "full_audit": full_audit,
        "settled": {rid: str(entry.run_id) for rid, entry in settled.items()},
    }
    lock = {"root": str(root), "wait_seconds": wait, "full_audit": full_audit}
    resources = {"registry_workspace": {"config": config}, "build_lock": {"config": lock}}
    return {**QUIET_LOGS, "resources": resources}


def _promote(
    instance: dg.DagsterInstance,
    workspace: Workspace,
    spec: RegistrySpec,
    entry: RegistryBuild,
    dagster_run_id: str | None,
    settled: dict[str, RegistryBuild],
) -> RegistryBuild:
    """`entry` after promoting its snapshot; a refusal other than NOT_NEWER or HELD is a problem.

    A settled source (unchanged, reused without Dagster) was validated in this build by the
    same core function as the asset checks (`inspect_run_folder`), so it is promoted on that
    verdict: it does not depend on how far an earlier build got, nor on Dagster's history.
    """
    if entry.run_id is None:
        return entry
    actor = {"kind": "registry_build", "id": dagster_run_id or "no dagster run (all settled)"}
    if entry.registry_id in settled:
        source = "registry build: inspect_run_folder in this build (as the asset checks)"
        checks = {name: {"passed": True, "source": source} for name in check_names(spec)}
        reason = "unchanged source snapshot, validated again in this build"
        outcome = promote_checked(workspace, spec, entry.run_id, reason, actor, checks)
    else:
        outcome = promote_materialization(
            instance, workspace.root, entry.registry_id, entry.run_id, str(dagster_run_id), actor
        )
    promotion = outcome.reason if outcome.code in (None, "HELD") else outcome.code
    problems = (
        [problem_object(str(outcome.code), outcome.reason, field="promotion")]
        if outcome.is_error
        else []
    )
    return replace(
        entry, promoted=outcome.promoted, promotion=promotion, problems=entry.problems + problems
    )


def _queued_behind(instance: dg.DagsterInstance, dagster_run_id: str) -> str:
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    runs = instance.get_runs(dg.RunsFilter(job_name=BUILD_JOB, statuses=IN_PROGRESS_RUN_STATUSES))
    ahead = ", ".join(run.run_id for run in runs) or "a run the instance's limits hold back"
    return (
        f"waiting: dagster run {dagster_run_id} is queued behind {ahead} (the instance runs one "
        "build run at a time; a run waiting for this build's lock gives up after its wait)"
    )


def mark_dead_builds_failed(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the build runs left STARTED by a process that no longer runs (killed), and
    cancel those a killed `registry build` left queued (its delegates, which no holder would
    hand the build lock: started, each would stall the queue until it gave up waiting).

    Called under the build lock. The pid is the tag `registry build` sets, else the pid of the
    run's first event; runs of another host, or whose process still runs, are left alone (a UI
    run waiting for the build lock is alive). Returns the run ids marked.
    """
    marked = _cancel_orphaned_delegates(instance)
    statuses = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    for record in instance.get_run_records(dg.RunsFilter(job_name=BUILD_JOB, statuses=statuses)):
        run = record.dagster_run
        host = run.tags.get(HOST_TAG)
        pid = _run_pid(instance, run)
        if (host is not None and host != socket.gethostname()) or pid is None or _alive(pid):
            continue
        instance.report_run_failed(
            run,
            message=f"the process ({pid}) that ran this build no longer runs (it was killed); "
            "marked failed by the next `registry build`",
        )
        marked.append(run.run_id)
    return marked


def _cancel_orphaned_delegates(instance: dg.DagsterInstance) -> list[str]:
    statuses = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]
    cancelled: list[str] = []
    for record in instance.get_run_records(dg.RunsFilter(job_name=BUILD_JOB, statuses=statuses)):
        run = record.dagster_run
        pid, _, host = run.tags.get(SUBMITTER_TAG, "").partition("@")
        if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
            continue
        instance.report_run_canceled(
            run,
            message=f"the `registry build` ({pid}) that launched this run no longer runs (it was "
            "killed); cancelled by the next `registry build`",
        )
        cancelled.append(run.run_id)
    return cancelled


def _run_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    text = run.tags.get(PID_TAG)
    if text is None:  # a run that died before its build lock was taken: its run worker's pid
        start = dg.DagsterEventType.RUN_START
        records = instance.get_records_for_run(run.run_id, of_type=start, limit=1).records
        event = records[0].event_log_entry.dagster_event if records else None
        return event.pid if event is not None else None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _settled_sources(
    workspace: Workspace, graph_keys: Sequence[dg.AssetKey]
) -> dict[str, RegistryBuild]:
    """Sources that need no build (`lib.settled`), as this build's entries."""
    found = settled_sources(workspace, [key.to_user_string() for key in graph_keys])
    return {
        registry_id: RegistryBuild(
            registry_id,
            "reused",
            entry.snapshot.run_id,
            entry.snapshot.root_sha256,
            entry.record_count,
            entry.checks,
            notes=entry.notes,
        )
        for registry_id, entry in found.items()
    }
