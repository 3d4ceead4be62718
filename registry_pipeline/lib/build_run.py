"""A build run's start around its steps, the same for every door; it never moves a pointer."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from registry_pipeline.core.append_only.baseline import governed_files
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness import build_inputs, stash_inputs, up_to_date
from registry_pipeline.core.gate.checks import check_names
from registry_pipeline.core.gate.dependencies import coordination_reads
from registry_pipeline.core.gate.gate import admissible, admission, sync
from registry_pipeline.core.pointers.store import PointerStore
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
from registry_pipeline.lib.runs import (  # BUILD_TAG: lib/instance.py's queue limit
    BUILD_TAG as BUILD_TAG,
)
from registry_pipeline.lib.runs import (
    LEASE_LOST,
    PENDING,
    PROMOTION_TAG,
    SUBMITTER_TAG,
    clear_dead_runs,
    hold_run,
    release_run,
)

BUILD_JOB = "build_registries"
"""The job that builds every registry: `definitions.py` defines it under this name."""
SLOT_WAIT = "waiting up to"
"""How a run's log line saying it waits for the build slot begins."""

_listeners: dict[str, Callable[[str], None]] = {}
"""Who in this process hears a run's news as it happens (the command executing it), by run id."""


@contextmanager
def listening(run_id: str, hear: Callable[[str], None] | None) -> Iterator[None]:
    """Call `hear` with what run `run_id` says of its waits while the block executes it here."""
    if hear is not None:
        _listeners[run_id] = hear
    try:
        yield
    finally:
        _listeners.pop(run_id, None)


def say(instance: dg.DagsterInstance, run: dg.DagsterRun, text: str) -> None:
    """One line in the run's log (the UI shows it) and to the command executing it, if here."""
    instance.report_engine_event(text, run)
    if (hear := _listeners.get(run.run_id)) is not None:
        hear(text)


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
    force: bool = False
    """Build the registries even when nothing changed (`registry build --force`)."""
    _settled: dict[str, Settled] = PrivateAttr(default_factory=dict)

    @property
    def settled(self) -> dict[str, Settled]:
        """What the run decided at its start: the registries it reuses with their verdicts."""
        return self._settled

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[BuildRun]:
        run, instance = context.run, context.instance
        if run is None or instance is None:  # built outside a run (a test's direct call)
            yield self
            return
        workspace = Workspace(Path(self.root))
        hold_run(instance, run, "building")
        lost: list[str] = []
        try:
            with run_slot(instance, run, workspace, self.wait_seconds) as lost:
                self._settled = begin(
                    instance, run, workspace, full_audit=self.full_audit, force=self.force
                )
                # the run's verdict cache (an in-process run finds the command's own open)
                cache = inspection_cache(workspace.root, trust_stored=not self.full_audit)
                with nullcontext() if cache_active() else cache:
                    yield self
        finally:
            release_run(run.run_id)
            if lost:  # another build may have built and promoted since: nothing of it promoted
                instance.add_run_tags(run.run_id, {PROMOTION_TAG: LEASE_LOST})


@contextmanager
def run_slot(
    instance: dg.DagsterInstance, run: dg.DagsterRun, workspace: Workspace, wait: float
) -> Iterator[list[str]]:
    """The workspace's build slot for `run` (a build or a promotion), its waits in the run's log;
    the block gets why the bucket's lease was lost, if it was (complete once the block exits)."""
    from registry_pipeline.lib.postgres import postgres_slot

    shared = [backend] if (backend := postgres_slot(instance)) is not None else []
    lost: list[str] = []

    def waiting(who: str) -> None:  # said in the run's log, where the UI and the CLI read it
        say(instance, run, f"{SLOT_WAIT} {wait:g} s for the workspace's build slot, held by {who}")

    def losing(reason: str) -> None:  # its pointer writes are refused from now on
        lost.append(reason)
        instance.report_engine_event(f"the bucket's build lease was lost: {reason}", run)

    with build_slot(
        workspace, holder(run), wait=wait, on_wait=waiting, shared=shared, on_lost=losing
    ):
        yield lost


def resources_config(root: str, full_audit: bool, **build_run: object) -> dict[str, object]:
    """Run config of both resources: an override must give a resource's whole config, `root` too."""
    workspace = {"root": root, "full_audit": full_audit}
    build = {**workspace, **build_run}
    return {
        "resources": {"registry_workspace": {"config": workspace}, "build_run": {"config": build}}
    }


COMMAND_TAG = "registry-pipeline/command"
"""On a run a command executes itself: the command, with its pid and host."""
DOORS = (
    (SUBMITTER_TAG, "registry build (pid {})"),
    (COMMAND_TAG, "{}"),
    ("dagster/schedule_name", "the schedule {}"),
    ("dagster/sensor_name", "the sensor {}"),
    ("dagster/backfill", "the backfill {}"),
)
"""How a run was started, by the tag that says it, first found first."""


def door(run: dg.DagsterRun) -> str:
    """How the run was started, in words: who a waiter waits for."""
    said = (text.format(run.tags[tag]) for tag, text in DOORS if tag in run.tags)
    return next(said, "the Dagster UI or API")


def command_tag(command: str) -> dict[str, str]:
    """The tag naming the command (this process) that executes a run itself."""
    return {COMMAND_TAG: f"{command} (pid {os.getpid()} on {socket.gethostname()})"}


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
    force: bool = False,
) -> dict[str, Settled]:
    """The start of a build run under the build slot (the registries it reuses, and why); a broken
    pointer history fails it here."""
    from registry_pipeline.core.builders.registry import BUILDERS, buildable

    # a build from any door (the UI's Materialize of a selection too): its promotion pends
    instance.add_run_tags(run.run_id, {BUILD_TAG: "1", PROMOTION_TAG: PENDING})
    for line in clear_dead_runs(instance):
        say(instance, run, line)
    sync(workspace)  # on object storage: what other machines published, before reading
    catalog = load_catalog(workspace)
    store = PointerStore(workspace)
    store.require_intact(admit=admission)
    store.explained([spec.registry_id for spec in catalog.registries if spec.active_pointer])
    ids = [spec.registry_id for spec in buildable(catalog, BUILDERS)]  # the whole build job
    selection = run.asset_selection  # none or empty: the whole job
    if selection and not {dg.AssetKey(registry_id) for registry_id in ids} <= set(selection):
        return {}  # a selection of it: its promotion records no build
    fresh = not (full_audit or force) and up_to_date(workspace, catalog).up_to_date  # the CLI's
    stash_inputs(workspace, run.run_id, build_inputs(workspace))  # recorded once promoted
    if full_audit:
        return {}
    settled = settled_sources(workspace, ids)
    if fresh:  # nothing changed: every registry reuses its snapshot, nothing is sealed
        settled.update(settled_derived(workspace, catalog, [i for i in ids if i not in settled]))
    return settled


@dataclass(frozen=True)
class Settled:
    """A source this build reuses without Dagster."""

    snapshot: Snapshot
    record_count: int | None
    checks: dict[str, bool]
    notes: list[str]
    why: str = (
        "unchanged source: checked again on the working tree when this run started, and "
        "admitted by the passing receipt of exactly this root"
    )
    """Why its checks pass without running again (the check result's description)."""


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


UNCHANGED_BUILD = (
    "nothing changed since the last recorded build (the decision `registry build` takes): its "
    "snapshot reused, admitted by the passing receipt of exactly this root"
)


def settled_derived(
    workspace: Workspace, catalog: RegistryCatalog, ids: Iterable[str]
) -> dict[str, Settled]:
    """Nothing changed since the last build: each built registry's admitted snapshot, or none."""
    active = PointerStore(workspace).read()
    settled: dict[str, Settled] = {}
    for registry_id in ids:
        spec = catalog.get(registry_id)
        if spec.is_source:
            return {}  # a source left unsettled: it is checked again, and what reads it built
        ref = active.active(registry_id)
        snapshots = list_snapshots(workspace, registry_id)
        snapshot = next((s for s in snapshots if ref and s.run_id == ref.run_id), None)
        snapshot = snapshot or (snapshots[-1] if snapshots and not spec.active_pointer else None)
        if snapshot is None or admissible(workspace, registry_id, snapshot.root_sha256) is None:
            return {}
        checks = dict.fromkeys(check_names(spec), True)
        settled[registry_id] = Settled(snapshot, None, checks, [], UNCHANGED_BUILD)
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
