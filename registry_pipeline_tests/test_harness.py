"""The test harness's own promises, where a broken one would pass tests it should fail."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from registry_pipeline_tests._helpers import watched


@pytest.mark.parametrize("status", [0, 3])
def test_the_watchdog_exits_with_its_childs_status(status: int) -> None:
    """The child ends while the test still holds the watchdog's pipe: the watchdog exits with
    the child's status, and says nothing (it aborted here once, its reader of the pipe holding
    the lock of a buffered stdin at the interpreter's exit)."""
    child = [sys.executable, "-c", f"raise SystemExit({status})"]
    process = subprocess.Popen(watched(child), stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.wait(timeout=60) == status
        assert process.stderr is not None and process.stderr.read() == b""
    finally:
        process.kill()
        process.communicate()


def test_the_watchdog_stops_its_child_when_the_pipe_ends() -> None:
    """The process that started the watchdog ends (its pipe closes): the child is stopped."""
    child = [sys.executable, "-c", "import time; time.sleep(600)"]
    process = subprocess.Popen(watched(child), stdin=subprocess.PIPE)
    try:
        assert process.stdin is not None
        process.stdin.close()
        # it waited for the child, stopped by SIGTERM (the default `stop`): that status as its own
        assert process.wait(timeout=60) == -signal.SIGTERM & 0xFF
    finally:
        process.kill()
        process.wait()
