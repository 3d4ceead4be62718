"""The per-build inspection cache: each unchanged folder is inspected once; any write is seen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from registry_pipeline.core import validate
from registry_pipeline.core.errors import ReasonCode
from registry_pipeline.core.run_store import SealedRun
from registry_pipeline_tests._helpers import unseal


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every real inspection."""
    seen: list[str] = []
    real = validate._inspect

    def counting(folder: Any, *args: Any) -> validate.FolderReport:
        seen.append(str(folder))
        return real(folder, *args)

    monkeypatch.setattr(validate, "_inspect", counting)
    return seen


def test_unchanged_folder_is_inspected_once(
    make_run: Callable[..., SealedRun], calls: list[str]
) -> None:
    run = make_run()
    with validate.inspection_cache():
        first = validate.inspect_run_folder(run.path)
        second = validate.inspect_run_folder(run.path)
    assert first.ok and second is first
    assert calls == [str(run.path)]


def test_a_write_inside_the_block_is_seen(
    make_run: Callable[..., SealedRun], calls: list[str]
) -> None:
    run = make_run()
    with validate.inspection_cache():
        assert validate.inspect_run_folder(run.path).ok
        unseal(run.path)
        with (run.path / "notes.txt").open("ab") as handle:
            handle.write(b"appended\n")
        report = validate.inspect_run_folder(run.path)
    assert ReasonCode.SIZE_MISMATCH in {p.code for p in report.problems}
    assert len(calls) == 2


def test_no_cache_outside_the_block(make_run: Callable[..., SealedRun], calls: list[str]) -> None:
    run = make_run()
    validate.inspect_run_folder(run.path)
    validate.inspect_run_folder(run.path)
    assert len(calls) == 2
    with validate.inspection_cache():
        validate.inspect_run_folder(run.path)
    with validate.inspection_cache():
        validate.inspect_run_folder(run.path)
    assert len(calls) == 4  # every block starts empty: its first inspection is real
