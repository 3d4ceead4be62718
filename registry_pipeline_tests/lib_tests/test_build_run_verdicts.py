"""The verdict cache a run opens in a run worker (launched by `registry build`, the UI or the
weekly audit) trusts stored verdicts only when the run is not a full audit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib import resources
from registry_pipeline.lib.resources import BuildLock


@pytest.mark.parametrize("full_audit", [False, True])
def test_a_full_audit_run_trusts_no_stored_verdict(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, full_audit: bool
) -> None:
    opened: list[tuple[Path | None, bool]] = []
    real = resources.inspection_cache

    @contextmanager
    def spy(verdicts: Path | None = None, *, trust_stored: bool = True) -> Iterator[None]:
        opened.append((verdicts, trust_stored))
        with real(verdicts, trust_stored=trust_stored):
            yield

    monkeypatch.setattr(resources, "inspection_cache", spy)
    lock = BuildLock(root=str(workspace.root), wait_seconds=0, full_audit=full_audit)
    with dg.instance_for_test() as instance, dg.build_resources({"lock": lock}, instance):
        pass
    assert opened == [(workspace.verdicts_path, not full_audit)]
