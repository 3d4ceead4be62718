"""`registry build`: run the build job in process against the workspace's Dagster instance."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import dagster as dg

from registry_pipeline.core.errors import problem_object
from registry_pipeline.core.gate.registry import check_names
from registry_pipeline.core.gate.verdict import problem_objects
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.workspace.build_lock import DEFAULT_WAIT, build_lock
from registry_pipeline.core.workspace.catalog import RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import (
    unexpected_note,
)
from registry_pipeline.lib.failures import failure_problems
from registry_pipeline.lib.instance import dagster_home, open_instance
from registry_pipeline.lib.io_manager import UNEXPECTED_FILES
from registry_pipeline.lib.promotion import promote_checked, promote_materialization, run_verdict
from registry_pipeline.lib.resources import HOST_TAG, PID_TAG
from registry_pipeline.lib.settled import settled_sources

BUILD_JOB = "build_registries"
"""The job that builds every registry: `definitions.py` defines it under this name."""
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Dagster's run log stays in the instance (the UI shows it); the CLI prints its own summary."""


class DefinitionsFactory(Protocol):
    """Makes a workspace's Definitions (`definitions.build_definitions`): lib is given the graph."""

    def __call__(
        self, root: Path, *, full_audit: bool = ..., build_wait: float = ...
    ) -> dg.Definitions: ...


@dataclass(frozen=True)
class RegistryBuild:
    """What one build did to one registry."""

    registry_id: str
    status: str
    """`built`, `reused`, `failed` (a step or a check failed) or `skipped` (upstream failed)."""
    run_id: str | None = None
    root_sha256: str | None = None
    record_count: int | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[dict[str, object]] = field(default_factory=list)
    """`problem_object`s: what failed (a check, the step, the promotion), never a warning."""
    promoted: bool = False
    """True when this build moved the registry's active pointer to `run_id`."""
    promotion: str = "build failed"
    """Why not, when not: "already active", "NOT_NEWER", "no pointer by design", ..."""
    notes: list[str] = field(default_factory=list)
    """What the build noticed without failing (files a source's glob left out)."""

    def as_json(self) -> dict[str, object]:
        """The object `registry build --json` prints for this registry."""
        return {
            "registry_id": self.registry_id,
            "status": self.status,
            "run_id": self.run_id,
            "root_sha256": self.root_sha256,
            "record_count": self.record_count,
            "checks": self.checks,
            "promoted": self.promoted,
            "promotion": self.promotion,
            "problems": self.problems,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class BuildSummary:
    """The Dagster run (None when there was nothing to run) and one entry per registry."""

    dagster_run_id: str | None
    success: bool
    registries: list[RegistryBuild]


def run_build(
    root: Path,
    definitions: DefinitionsFactory,
    *,
    select: Sequence[str] = (),
    full_audit: bool = False,
    wait: float = DEFAULT_WAIT,
    on_wait: Callable[[str], None] | None = None,
) -> BuildSummary:
    """Build the selected registries (all when empty), promote them, summarize what happened.

    Without a selection, a source registry whose newest snapshot already holds exactly its
    current files and validates is settled before Dagster starts: it is not materialized again
    (Dagster keeps its last materialization, dependents read that snapshot) and its entry says
    `reused`. A full audit settles nothing: every registry is materialized and checked.

    When every registry built and passed its checks, each one is promoted through
    `lib.promotion` (the job's code path); a failed build promotes nothing. `definitions` makes
    the graph whose BUILD_JOB runs (`definitions.build_definitions`).

    The whole build holds the workspace's build lock (waiting up to `wait` seconds for another
    build, then BUILD_IN_PROGRESS): one build at a time per workspace. On a PostgreSQL instance
    it also holds the instance's build slot, which builds on other machines wait for too.
    """
    from registry_pipeline.lib.build_slot import workspace_build_slot

    workspace = Workspace(root)
    command = "registry build"
    with (
        build_lock(workspace, wait=wait, command=command, on_wait=on_wait),
        workspace_build_slot(workspace.root, wait=wait, command=command, on_wait=on_wait),
    ):
        return _run_build(workspace, definitions, select, full_audit, wait)


def _run_build(
    workspace: Workspace,
    make_definitions: DefinitionsFactory,
    select: Sequence[str],
    full_audit: bool,
    wait: float,
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
        if not wanted:  # every registry is a settled source: nothing for Dagster to do
            entries, run_id, success = list(settled.values()), None, True
        else:
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                asset_selection=wanted,
                run_config=_run_config(root, full_audit, settled),
            )
            if _interrupted(result):  # Ctrl-C: Dagster failed the run; nothing is promoted
                raise KeyboardInterrupt
            entries = [
                settled.get(key.to_user_string()) or _entry(result, key)
                for key in graph_keys
                if key in wanted or key.to_user_string() in settled
            ]
            run_id = result.run_id
            success = result.success and all(e.status in ("built", "reused") for e in entries)
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
    return BuildSummary(run_id, success, entries)


def _run_config(
    root: Path, full_audit: bool, settled: dict[str, RegistryBuild]
) -> dict[str, object]:
    """Quiet logs, and the settled sources as the run's own inputs (`lib.inputs.SAME_BUILD`)."""
    config = {
        "root": str(root),
        "full_audit": full_audit,
        "settled": {rid: str(entry.run_id) for rid, entry in settled.items()},
    }
    return {**QUIET_LOGS, "resources": {"registry_workspace": {"config": config}}}


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


def mark_dead_builds_failed(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the build runs left STARTED by a process that no longer runs (killed).

    Called under the build lock. The pid is the tag `registry build` sets, else the pid of the
    run's first event; runs of another host, or whose process still runs, are left alone (a UI
    run waiting for the build lock is alive). Returns the run ids marked.
    """
    statuses = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    marked: list[str] = []
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


def _entry(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> RegistryBuild:
    checks = {
        evaluation.check_name: evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key == key
    }
    problems = [
        problem
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key == key
        for problem in problem_objects(
            evaluation.check_name,
            evaluation.passed,
            evaluation.description,
            {name: value.value for name, value in evaluation.metadata.items()},
        )
    ]
    materialized = list(result.asset_materializations_for_node(key.to_python_identifier()))
    if not materialized:
        failed = any(
            e.is_step_failure and e.step_key == key.to_python_identifier()
            for e in result.all_events
        )
        return RegistryBuild(
            key.to_user_string(),
            "failed" if failed else "skipped",
            problems=problems or _step_errors(result, key),
        )
    metadata = materialized[-1].metadata
    reused = bool(metadata["reused_snapshot"].value) if "reused_snapshot" in metadata else False
    status = "failed" if not all(checks.values()) else ("reused" if reused else "built")
    count = metadata.get("record_count")
    listed = metadata.get(UNEXPECTED_FILES)
    unexpected = listed.value if listed is not None and isinstance(listed.value, list) else []
    said = metadata.get("notes")  # a builder's own notes (lines of its inputs it could not read)
    notes = [str(note) for note in said.value] if said and isinstance(said.value, list) else []
    return RegistryBuild(
        key.to_user_string(),
        status,
        str(metadata["run_id"].value),
        str(metadata["root_sha256"].value),
        int(str(count.value)) if count is not None else None,
        checks,
        problems,
        notes=[unexpected_note(str(path)) for path in unexpected] + notes,
    )


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether Dagster stopped the run on an interrupt (it captures SIGINT during the run and
    fails the step it was in, rather than letting KeyboardInterrupt through)."""
    interrupts = ("DagsterExecutionInterruptedError", "KeyboardInterrupt")
    return any(
        event.is_step_failure
        and event.step_failure_data.error is not None
        and event.step_failure_data.error.cls_name in interrupts
        for event in result.all_events
    )


def _step_errors(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> list[dict[str, object]]:
    """The failed step's own cause: our `dg.Failure` (`lib.failures.step_failure`: reason code,
    path, message, then its problems), else the innermost exception of Dagster's error chain (a
    bug: said as INTERNAL)."""
    errors: list[dict[str, object]] = []
    for event in result.all_events:
        if event.is_step_failure and event.step_key == key.to_python_identifier():
            data = event.step_failure_data
            failure = data.user_failure_data
            if failure is not None and failure.description:
                errors.extend(failure_problems(failure.description, failure.metadata))
                continue
            error = data.error
            while error is not None and error.cause is not None:
                error = error.cause
            text = error.message.strip() if error else "step failed"
            message = f"{text} (a bug: the full traceback is in the Dagster UI)"
            errors.append(problem_object("INTERNAL", message))
    return errors
