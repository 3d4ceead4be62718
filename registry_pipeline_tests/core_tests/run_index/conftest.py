"""Fixtures of the run index tests: a small workspace with both run logs, and `registry` on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline_tests.core_tests.run_index._support import Cli, make_workspace


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
