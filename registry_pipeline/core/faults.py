"""Named crash points for the crash tests: a process can be told to SIGKILL itself at one of them.

`REGISTRY_PIPELINE_CRASH_AT=<step>` kills the process when it reaches that named step;
`REGISTRY_PIPELINE_CRASH_AT=#<n>` kills it at the n-th crash point reached (any step, including the
per-block points inside file copies). Unset, each point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_TARGET = os.environ.get("REGISTRY_PIPELINE_CRASH_AT", "")
_counter = 0


def crash_point(step: str) -> None:
    """Die here, by SIGKILL, if the environment asks for this step or this count."""
    global _counter
    if not _TARGET:
        return
    _counter += 1
    if step == _TARGET or f"#{_counter}" == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)


def crash_points_reached() -> int:
    """How many crash points this process has passed (used to pick random points in tests)."""
    return _counter
