"""The multi-process tests of this folder: their workers started cheaply, their many snapshots,
their children killed at a crash point."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
from datetime import UTC, datetime, timedelta
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest

from registry_pipeline.core.lock import lock_state
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal import run_store
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.gitstate import GitState
from registry_pipeline.core.workspace.layout import Workspace, init_workspace

START = datetime(2026, 1, 1, tzinfo=UTC)


def forked(module: str) -> ForkServerContext:
    """A multiprocessing context whose processes are forked from one server process that has
    imported `module` (the test module, which names the processes' targets) once per test
    process: each is a process of its own, as with "spawn", without a new interpreter importing
    pytest and the package again (~0.5 s of CPU each). The server is a new interpreter with no
    threads, so forking the test process itself, and its hazard (a lock another thread held),
    is avoided."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([module])  # only before the server starts: the first caller
    return context


def sealed_snapshots(root: Path, count: int) -> tuple[Workspace, list[str]]:
    """A new workspace at `root` with `count` snapshots of alpha's ALPHA.json, one second apart
    (oldest first). Setup only: the run store asks git for its state twice per seal (outside a
    repository); that answer is fixed here so that sealing a thousand folders takes seconds."""
    root.mkdir(parents=True)
    init_workspace(root)
    workspace = Workspace(root)
    ticks = iter(range(1, 10**6))
    store = run_store.RunStore(workspace, clock=lambda: START + timedelta(seconds=next(ticks)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_store, "read_git_state", lambda _root: GitState(None, None))
        files = ({"ALPHA.json": b'{"n": %d}\n' % n} for n in range(count))
        run_ids = [run_store.seal_files(store, RunSpec("alpha"), f).run_id for f in files]
    assert run_ids == sorted(run_ids) and len(set(run_ids)) == count
    return workspace, run_ids


def crashed_at(argv: list[str], step: str | None) -> subprocess.CompletedProcess[str]:
    """`argv` run with `REGISTRY_PIPELINE_CRASH_AT=step` (unset for None): the package kills
    itself (SIGKILL) when it reaches that step."""
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_PIPELINE_CRASH_AT"}
    if step is not None:
        env["REGISTRY_PIPELINE_CRASH_AT"] = step
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def assert_the_lock_died_with_its_holder(pstore: PointerStore) -> None:
    """The killed writer's lock file is left, naming it, but nobody holds it any more."""
    owner = json.loads(pstore.lock_path.read_text())
    assert isinstance(owner["pid"], int) and owner["pid"] != os.getpid()
    assert lock_state(pstore.lock_path) is None
