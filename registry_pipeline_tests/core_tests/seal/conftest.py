"""The seal tests' shared fixture: a sealed run folder made writable, to tamper with."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline_tests._helpers import unseal


@pytest.fixture
def run(make_run: Callable[..., SealedRun]) -> SealedRun:
    """The default fixture run (REPORT.json, data/rows.csv with CRLF, notes.txt), writable."""
    sealed = make_run()
    unseal(sealed.path)
    return sealed
