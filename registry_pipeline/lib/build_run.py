"""A build run's begin and finish around its steps, the same for every door (docs/OPERATIONS.md)."""

from __future__ import annotations

import functools
import os
import signal
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.events import EngineEventData
from pydantic import PrivateAttr

from registry_pipeline.core.append_only.baseline import governed_files
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness import active_snapshots, build_inputs, record_build
from registry_pipeline.core.gate.checks import check_names
from registry_pipeline.core.gate.dependencies import coordination_reads
from registry_pipeline.core.gate.gate import admissible, admission, sealed_together, sync
from registry_pipeline.core.pointers.store import ANY, PointerRefused, PointerStore, pointer_relpath
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import cache_active, inspection_cache
from registry_pipeline.core.workspace.build_slot import DEFAULT_WAIT, build_slot
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, list_snapshots
from registry_pipeline.core.workspace.sources import (
    count_records,
    source_paths,
    source_problems,
    unchanged_snapshot,
    unexpected_note,
)
from registry_pipeline.lib.failures import run_events

BUILD_JOB = "build_registries"
"""The job that builds every registry: `definitions.py` defines it under this name."""
BUILD_TAG = "registry-pipeline/build"
"""Every build run carries this tag; the instance's run queue admits one such run at a time."""
PID_TAG = "registry-pipeline/pid"
HOST_TAG = "registry-pipeline/host"
"""Tags naming a build run's process, so a later build tells a killed run from a live one."""
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


SLOT_WAIT_KEY = "slot_wait"
"""Engine event metadata: the run waits for the build slot (the holder, in words)."""


class RegistryWorkspace(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The workspace whose registries are built; `root` is its folder."""

    root: str
    full_audit: bool = False
    """Re-hash every run folder instead of reusing the previous run registry's verdicts."""

    @property
    def workspace(self) -> Workspace:
        """The core's view of the workspace."""
        return Workspace(Path(self.root))


class BuildRun(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A run of the build job (module doc), set up once per run before its first step."""

    root: str
    wait_seconds: float = DEFAULT_WAIT
    """How long the run waits for another build before failing with BUILD_IN_PROGRESS."""
    full_audit: bool = False
    """Re-verify every run folder, trusting no stored verdict, and reuse no source unchecked."""
    _start: BuildStart = PrivateAttr(default_factory=BuildStart)

    @property
    def start(self) -> BuildStart:
        """What the run decided at its start (the sources it reuses)."""
        return self._start

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[BuildRun]:
        from registry_pipeline.lib.postgres import postgres_slot

        run, instance = context.run, context.instance
        if run is None or instance is None:  # built outside a run (a test's direct call)
            yield self
            return
        workspace = Workspace(Path(self.root))
        shared = [backend] if (backend := postgres_slot(instance)) is not None else []

        def waiting(who: str) -> None:  # said in the run's log, where the UI and the CLI read it
            instance.report_engine_event(
                f"waiting up to {self.wait_seconds:g} s for the workspace's build slot, held by "
                f"{who}",
                run,
                EngineEventData(metadata={SLOT_WAIT_KEY: who}),
            )

        def lost(reason: str) -> None:  # its pointer writes are refused from now on
            instance.report_engine_event(f"the bucket's build lease was lost: {reason}", run)

        with build_slot(
            workspace,
            holder(run),
            wait=self.wait_seconds,
            on_wait=waiting,
            shared=shared,
            on_lost=lost,
        ):
            self._start = begin(instance, run, workspace, full_audit=self.full_audit)
            # the run's verdict cache (an in-process run finds the command's own open, and keeps it)
            cache = inspection_cache(workspace.root, trust_stored=not self.full_audit)
            with nullcontext() if cache_active() else cache:
                yield self
                finish(instance, run, workspace, self._start)


def resources_config(root: str, full_audit: bool, **build_run: object) -> dict[str, object]:
    """Run config of both resources: an override must give a resource's whole config, `root` too."""
    workspace = {"root": root, "full_audit": full_audit}
    build = {**workspace, **build_run}
    return {
        "resources": {"registry_workspace": {"config": workspace}, "build_run": {"config": build}}
    }


DOORS = (
    (SUBMITTER_TAG, "registry build (pid {})"),
    ("dagster/schedule_name", "the schedule {}"),
    ("dagster/sensor_name", "the sensor {}"),
    ("dagster/backfill", "the backfill {}"),
)
"""How a run was started, by the tag that says it, first found first."""


def door(run: dg.DagsterRun) -> str:
    """How the run was started, in words: who a waiter waits for."""
    said = (text.format(run.tags[tag]) for tag, text in DOORS if tag in run.tags)
    return next(said, "the Dagster UI or API")


def builds_in_progress(instance: dg.DagsterInstance, run_id: str) -> str:
    """The other build runs in progress, each with its door, in words ("" when none)."""
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


def begin(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    workspace: Workspace,
    *,
    full_audit: bool,
) -> BuildStart:
    """The start of a build run under the build slot; a broken pointer history fails it here."""
    from registry_pipeline.core.builders.registry import BUILDERS, buildable

    pid, _, host = process_tag().partition("@")
    instance.add_run_tags(run.run_id, {PID_TAG: pid, HOST_TAG: host})
    sync(workspace)  # on object storage: what other machines published, before reading
    catalog = load_catalog(workspace)
    store = PointerStore(workspace)
    store.require_intact(admit=admission)
    store.explained([spec.registry_id for spec in catalog.registries if spec.active_pointer])
    mark_dead_builds_failed(instance)
    ids = [spec.registry_id for spec in buildable(catalog, BUILDERS)]  # the whole build job
    selection = run.asset_selection  # none or empty: the whole job
    if selection and not {dg.AssetKey(registry_id) for registry_id in ids} <= set(selection):
        return BuildStart()  # a selection of it
    read = build_inputs(workspace)
    if full_audit:
        return BuildStart(read=read)
    return BuildStart(settled_sources(workspace, ids), read)


def finish(
    instance: dg.DagsterInstance, run: dg.DagsterRun, workspace: Workspace, start: BuildStart
) -> list[PromotionOutcome]:
    """The end of a build run under the slot: promote what passed and record the build."""
    events = run_events(instance, run.run_id, {*STEP_TROUBLE, CHECK_PLANNED, CHECK_EVALUATION})
    why_not = why_not_promotable(instance, run.run_id, events)
    if why_not is not None:
        instance.report_engine_event(f"nothing promoted: {why_not}", run)
        return []
    outcomes = []
    sealed = materialized(instance, run.run_id)
    folders = {registry_id: workspace.runs_dir / name for registry_id, (name, _) in sealed.items()}
    pinned = sealed_together(workspace, folders)
    for registry_id, (snapshot, record) in sealed.items():
        outcome = promote(events, workspace, registry_id, snapshot, record, pinned)
        outcomes.append(outcome)
        instance.report_engine_event(
            f"{registry_id} {snapshot}: {outcome.reason}",
            run,
            EngineEventData(metadata={PROMOTION_KEY: dg.MetadataValue.json(outcome.as_json())}),
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


def materialized(
    instance: dg.DagsterInstance, dagster_run_id: str
) -> dict[str, tuple[str, dg.EventLogRecord]]:
    """Registry id -> the snapshot the run materialized or reused, and its record, graph order."""
    found: dict[str, tuple[str, dg.EventLogRecord]] = {}
    kind = dg.DagsterEventType.ASSET_MATERIALIZATION
    for record in instance.get_records_for_run(dagster_run_id, of_type=kind).records:
        materialization = record.asset_materialization
        value = materialization.metadata.get("run_id") if materialization else None
        if materialization is not None and value is not None:
            found[materialization.asset_key.to_user_string()] = (str(value.value), record)
    return found


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


CHECK_SOURCE = "dagster asset check; validated again by the pointer store under its lock"
CHECK_PLANNED = dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
CHECK_EVALUATION = dg.DagsterEventType.ASSET_CHECK_EVALUATION
STEP_TROUBLE = (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED)


class Outcome(StrEnum):
    """What a promotion attempt did."""

    PROMOTED = "promoted"
    ALREADY_ACTIVE = "already active"
    SKIPPED = "skipped"
    """Not an error: NOT_NEWER, or a registry on hold (a rollback or `pointers hold`)."""
    NO_POINTER = "no pointer by design"
    CHECKS_NOT_PASSED = "checks not passed"
    REFUSED = "refused"


@dataclass(frozen=True)
class PromotionOutcome:
    """The result of `promote` for one registry snapshot."""

    registry_id: str
    run_id: str
    outcome: Outcome
    reason: str
    """One line for humans: "promoted", "already active", "NOT_NEWER: ...", ..."""
    code: str | None = None
    """The pointer store's refusal code (NOT_NEWER, CAS_CONFLICT, TARGET_INVALID, ...)."""
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal_seq: int | None = None

    @property
    def is_error(self) -> bool:
        """A refusal other than NOT_NEWER, or checks that did not pass."""
        return self.outcome in (Outcome.REFUSED, Outcome.CHECKS_NOT_PASSED)

    def as_json(self) -> dict[str, object]:
        """A JSON object (the run's engine event, `registry build --json`): its fields in order."""
        return {**asdict(self), "outcome": self.outcome.value}


def why_not_promotable(
    instance: dg.DagsterInstance, dagster_run_id: str, events: Sequence[Any]
) -> str | None:
    """Why the run may not promote at its end (None: it may): a failed step, cancel or check."""
    run = instance.get_run_by_id(dagster_run_id)
    if run is None:
        return f"build failed: no Dagster run {dagster_run_id}"
    if run.status != dg.DagsterRunStatus.STARTED:
        return f"build stopped (Dagster run {run.status.value})"
    troubled = sorted({str(e.step_key) for e in events if e.event_type in STEP_TROUBLE})
    if troubled:
        return f"build failed: step(s) {', '.join(troubled)} failed"
    verdicts: dict[str, bool | None] = {}  # asset.check -> passed; None: planned, not evaluated
    for event in events:
        if event.event_type in STEP_TROUBLE:
            continue
        data = event.event_specific_data
        name = f"{data.asset_key.to_user_string()}.{data.check_name}"
        if event.event_type == CHECK_EVALUATION:
            verdicts[name] = bool(data.passed)
        else:
            verdicts.setdefault(name, None)
    failing = sorted((ok is None, name) for name, ok in verdicts.items() if not ok)
    if failing:
        what = ", ".join(f"{name} {'NOT_RUN' if unrun else 'FAILED'}" for unrun, name in failing)
        return f"build failed: {what}"
    return None


def promote(
    events: Sequence[Any],
    workspace: Workspace,
    registry_id: str,
    run_id: str,
    record: dg.EventLogRecord,
    pinned: Mapping[str, Path] | None = None,
) -> PromotionOutcome:
    """Promote snapshot `run_id` of a promotable run via the pointer store; refusals: outcomes."""
    dagster_run_id = record.run_id

    def outcome(kind: Outcome, reason: str, **extra: Any) -> PromotionOutcome:
        return PromotionOutcome(registry_id, run_id, kind, reason, **extra)

    try:
        spec = load_catalog(workspace).get(registry_id)
    except RegistryError as exc:
        return outcome(Outcome.REFUSED, exc.message, code=exc.code)
    if not spec.active_pointer:
        return outcome(Outcome.NO_POINTER, Outcome.NO_POINTER.value)
    checks = blocking_checks(events, record, check_names(spec))
    try:
        change = PointerStore(workspace).promote(
            spec.registry_id,
            run_id,
            relpath=pointer_relpath(spec.kind, spec.artifacts),
            reason=f"blocking checks passed in Dagster run {dagster_run_id}",
            actor={"kind": "dagster_run", "id": dagster_run_id},
            admit=functools.partial(admission, pinned=pinned),
            checks=checks,
            expect=ANY,
            automatic=True,
        )
    except PointerRefused as exc:
        skipped = exc.code in ("NOT_NEWER", "HELD")
        kind = Outcome.SKIPPED if skipped else Outcome.REFUSED
        text = exc.message if exc.code == "HELD" else f"{exc.code}: {exc.message}"
        return outcome(kind, text, code=exc.code, checks=checks)
    except RegistryError as exc:  # a stale lock, an unreadable pointer file, ...
        return outcome(Outcome.REFUSED, f"{exc.code}: {exc.message}", code=exc.code, checks=checks)
    if change.record is None:
        return outcome(Outcome.ALREADY_ACTIVE, Outcome.ALREADY_ACTIVE.value, checks=checks)
    seq = change.record.seq
    return outcome(Outcome.PROMOTED, Outcome.PROMOTED.value, checks=checks, journal_seq=seq)


def blocking_checks(
    events: Sequence[Any], materialization: dg.EventLogRecord, names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Each blocking check's verdict on that materialization, for the journal (PLANNED: not run)."""
    dagster_run_id = materialization.run_id
    passed: dict[str, bool] = {}
    for event in (e for e in events if e.event_type == CHECK_EVALUATION):
        data = event.event_specific_data
        target = data.target_materialization_data
        if data.asset_key == materialization.asset_key and (
            target is None or target.storage_id == materialization.storage_id
        ):
            passed[data.check_name] = bool(data.passed)
    return {
        name: {
            "passed": passed.get(name),
            "status": {True: "SUCCEEDED", False: "FAILED", None: "PLANNED"}[passed.get(name)],
            "source": CHECK_SOURCE,
            "dagster_run_id": dagster_run_id,
        }
        for name in names
    }


def mark_dead_builds_failed(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed (and return) runs a dead process here left STARTED; call under the build slot."""
    statuses = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    marked: list[str] = []
    for record in instance.get_run_records(dg.RunsFilter(job_name=BUILD_JOB, statuses=statuses)):
        run = record.dagster_run
        pid = _run_pid(instance, run)
        if pid is None or process_end(pid) is None:
            continue
        instance.report_run_failed(
            run,
            message=f"the process ({pid}) that ran this build no longer runs (it was killed); "
            "marked failed by the next build",
        )
        marked.append(run.run_id)
    return marked


def _run_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of this host's process that runs `run`: its tags', else its first event's."""
    if PID_TAG in run.tags:
        return tagged_pid(f"{run.tags[PID_TAG]}@{run.tags.get(HOST_TAG, socket.gethostname())}")
    started = run_events(instance, run.run_id, dg.DagsterEventType.RUN_START, limit=1)
    return started[0].pid if started else None


def process_tag(pid: int | None = None) -> str:
    """How a run's tag names a process (this one by default): `pid@host`."""
    return f"{os.getpid() if pid is None else pid}@{socket.gethostname()}"


def tagged_pid(text: str | None) -> int | None:
    """The pid of a `pid@host` tag naming this host, else None."""
    pid, _, host = (text or "").partition("@")
    return int(pid) if pid.isdigit() and host == socket.gethostname() else None


def process_end(pid: int) -> str | None:
    """How process `pid` of this host ended (a child is reaped first), None while it runs."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not a child of this process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "ended"
        except PermissionError:  # another user's: it runs
            pass
        return None
    if not done:
        return None
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"was killed by signal {number} ({signal.Signals(number).name})"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


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
    """The source settled, else None: what it cannot settle goes through Dagster, which says why."""
    try:  # each check reads the files from their paths, a block or a line at a time
        source = source_paths(workspace.root, spec.sources, spec.kind)
        if source_problems(source.files, schemas):  # the asset's own check: no shortcut past it
            return None
        governed = governed_files(workspace, spec, source.files, schemas)  # append-only too
        if not governed.ok:
            return None
        newest = next(reversed(list_snapshots(workspace, spec.registry_id)), None)
        if newest is None or not all(unchanged_snapshot(newest.path, governed.files, schemas)):
            return None
        # the gate's own rule: a passing receipt that is current, and none that failed
        if admissible(workspace, spec.registry_id, newest.root_sha256) is None:
            return None  # never checked as a whole, failed, or checked against another state
        # last: a log's checks read every record; a new or changed log is found unsettled first
        if spec.kind == "log" and not _log_passes(workspace, catalog, spec, source.files, schemas):
            return None
        return Settled(
            newest,
            count_records(source.files),
            dict.fromkeys(check_names(spec), True),
            [unexpected_note(path) for path in source.unexpected],
        )
    except (RegistryError, OSError):
        return None


def _log_passes(
    workspace: Workspace,
    catalog: RegistryCatalog,
    spec: RegistrySpec,
    files: dict[str, Path],
    schemas: SchemaCatalog,
) -> bool:
    """A log's append_only check (and a run index's rules check), as the asset checks run them."""
    from registry_pipeline.core.run_index import index_spec, log_prefix, log_problems

    path = files.get(spec.primary_artifact)
    if path is None:
        return False
    with path.open("rb") as current:  # errors: the caller's (unsettled)
        if not log_prefix(workspace, spec, current, schemas).ok:
            return False
    if spec.run_index is None:
        return True
    found = log_problems(workspace.root, catalog, index_spec(catalog, spec.registry_id), path)
    return not any(problem.severity == "error" for problem in found)
