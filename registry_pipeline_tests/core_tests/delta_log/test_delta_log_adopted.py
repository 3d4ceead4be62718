"""An adopted repository: the seed's newest valid delta log is the origin our first log extends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.delta_log import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    STATE_ARTIFACT,
    CoveredRegistry,
    build_delta_log,
    inspect_chain,
    load_previous_log,
    newest_valid_log,
)
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline_tests._helpers import seal_like_seed, seal_seed_delta_log, seed_stamp

MakeRun = Callable[..., SealedRun]
COVERED = [CoveredRegistry("alpha", "ALPHA.json"), CoveredRegistry("beta", "BETA.json")]


def _seed_snapshot(runs: Path, created_utc: str, registry_id: str, data: bytes) -> Path:
    name = f"{seed_stamp(created_utc)}__{registry_id}_build"
    artifact = f"{registry_id.upper()}.json"
    envelope = {"run_id": name, "created_utc": created_utc, "run_type": f"{registry_id}_build"}
    return seal_like_seed(runs / name, {artifact: data}, envelope)


@pytest.fixture
def seeded(workspace: Workspace) -> dict[str, Path]:
    """Their history: alpha sealed twice, beta once, then their log of all three."""
    runs = workspace.runs_dir
    alpha1 = _seed_snapshot(runs, "2026-01-01T00:00:00Z", "alpha", b"1")
    alpha2 = _seed_snapshot(runs, "2026-01-02T00:00:00Z", "alpha", b"2")
    beta1 = _seed_snapshot(runs, "2026-01-01T00:00:01Z", "beta", b"1")
    log = seal_seed_delta_log(
        runs, "2026-01-03T00:00:00Z", {"alpha": [alpha1, alpha2], "beta": [beta1]}
    )
    return {"alpha2": alpha2, "beta1": beta1, "log": log}


def _schemas(workspace: Workspace) -> SchemaCatalog:
    return SchemaCatalog.for_workspace(workspace.root)


def test_their_newest_log_is_the_baseline(workspace: Workspace, seeded: dict[str, Path]) -> None:
    baseline = newest_valid_log(workspace, _schemas(workspace), strict_derivation=True)
    assert baseline is not None and baseline.path == seeded["log"]
    previous = load_previous_log(baseline)
    assert previous.state.records == 3
    assert previous.state.registries["alpha"].last_to_ref.run_id == seeded["alpha2"].name


def test_our_first_log_extends_theirs_and_the_chain_verifies_through_it(
    workspace: Workspace, store: RunStore, make_run: MakeRun, seeded: dict[str, Path]
) -> None:
    make_run({"ALPHA.json": b"3"}, registry_id="alpha")
    schemas = _schemas(workspace)
    baseline = newest_valid_log(workspace, schemas, strict_derivation=True)
    assert baseline is not None
    previous = load_previous_log(baseline)
    result = build_delta_log(workspace, COVERED, previous, "ours", schemas)
    theirs = (seeded["log"] / LOG_ARTIFACT).read_bytes()
    assert result.files[LOG_ARTIFACT].startswith(theirs)  # their records, byte for byte
    assert result.appended == 1 and result.carried == 3  # nothing of theirs recorded again
    (record,) = result.new_records
    assert record.from_ref is not None and record.from_ref.run_id == seeded["alpha2"].name
    assert record.modified_paths == ("ALPHA.json", "run.json")
    ours = seal_files(store, RunSpec(LOG_REGISTRY_ID, inputs=[previous.ref()]), result.files)
    report = inspect_chain(workspace, ours.path, schemas=schemas)
    assert report.ok, report.problems
    assert (report.first_run_id, report.snapshots, report.records) == (seeded["log"].name, 2, 4)


def test_a_broken_seed_log_is_not_a_baseline(workspace: Workspace, seeded: dict[str, Path]) -> None:
    """Their log's records are checked like ours: one that does not chain disqualifies it."""
    runs = workspace.runs_dir
    alpha = _seed_snapshot(runs, "2026-01-04T00:00:00Z", "alpha", b"4")
    # the second log forgets alpha's first two snapshots: its alpha record is a second bootstrap
    newer = seal_seed_delta_log(
        runs, "2026-01-05T00:00:00Z", {"alpha": [alpha], "beta": [seeded["beta1"]]}
    )
    lines = (newer / LOG_ARTIFACT).read_bytes()
    assert newest_valid_log(workspace, _schemas(workspace)) is not None
    seal_seed_delta_log(
        runs, "2026-01-06T00:00:00Z", {"beta": [seeded["beta1"]]}, repeat=2
    )  # twice
    baseline = newest_valid_log(workspace, _schemas(workspace), strict_derivation=True)
    assert baseline is not None and baseline.path == newer  # not the tampered newest one
    assert load_previous_log(baseline).jsonl == lines


def test_a_log_that_names_a_previous_log_must_carry_its_state(
    workspace: Workspace, store: RunStore, seeded: dict[str, Path]
) -> None:
    previous = load_previous_log(read_snapshot(seeded["log"], LOG_REGISTRY_ID))
    files = {LOG_ARTIFACT: previous.jsonl}  # no state companion
    ours = seal_files(store, RunSpec(LOG_REGISTRY_ID, inputs=[previous.ref()]), files)
    with pytest.raises(RegistryError) as raised:
        load_previous_log(read_snapshot(ours.path, LOG_REGISTRY_ID))
    assert raised.value.code == "LOG_STATE_MISSING"
    report = inspect_chain(workspace, ours.path)
    assert [p.code for p in report.problems] == ["LOG_STATE_MISSING"]
    assert newest_valid_log(workspace, _schemas(workspace)) == read_snapshot(
        seeded["log"], LOG_REGISTRY_ID
    )
    assert not (ours.path / STATE_ARTIFACT).exists()
