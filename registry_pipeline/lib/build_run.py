"""A run of the build job, whoever launched it (`registry build`, the UI's Launch button, a
schedule, a sensor, a re-execution): the one place that decides what a build does around its
steps, so that every door does the same build.

- `begin`, at the start of the run (its `build_run` resource), under the workspace's build slot:
  what other machines published is fetched, the pointer history is verified, builds a killed
  process left STARTED are marked failed, what the build reads is noted (a build of the whole
  catalog) and the unchanged sources it reuses are decided (`settled_sources`, below);
- the steps build, seal and check each registry (`defs.assets`; a settled source reuses its
  snapshot and its verdicts);
- `finish`, at the end of the run, still under the slot: when every step and every blocking
  check passed (`lib.promotion.run_verdict`, the sensor's rule), each snapshot with a pointer
  is promoted through the one publish gate, each outcome written to the run's log as an engine
  event (`PROMOTION_KEY`), and a build of the whole catalog is recorded (`core.freshness`), so
  the next `registry build` answers "up to date".

The no-change shortcut (`settled_sources`): sources settled before Dagster starts. A source is
settled when its newest snapshot holds exactly its current files and the gate would admit it as
it is (`gate.admissible`: a passing receipt of exactly that root, none that failed, run by the
checks the catalog asks now against what is current), the checks that read the working tree
(parse and schemas, append-only, a log's prefix and rules) pass now, and every registry its
coordination rules refer to is settled too: a referred registry that is built again re-checks
the ones referring to it. The shortcut is exactly as strict as the path it shortcuts: anything
it cannot settle goes through Dagster, visibly.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.append_only.governed import governed_files
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness import active_snapshots, build_inputs, record_build
from registry_pipeline.core.gate.checks import check_names
from registry_pipeline.core.gate.dependencies import coordination_reads
from registry_pipeline.core.gate.gate import admissible, admission, sync
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, list_snapshots
from registry_pipeline.core.workspace.sources import (
    SourcePaths,
    count_records,
    source_paths,
    source_problems,
    unchanged_snapshot,
    unexpected_note,
)
from registry_pipeline.lib.promotion import (
    PromotionOutcome,
    promote_materialization,
    run_verdict,
)

BUILD_JOB = "build_registries"
"""The job that builds every registry: `definitions.py` defines it under this name."""
BUILD_TAG = "registry-pipeline/build"
"""Every build run carries this tag; the instance's run queue admits one such run at a time."""
PID_TAG = "registry-pipeline/pid"
HOST_TAG = "registry-pipeline/host"
"""Tags of every build run: the process that runs it, so a later build can tell a killed
build's run (left STARTED) from a live one."""
SUBMITTER_TAG = "registry-pipeline/submitted-by"
"""`pid@host` of the `registry build` that launched the run (and waits for it)."""
PROMOTION_KEY = "registry_promotion"
"""Engine event metadata: one promotion outcome (`PromotionOutcome.as_json`)."""


@dataclass(frozen=True)
class BuildStart:
    """What a build run decided at its start."""

    settled: dict[str, Settled] = field(default_factory=dict)
    """Unchanged sources the run reuses with their verdicts instead of sealing them again."""
    read: dict[str, Any] | None = None
    """What a build of the whole catalog read (`core.freshness.build_inputs`), to record."""


def door(run: dg.DagsterRun) -> str:
    """How the run was started, in words: who a waiter waits for."""
    tags = run.tags
    if SUBMITTER_TAG in tags:
        return f"registry build (pid {tags[SUBMITTER_TAG]})"
    if "dagster/schedule_name" in tags:
        return f"the schedule {tags['dagster/schedule_name']}"
    if "dagster/sensor_name" in tags:
        return f"the sensor {tags['dagster/sensor_name']}"
    if "dagster/backfill" in tags:
        return f"the backfill {tags['dagster/backfill']}"
    return "the Dagster UI or API"


def builds_in_progress(instance: dg.DagsterInstance, run_id: str) -> str:
    """The build runs in progress other than `run_id`, each with the door it came through (who a
    queued build waits for), in words; "" when none."""
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    runs = instance.get_runs(
        dg.RunsFilter(tags={BUILD_TAG: "1"}, statuses=IN_PROGRESS_RUN_STATUSES)
    )
    return ", ".join(f"dagster run {r.run_id} ({door(r)})" for r in runs if r.run_id != run_id)


def holder(run: dg.DagsterRun) -> str:
    """The build slot's note for this run: which run, started how, where, since when."""
    since = now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"dagster run {run.run_id} (started by {door(run)}; pid {os.getpid()} on "
        f"{socket.gethostname()} since {since})"
    )


def is_whole(run: dg.DagsterRun, job_keys: Sequence[dg.AssetKey]) -> bool:
    """Whether the run builds the whole catalog (the job, not a selection of it)."""
    selection = run.asset_selection
    return not selection or set(job_keys) <= set(selection)  # none or empty: the whole job


def begin(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    workspace: Workspace,
    job_keys: Sequence[dg.AssetKey],
    *,
    full_audit: bool,
) -> BuildStart:
    """The start of a build run, under the build slot (module doc). A broken pointer history
    fails the run here, before anything is built (CHAIN_BROKEN, POINTER_MISMATCH, ...)."""
    instance.add_run_tags(run.run_id, {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})
    sync(workspace)  # on object storage: what other machines published, before reading
    catalog = load_catalog(workspace)
    store = PointerStore(workspace)
    store.require_intact(admit=admission)
    store.explained([spec.registry_id for spec in catalog.registries if spec.active_pointer])
    mark_dead_builds_failed(instance)
    if not is_whole(run, job_keys):
        return BuildStart()
    read = build_inputs(workspace)
    if full_audit:
        return BuildStart(read=read)
    ids = [key.to_user_string() for key in job_keys]
    return BuildStart(settled_sources(workspace, ids), read)


def finish(
    instance: dg.DagsterInstance, run: dg.DagsterRun, workspace: Workspace, start: BuildStart
) -> list[PromotionOutcome]:
    """The end of a build run, under the build slot: promote what passed, record the build
    (module doc). Each outcome is also an engine event of the run. Nothing when the run failed
    or is being cancelled."""
    verdict = run_verdict(instance, run.run_id, in_run=True)
    if not verdict.promotable:
        instance.report_engine_event(f"nothing promoted: {verdict.reason}", run)
        return []
    actor = {"kind": "dagster_run", "id": run.run_id}
    outcomes = []
    for registry_id, snapshot in materialized(instance, run.run_id).items():
        outcome = promote_materialization(
            instance, workspace.root, registry_id, snapshot, run.run_id, actor, verdict=verdict
        )
        outcomes.append(outcome)
        instance.report_engine_event(
            f"{registry_id} {snapshot}: {outcome.reason}",
            run,
            _event_data({PROMOTION_KEY: dg.MetadataValue.json(outcome.as_json())}),
        )
    if start.read is not None and not any(outcome.is_error for outcome in outcomes):
        after = {rid: [run_id] for rid, run_id in active_snapshots(workspace).items()}
        try:
            record_build(workspace, start.read, after, run.run_id)
        except RegistryError as exc:  # the build stands; only the next one cannot be skipped
            instance.report_engine_event(
                f"the build was not recorded ({exc.code}: {exc.message}); the next build "
                "will run in full",
                run,
            )
    return outcomes


def materialized(instance: dg.DagsterInstance, dagster_run_id: str) -> dict[str, str]:
    """Registry id -> the snapshot (run folder) the run materialized or reused for it, in the
    order the run materialized them (the graph's)."""
    made: dict[str, str] = {}
    event_type = dg.DagsterEventType.ASSET_MATERIALIZATION
    for record in instance.get_records_for_run(dagster_run_id, of_type=event_type).records:
        materialization = record.asset_materialization
        value = materialization.metadata.get("run_id") if materialization else None
        if materialization is not None and value is not None:
            made[materialization.asset_key.to_user_string()] = str(value.value)
    return made


def promotions(events: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Registry id -> its promotion outcome (as JSON) among a run's events (`finish`'s)."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.event_type != dg.DagsterEventType.ENGINE_EVENT:
            continue
        data = event.event_specific_data
        value = data.metadata.get(PROMOTION_KEY) if data is not None else None
        if value is not None and isinstance(value.value, Mapping):
            found[str(value.value["registry_id"])] = dict(value.value)
    return found


def _event_data(metadata: Mapping[str, Any]) -> Any:
    from dagster._core.events import EngineEventData

    return EngineEventData(metadata=dict(metadata))


def mark_dead_builds_failed(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the build runs left STARTED by a process of this host that no longer runs
    (killed): called under the build slot, so no live build of this workspace is among them
    but the caller. The pid is the run's tag, else the pid of its first event; runs of another
    host, or whose process still runs, are left alone. Returns the run ids marked."""
    statuses = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    marked: list[str] = []
    for record in instance.get_run_records(dg.RunsFilter(job_name=BUILD_JOB, statuses=statuses)):
        run = record.dagster_run
        host = run.tags.get(HOST_TAG)
        pid = _run_pid(instance, run)
        if (host is not None and host != socket.gethostname()) or pid is None or alive(pid):
            continue
        instance.report_run_failed(
            run,
            message=f"the process ({pid}) that ran this build no longer runs (it was killed); "
            "marked failed by the next build",
        )
        marked.append(run.run_id)
    return marked


def _run_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    text = run.tags.get(PID_TAG)
    if text is None:  # a run that died before its build slot was taken: its worker's pid
        start = dg.DagsterEventType.RUN_START
        records = instance.get_records_for_run(run.run_id, of_type=start, limit=1).records
        event = records[0].event_log_entry.dagster_event if records else None
        return event.pid if event is not None else None
    return int(text) if text.isdigit() else None


def alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Settled:
    """A source this build reuses without Dagster."""

    snapshot: Snapshot
    record_count: int | None
    checks: dict[str, bool]
    notes: list[str]


def settled_sources(workspace: Workspace, in_graph: Iterable[str]) -> dict[str, Settled]:
    """The sources of `in_graph` that need no build (see the module's docstring)."""
    wanted = set(in_graph)
    schemas = SchemaCatalog.for_workspace(workspace.root)
    catalog = load_catalog(workspace)
    settled: dict[str, Settled] = {}
    for spec in catalog.registries:
        if spec.is_source and spec.registry_id in wanted:
            found = _settle(workspace, catalog, spec, schemas)
            if found is not None:
                settled[spec.registry_id] = found
    reads = coordination_reads(workspace.root, catalog)
    changed = True
    while changed:  # one unsettled referred registry unsettles what refers to it, transitively
        changed = False
        for registry_id in list(settled):
            if any(o in wanted and o not in settled for o in reads.get(registry_id, ())):
                del settled[registry_id]
                changed = True
    return settled


def _settle(
    workspace: Workspace,
    catalog: RegistryCatalog,
    spec: RegistrySpec,
    schemas: SchemaCatalog,
) -> Settled | None:
    try:
        source = source_paths(workspace.root, spec.sources, spec.kind)
    except RegistryError:
        return None  # the asset reports it, as its step failure
    try:  # each check reads the files from their paths, a block or a line at a time
        return _settle_files(workspace, catalog, spec, schemas, source)
    except OSError:
        return None  # a file gone or unreadable since it was found: the asset reports it


def _settle_files(
    workspace: Workspace,
    catalog: RegistryCatalog,
    spec: RegistrySpec,
    schemas: SchemaCatalog,
    source: SourcePaths,
) -> Settled | None:
    if source_problems(source.files, schemas):  # the asset's own check: no shortcut past it
        return None
    try:  # the append-only check too: a violation goes through Dagster, visibly failing
        governed = governed_files(workspace, spec, source.files, schemas)
    except RegistryError:
        return None
    if not governed.ok:
        return None
    snapshots = list_snapshots(workspace, spec.registry_id)
    newest = snapshots[-1] if snapshots else None
    if newest is None or unchanged_snapshot(newest.path, governed.files, schemas) != (True, True):
        return None
    try:  # the gate's own rule: a passing receipt that is current, and none that failed
        if admissible(workspace, spec.registry_id, newest.root_sha256) is None:
            return None  # never checked as a whole, failed, or checked against another state
    except RegistryError:
        return None
    # last: a log's checks read every record; a new or changed log is found unsettled first
    if spec.kind == "log" and not _log_checks_pass(workspace, catalog, spec, source.files, schemas):
        return None
    return Settled(
        newest,
        count_records(source.files),
        dict.fromkeys(check_names(spec), True),
        [unexpected_note(path) for path in source.unexpected],
    )


def _log_checks_pass(
    workspace: Workspace,
    catalog: RegistryCatalog,
    spec: RegistrySpec,
    files: dict[str, Path],
    schemas: SchemaCatalog,
) -> bool:
    """A log's append_only check (and a run index's rules check), by the functions the asset
    checks call, each reading the file a block at a time."""
    from registry_pipeline.core.run_index import index_spec, log_prefix, log_problems

    path = files.get(spec.primary_artifact)
    if path is None:
        return False
    try:
        with path.open("rb") as current:
            if not log_prefix(workspace, spec, current, schemas).ok:
                return False
        if spec.run_index is None:
            return True
        found = log_problems(workspace.root, catalog, index_spec(catalog, spec.registry_id), path)
    except (RegistryError, OSError):
        return False
    return not any(problem.severity == "error" for problem in found)
