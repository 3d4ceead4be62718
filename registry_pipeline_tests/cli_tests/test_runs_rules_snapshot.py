"""The build's `rules` check on a run index reads the overrides log from a sealed snapshot, not
from the working tree (review item 1)."""

from __future__ import annotations

import json
from pathlib import Path

from registry_pipeline.core.gate.checks import run_rules_check
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import list_snapshots
from registry_pipeline_tests._helpers import Run

OVERRIDES = Path("registries/run_index/RUN_OVERRIDES_v0_1.jsonl")
RUNS = Path("registries/run_index/RUN_INDEX_v0_1.jsonl")
OVERRIDE = {
    "override_id": "OVR-20261001-0900-ZZZZ",
    "created_utc": "2026-10-01T09:00Z",
    "created_by": "human",
    "run_id": "RUN-20261001-0900-ZZZZ",
    "checks": ["uniqueness_scene"],
    "reason": "only in the working tree",
}


def _append(path: Path, record: dict[str, object]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def test_an_override_only_in_the_working_tree_fails_the_rules_check(cli: Run, built: Path) -> None:
    sealed = list_snapshots(Workspace(built), "run_overrides")[-1]
    _append(built / OVERRIDES, OVERRIDE)
    first = json.loads((built / RUNS).read_text().splitlines()[0])
    run = {
        **first,
        "run_id": OVERRIDE["run_id"],
        "created_utc": "2026-10-01T09:00Z",
        "uniqueness_scene": "FAIL",
        "override_id": OVERRIDE["override_id"],
    }
    _append(built / RUNS, run)
    cli("build", "--workspace", str(built), "--select", "run_index", "--json")
    folder = list_snapshots(Workspace(built), "run_index")[-1].path

    verdict = run_rules_check(folder, Workspace(built), "run_index", pinned={})

    assert not verdict.passed
    assert verdict.metadata["reason_codes"] == ["run-override-exists"]
    assert [(i.registry_id, i.run_id) for i in verdict.inputs] == [("run_overrides", sealed.run_id)]
