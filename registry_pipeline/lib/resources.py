"""The workspace as a Dagster resource, and the build run's own resource (its build slot, its
start and its end: `lib.build_run`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from registry_pipeline.core.seal.validate import cache_active, inspection_cache
from registry_pipeline.core.workspace.build_slot import DEFAULT_WAIT, build_slot
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build_run import BuildStart, begin, finish, holder

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

    def catalog(self) -> RegistryCatalog:
        """The workspace's registry catalog."""
        return load_catalog(self.workspace)


class BuildRun(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A run of the build job, whoever launched it (`registry build`, the UI, a schedule, a
    sensor): it holds the workspace's build slot from its start to its end (one build at a
    time; `core.workspace.build_slot`), and around its steps does what every build does
    (`lib.build_run`: verify the history, decide the sources it reuses; then promote what
    passed and record the build). Every registry asset asks for it, so it is set up once per
    run, before the first step (the job runs in one process)."""

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
            from dagster._core.events import EngineEventData

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
            job_keys = _job_keys(workspace)
            self._start = begin(instance, run, workspace, job_keys, full_audit=self.full_audit)
            with _verdicts(workspace, self.full_audit):
                yield self
                finish(instance, run, workspace, self._start)


def _job_keys(workspace: Workspace) -> list[dg.AssetKey]:
    """The registries of the whole build job (a run's selection is compared with them)."""
    from registry_pipeline.core.builders.registry import buildable, registered_builders

    specs = buildable(load_catalog(workspace), registered_builders())
    return [dg.AssetKey(spec.registry_id) for spec in specs]


@contextmanager
def _verdicts(workspace: Workspace, full_audit: bool) -> Iterator[None]:
    """The verdict cache for the run (a run `registry build --in-process` executes finds the
    command's own open, and keeps it)."""
    if cache_active():
        yield
        return
    with inspection_cache(workspace.verdicts_path, trust_stored=not full_audit):
        yield
