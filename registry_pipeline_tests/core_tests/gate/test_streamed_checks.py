"""The build's `rules` checks read a sealed run log a block or a line at a time, never whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.gate.checks import run_rules_check
from registry_pipeline.core.gate.dependencies import SnapshotReader
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.hashing import BLOCK_SIZE
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path.content import content_of, entry_types
from registry_pipeline_tests._helpers import forbid_whole_reads
from registry_pipeline_tests.core_tests.run_index._support import (
    jsonl,
    make_workspace,
    override,
    record,
    run_id,
    utc,
)

OVR = "OVR-20260901-0900-OOOO"
RUNS_ARTIFACT = "RUN_INDEX_v0_1.jsonl"
OVERRIDES_ARTIFACT = "RUN_OVERRIDES_v0_1.jsonl"


def _runs() -> bytes:
    """More than a read block of runs; run 1 passes on OVR with uniqueness_scene FAILed."""
    relying = record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=OVR)
    others = [
        record(run_id=run_id(n % 1400, day=2 + n // 1400), created_utc=utc(day=2 + n // 1400))
        for n in range(1, 4000)
    ]
    data = jsonl([relying, *others])
    assert len(data) > BLOCK_SIZE
    return data


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Workspace, Path, Path]:
    """(workspace, run index folder, overrides folder): OVR then narrowed to uniqueness_hook."""
    workspace = Workspace(make_workspace(tmp_path))
    store = RunStore(workspace)
    narrowed = override(override_id=OVR, run_id=run_id(1), created_utc=utc(hour=9, minute=5))
    narrowed["checks"] = ["uniqueness_hook"]
    overrides = jsonl([override(override_id=OVR, run_id=run_id(1)), narrowed])
    runs = seal_files(store, RunSpec(registry_id="run_index"), {RUNS_ARTIFACT: _runs()})
    logged = seal_files(
        store, RunSpec(registry_id="run_overrides"), {OVERRIDES_ARTIFACT: overrides}
    )
    return workspace, runs.path, logged.path


@pytest.fixture
def never_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a sealed run log whole fails."""
    logs = (RUNS_ARTIFACT, OVERRIDES_ARTIFACT)
    forbid_whole_reads(monkeypatch, lambda path: path.name in logs and ".codex" in path.parts)


def test_the_run_index_check_reads_its_artifact_in_blocks(
    sealed: tuple[Workspace, Path, Path], never_whole: None
) -> None:
    workspace, runs, overrides = sealed

    verdict = run_rules_check(runs, workspace, "run_index", pinned={"run_overrides": overrides})

    assert verdict.metadata["reason_codes"] == ["OVERRIDE_NOT_COVERING"], verdict.description
    assert [(p["line"], p["field"]) for p in verdict.metadata["problems"]] == [
        (1, "/uniqueness_scene")
    ]


def test_the_overrides_check_reads_the_runs_relying_on_them_only(
    sealed: tuple[Workspace, Path, Path], never_whole: None
) -> None:
    workspace, runs, overrides = sealed

    verdict = run_rules_check(overrides, workspace, "run_overrides", pinned={"run_index": runs})

    assert verdict.metadata["reason_codes"] == ["OVERRIDE_NOT_COVERING"], verdict.description
    (problem,) = verdict.metadata["problems"]
    assert (problem["line"], problem["field"], problem["key"]) == (2, "/checks", OVR)
    assert run_id(1) in problem["message"]
    assert [(i.registry_id, i.run_id) for i in verdict.inputs] == [("run_index", runs.name)]


def test_the_snapshot_reader_reads_a_log_as_content_of_its_bytes(
    sealed: tuple[Workspace, Path, Path],
) -> None:
    workspace, runs, _overrides = sealed
    catalog = load_catalog(workspace)
    run_type = entry_types(catalog)["run"]
    expected = content_of(run_type, {run_type.source: (runs / RUNS_ARTIFACT).read_bytes()})
    reader = SnapshotReader(workspace, pinned={"run_index": runs})

    every = reader.read(workspace.root, run_type)
    some = reader.read(workspace.root, run_type, lambda run: "override_id" in run)

    assert list(every.entries.items()) == list(expected.entries.items())
    assert list(some.entries) == [run_id(1)]
    assert every.problems == some.problems == expected.problems == []
