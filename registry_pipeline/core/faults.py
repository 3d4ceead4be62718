"""Named fault points for the crash and race tests: a process can be told to SIGKILL itself at
one of them, or to wait at one.

`REGISTRY_PIPELINE_CRASH_AT=<step>` kills the process when it reaches that named step;
`REGISTRY_PIPELINE_CRASH_AT=#<n>` kills it at the n-th crash point reached (any step, including the
per-block points inside file copies). `REGISTRY_PIPELINE_HOLD_AT=<step>:<file>` makes it wait at
that step while `<file>` exists (at most HOLD_LIMIT seconds; `<file>.reached` says one did): a
race test holds the first of two builds there until it has seen the second one wait, however
loaded the machine. Unset, each point
costs two truth tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

_TARGET = os.environ.get("REGISTRY_PIPELINE_CRASH_AT", "")
_HOLD_STEP, _, _HOLD_FILE = os.environ.get("REGISTRY_PIPELINE_HOLD_AT", "").partition(":")
HOLD_LIMIT = 300.0
"""Seconds a held process waits at most (a test that died leaves its file behind)."""
_counter = 0


def crash_point(step: str) -> None:
    """Die here, by SIGKILL, if the environment asks for this step or this count; wait here
    while the environment's hold file exists, if it names this step."""
    global _counter
    if _HOLD_FILE and step == _HOLD_STEP:
        _held()
    if not _TARGET:
        return
    _counter += 1
    if step == _TARGET or f"#{_counter}" == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)


def _held() -> None:
    """Wait while the hold file exists (polling a condition only the test changes), after
    leaving `<file>.reached` beside it: the test knows a run did stop here."""
    with contextlib.suppress(OSError):
        open(f"{_HOLD_FILE}.reached", "a").close()
    deadline = time.monotonic() + HOLD_LIMIT
    while os.path.exists(_HOLD_FILE) and time.monotonic() < deadline:
        time.sleep(0.05)


def crash_points_reached() -> int:
    """How many crash points this process has passed (used to pick random points in tests)."""
    return _counter
