"""A build reads an upstream's active snapshot only when `target_verdict` says valid, else why."""

from __future__ import annotations

import pytest

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.io_manager import active_snapshot
from registry_pipeline_tests.cli_tests.test_active_verdict import BUILT, CASES

WHY = {
    "ok": None,
    "missing": "unusable: TARGET_MISSING",
    "invalid": "no longer validates",
    "wrong_registry": "unusable: TARGET_WRONG_REGISTRY",
    "root_mismatch": "names another root than its folder has",
}


@pytest.mark.parametrize(
    "case", [case for case in CASES if "null run id" not in case and not case.startswith(BUILT)]
)
def test_the_input_rule_reads_the_active_snapshot_only_when_its_verdict_is_ok(
    workspace: Workspace, case: str
) -> None:
    state, *_codes = CASES[case](workspace.root)
    snapshot, why = active_snapshot(workspace, "alpha")
    assert (snapshot is not None) == (state == "ok")
    expected = WHY[state]
    assert why == expected if expected is None else expected in str(why)


def test_a_seed_pointer_without_a_run_id_leaves_the_choice_to_the_newest_valid(
    workspace: Workspace,
) -> None:
    CASES["null run id (a seed pointer)"](workspace.root)
    assert active_snapshot(workspace, "alpha") == (None, None)
