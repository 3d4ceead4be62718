"""The worker processes of the multi-process tests of this folder, started cheaply."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import ForkServerContext


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
