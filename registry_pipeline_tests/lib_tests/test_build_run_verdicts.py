"""A build run's verdict cache trusts stored verdicts only when the run is not a full audit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import build_definitions
from registry_pipeline.lib import build_run
from registry_pipeline.lib.build_run import BUILD_JOB, resources_config


@pytest.mark.parametrize("full_audit", [False, True])
def test_a_full_audit_run_trusts_no_stored_verdict(
    built: Path, monkeypatch: pytest.MonkeyPatch, full_audit: bool
) -> None:
    opened: list[tuple[Path | None, bool]] = []
    real = build_run.inspection_cache

    @contextmanager
    def spy(root: Path | None = None, *, trust_stored: bool = True) -> Iterator[None]:
        opened.append((root, trust_stored))
        with real(root, trust_stored=trust_stored):
            yield

    monkeypatch.setattr(build_run, "inspection_cache", spy)
    job = build_definitions(built).resolve_job_def(BUILD_JOB)
    config = resources_config(str(built), full_audit)  # as `registry build` and the audit pass it
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, run_config=config).success
    assert opened == [(Workspace(built).root, not full_audit)]


def test_a_check_result_names_its_inputs_as_the_receipt_does() -> None:
    """The inputs metadata of a check result is the receipt's form: `root`, null when unknown."""
    from registry_pipeline.core.gate.verdict import CheckVerdict
    from registry_pipeline.core.seal.envelope import SealedRef
    from registry_pipeline.lib.failures import as_check_result

    inputs = (SealedRef("alpha", "r1", "a" * 64, relpath="A.json"), SealedRef("beta", "", ""))
    result = as_check_result(CheckVerdict("c", True, inputs=inputs), dg.AssetKey("alpha"))
    assert result.metadata["inputs"].value == [
        {"registry_id": "alpha", "run_id": "r1", "root": "a" * 64},
        {"registry_id": "beta", "run_id": "", "root": None},
    ]
