"""A real clock offset for a `registry` child: libfaketime moves every clock it reads."""

from __future__ import annotations

import glob
import os

import pytest

from registry_pipeline_tests._helpers import child_env

LIBRARY = "/usr/lib/*/faketime/libfaketime.so.1"


def clock_offset_env(offset: str, **extra: str) -> dict[str, str]:
    """`child_env` with the clock `offset` away (`-3m`, `+90s`); skips without libfaketime."""
    found = sorted(glob.glob(LIBRARY))
    if not found:
        reason = "libfaketime is not installed (Debian package faketime): no clock offset"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must provide it (.ci/run installs it)")
        pytest.skip(reason)
    return child_env(LD_PRELOAD=found[0], FAKETIME=offset, FAKETIME_DONT_RESET="1", **extra)
