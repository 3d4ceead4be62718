"""CLI test fixtures: the `registry` command in-process (`demo` is the package conftest's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from registry_pipeline.cli import main

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
