"""Named fault points where crash and race tests make a process SIGKILL itself or wait."""

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
    """SIGKILL this process, or wait while the hold file exists, if the environment says so."""
    global _counter
    if _HOLD_FILE and step == _HOLD_STEP:
        _held()
    if not _TARGET:
        return
    _counter += 1
    if step == _TARGET or f"#{_counter}" == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)


def _held() -> None:
    """Wait while the hold file exists, after leaving `<file>.reached` so the test sees it."""
    with contextlib.suppress(OSError):
        open(f"{_HOLD_FILE}.reached", "a").close()
    deadline = time.monotonic() + HOLD_LIMIT
    while os.path.exists(_HOLD_FILE) and time.monotonic() < deadline:
        time.sleep(0.05)


def crash_points_reached() -> int:
    """How many crash points this process has passed (used to pick random points in tests)."""
    return _counter
