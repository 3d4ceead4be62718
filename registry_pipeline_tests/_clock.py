"""A real clock offset at the process boundary: libfaketime preloaded into a `registry` child
(`faketime` in Debian; `.ci/system-packages` installs it), so every clock the process reads
(Python's, SQLite's, Dagster's, the S3 client's signature) is off by the same amount."""

from __future__ import annotations

import glob
import os

import pytest

from registry_pipeline_tests._helpers import child_env

LIBRARY = "/usr/lib/*/faketime/libfaketime.so.1"


def clock_offset_env(offset: str, **extra: str) -> dict[str, str]:
    """The environment of a `registry` child whose clock is `offset` away (`-3m`, `-1h`, `+90s`),
    from `child_env`; the test skips, saying why, where libfaketime is not installed."""
    found = sorted(glob.glob(LIBRARY))
    if not found:
        reason = "libfaketime is not installed (Debian package faketime): no clock offset"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must provide it (.ci/run installs it)")
        pytest.skip(reason)
    return child_env(LD_PRELOAD=found[0], FAKETIME=offset, FAKETIME_DONT_RESET="1", **extra)
