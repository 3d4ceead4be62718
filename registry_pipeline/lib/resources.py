"""The workspace as a Dagster resource, and the workspace's build lock as one."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from registry_pipeline.core.pointers.sync import sync
from registry_pipeline.core.seal.validate import cache_active, inspection_cache
from registry_pipeline.core.workspace.build_lock import DEFAULT_WAIT, build_lock
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import Workspace


class RegistryWorkspace(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The workspace whose registries are built; `root` is its folder."""

    root: str
    full_audit: bool = False
    """Re-hash every run folder instead of reusing the previous run registry's verdicts."""
    settled: dict[str, str] = {}  # noqa: RUF012 - pydantic copies field defaults
    """Registry id -> run id of unchanged source snapshots `registry build` validated and reused
    without materializing them: the run reads them as its own inputs."""

    @property
    def workspace(self) -> Workspace:
        """The core's view of the workspace."""
        return Workspace(Path(self.root))

    def catalog(self) -> RegistryCatalog:
        """The workspace's registry catalog."""
        return load_catalog(self.workspace)


PID_TAG = "registry-pipeline/pid"
HOST_TAG = "registry-pipeline/host"
"""Tags of every build run: the process that runs it, so a later build can tell a killed
build's run (left STARTED) from a live one."""


class BuildLock(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Holds the workspace's build lock for a whole run of the build job, whoever launched it
    (`registry build`, the UI, a schedule): one build at a time per workspace. On a PostgreSQL
    instance the run also holds the instance's build slot (`lib.build_slot`), which processes
    of other machines see.

    `registry build` holds both for its whole build, naming the run it executes their delegate:
    that run, in process (same thread: both are re-entrant) or in a run worker (another process:
    it asks with its run id as token, and goes on as the holder's delegate), takes neither
    again; any other run waits for them."""

    root: str
    wait_seconds: float = DEFAULT_WAIT
    """How long a run waits for another build before failing with BUILD_IN_PROGRESS."""
    full_audit: bool = False
    """Re-verify every run folder, trusting no stored verdict (as `RegistryWorkspace`'s)."""

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[BuildLock]:
        from registry_pipeline.lib.build_slot import build_slot

        run = context.run.run_id if context.run is not None else "?"
        workspace = Workspace(Path(self.root))
        command, wait = f"dagster run {run}", self.wait_seconds
        token = context.run.run_id if context.run is not None else None
        with (
            build_lock(workspace, wait=wait, command=command, token=token),
            build_slot(context.instance, workspace.root, wait=wait, command=command, token=token),
        ):
            if context.run is not None and context.instance is not None:
                # whoever launched it: the process that runs it, so a later build can tell a
                # killed run (left STARTED) from a live one
                tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
                context.instance.add_run_tags(run, tags)
            sync(workspace)  # on object storage: what other machines published, before reading
            with _verdicts(workspace, self.full_audit):
                yield self


@contextmanager
def _verdicts(workspace: Workspace, full_audit: bool) -> Iterator[None]:
    """The verdict cache for a run in a run worker (launched by `registry build`, the UI, a
    schedule); a run `registry build` executes in process finds its own open, and keeps it."""
    if cache_active():
        yield
        return
    with inspection_cache(workspace.verdicts_path, trust_stored=not full_audit):
        yield
