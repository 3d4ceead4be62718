"""CLI test fixtures: the `registry` command in-process, and a copy of the demo workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.cli import main
from registry_pipeline_tests._helpers import copy_demo

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run `registry ARGS...` in-process; returns (exit code, stdout, stderr); never a traceback."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return code, captured.out, captured.err

    return run


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo workspace (catalog, sources, schemas) with no runs yet."""
    return copy_demo(tmp_path)
