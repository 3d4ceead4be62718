"""Fixtures of the run index tests: a small workspace with both run logs, and `registry` on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    Cli,
    make_workspace,
    record,
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace holding only the run index and the overrides log, both empty."""
    return make_workspace(tmp_path)


@pytest.fixture
def cli(ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`registry ...` in-process on `ws`."""
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return Cli(ws, capsys)


SEED = "RUN-20260831-0000-SEED"


@pytest.fixture
def seeded(cli: Cli, ws: Path) -> bytes:
    """The run log holding one valid record, `SEED` (so "nothing written" is not trivially
    true)."""
    assert cli.append(record(run_id=SEED)).code == 0
    return (ws / RUNS_LOG).read_bytes()
