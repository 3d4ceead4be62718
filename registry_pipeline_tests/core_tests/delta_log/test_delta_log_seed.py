"""The seed's delta logs: our records are valid against the seed's schema and ours, its example
log parses, and in an adopted repository its newest valid log is the origin our first extends."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from registry_pipeline.core.delta_log import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    STATE_ARTIFACT,
    CoveredRegistry,
    build_delta_log,
    inspect_chain,
    load_previous_log,
    newest_valid_log,
    parse_record,
    state_from_log,
)
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog, builtin_schema_dir
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline_tests._helpers import seal_like_seed, seal_seed_delta_log, seed_stamp, unseal

MakeRun = Callable[..., SealedRun]
COVERED = [CoveredRegistry("alpha", "ALPHA.json"), CoveredRegistry("beta", "BETA.json")]
SEED_SCHEMA = "schemas/REGISTRY_registry_delta_log_v0_1.schema.json"
SEED_LOG = "sealed_by_reference/2026-11-21__121403__registry_delta_log_build"
OUR_ID = "urn:registry-pipeline:schema:registry_delta_log_v0_1"
STATE_ID = "urn:registry-pipeline:schema:registry_delta_log_state_v0_2"


def _records(workspace: Workspace, make_run: MakeRun) -> tuple[list[Any], bytes]:
    """A crafted history: bootstraps, transitions (added, removed, modified) and an unknown."""
    make_run({"RUN_REGISTRY_v0_1.jsonl": b"{}\n", "old.txt": b"o"}, registry_id="run_registry")
    make_run({"RUN_REGISTRY_v0_1.jsonl": b"{}\n{}\n"}, registry_id="run_registry")
    bad = make_run({"RUN_REGISTRY_v0_1.jsonl": b"[]\n", "n": b"n"}, registry_id="run_registry")
    make_run({"p1/a.json": b"1", "p2/b.json": b"2"}, registry_id="threshold_packs_file")
    unseal(bad.path)
    (bad.path / "n").write_bytes(b"N")
    covered = [
        CoveredRegistry("run_registry", "RUN_REGISTRY_v0_1.jsonl"),
        CoveredRegistry("threshold_packs_file", None),
    ]
    schemas = SchemaCatalog.for_workspace(workspace.root)
    result = build_delta_log(
        workspace, covered, None, "2026-11-21__121403__registry_delta_log_build", schemas
    )
    bases = {record.delta_basis for record in result.new_records}
    assert bases == {"manifest_diff", "unknown"} and result.appended == 4
    lines = result.files[LOG_ARTIFACT].splitlines()
    return [loads_strict(line) for line in lines], result.files[STATE_ARTIFACT]


@pytest.mark.reference
def test_every_record_is_valid_against_the_seed_schema(
    workspace: Workspace, make_run: MakeRun, reference: Path
) -> None:
    seed = Draft202012Validator(loads_strict((reference / SEED_SCHEMA).read_bytes()))
    records, _state = _records(workspace, make_run)
    for record in records:
        assert list(seed.iter_errors(record)) == []


def test_every_record_is_valid_against_our_schemas(workspace: Workspace, make_run: MakeRun) -> None:
    catalog = SchemaCatalog.for_workspace(None)
    records, state = _records(workspace, make_run)
    for record in records:
        assert catalog.validate(OUR_ID, record) == []
    assert catalog.validate(STATE_ID, loads_strict(state)) == []
    assert catalog.for_artifact(LOG_ARTIFACT).schema_id == OUR_ID  # type: ignore[union-attr]
    assert catalog.for_artifact(STATE_ARTIFACT).schema_id == STATE_ID  # type: ignore[union-attr]


def test_our_schema_rejects_what_the_seed_rejects(workspace: Workspace, make_run: MakeRun) -> None:
    catalog = SchemaCatalog.for_workspace(None)
    record = _records(workspace, make_run)[0][0]
    for pointer, bad in [
        ("/extra", {**record, "extra": 1}),
        ("/created_utc", {**record, "created_utc": "2026-01-01T00:00:00.1Z"}),
        ("/delta_basis", {**record, "delta_basis": "guess"}),
        ("/to_ref", {**record, "to_ref": {**record["to_ref"], "registry_id": "r"}}),
    ]:
        assert catalog.validate(OUR_ID, bad), pointer


@pytest.mark.reference
def test_our_schema_has_the_seed_shape(reference: Path) -> None:
    seed = loads_strict((reference / SEED_SCHEMA).read_bytes())
    ours = loads_strict((builtin_schema_dir() / "registry_delta_log_v0_1.schema.json").read_bytes())
    assert ours["required"] == seed["required"]
    assert list(ours["properties"]) == list(seed["properties"])
    assert ours["additionalProperties"] is seed["additionalProperties"] is False
    assert ours["$defs"]["sealed_ref"]["required"] == seed["$defs"]["sealed_ref"]["required"]
    assert (
        ours["properties"]["created_utc"]["pattern"] == seed["properties"]["created_utc"]["pattern"]
    )


@pytest.mark.reference
def test_the_seed_example_log_parses_and_reserializes_byte_for_byte(reference: Path) -> None:
    data = (reference / SEED_LOG / LOG_ARTIFACT).read_bytes()
    lines = data.splitlines(keepends=True)
    assert lines
    for number, line in enumerate(lines, start=1):
        record = parse_record(line, line_number=number)
        assert record.line() == line  # same key order, same compact separators
        assert record.from_ref is None and record.delta_basis == "manifest_diff"
    state = state_from_log(data)
    assert state.records == len(lines)
    assert set(state.registries) == {"drift_signals", "op_status_table", "run_registry"}


@pytest.mark.reference
def test_the_seed_example_log_validates_and_can_be_adopted(reference: Path) -> None:
    folder = reference / SEED_LOG
    assert inspect_run_folder(folder, schemas=SchemaCatalog.for_workspace(None)).ok
    previous = load_previous_log(read_snapshot(folder, LOG_REGISTRY_ID))
    assert previous.state.records == 3
    assert json.loads(previous.jsonl.splitlines()[0])["registry_id"] == "drift_signals"


def _parses(document: Any) -> bool:
    """Whether the record reader accepts `document` as a line."""
    try:
        parse_record(json.dumps(document))
    except RegistryError:
        return False
    return True


def test_the_quick_record_check_implies_schema_validity(
    workspace: Workspace, make_run: MakeRun
) -> None:
    catalog = SchemaCatalog.for_workspace(None)
    records, _state = _records(workspace, make_run)
    mutations: list[Any] = []
    for record in records:
        mutations.append(record)
        for key in record:
            for value in (None, 1, "", [], {}, ["b", "a"], "0" * 64, True):
                mutations.append({**record, key: value})
        mutations.append({**record, "to_ref": {**record["to_ref"], "manifest_sha256": "A" * 64}})
        mutations.append({**record, "created_utc": "２０26-01-01T00:00:00Z"})
    accepted = [m for m in mutations if _parses(m)]
    assert len(accepted) >= len(records)
    for mutation in accepted:
        assert catalog.validate(OUR_ID, mutation) == [], mutation


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
