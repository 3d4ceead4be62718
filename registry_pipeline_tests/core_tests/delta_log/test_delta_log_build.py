"""The delta log build: bootstrap, transitions, tri-state basis, append-only growth, determinism."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from registry_pipeline.core.delta_log import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    MANIFEST_DIFF,
    STATE_ARTIFACT,
    UNKNOWN,
    CoveredRegistry,
    DeltaLogResult,
    PreviousLog,
    build_delta_log,
    check_append_only,
    load_previous_log,
    parse_record,
    state_from_log,
)
from registry_pipeline.core.delta_log.records import RECORD_KEYS, REF_KEYS
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_id import normalize_created_utc
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline_tests._helpers import unseal

MakeRun = Callable[..., SealedRun]
COVERED = [
    CoveredRegistry("alpha", "ALPHA.json"),
    CoveredRegistry("beta", "BETA.jsonl"),
    CoveredRegistry("gamma", None),
]


def build(
    workspace: Workspace,
    previous: PreviousLog | None = None,
    run_id: str = "2026-01-01__000000__registry_delta_log_build",
    covered: Sequence[CoveredRegistry] = COVERED,
) -> DeltaLogResult:
    schemas = SchemaCatalog.for_workspace(workspace.root)
    return build_delta_log(workspace, covered, previous, run_id, schemas)


def seal_log(store: RunStore, result: DeltaLogResult, previous: PreviousLog | None) -> PreviousLog:
    """Seal a build's files as a log snapshot chained to `previous`, and load it back."""
    inputs = [previous.ref()] if previous else []
    sealed = seal_files(store, RunSpec(LOG_REGISTRY_ID, inputs=inputs), result.files)
    return load_previous_log(read_snapshot(sealed.path, LOG_REGISTRY_ID))


def tamper(run: SealedRun, relpath: str) -> None:
    unseal(run.path)
    target = run.path / relpath
    data = bytearray(target.read_bytes())
    data[0] ^= 0x01
    target.write_bytes(bytes(data))


def lines(result: DeltaLogResult) -> list[bytes]:
    return result.files[LOG_ARTIFACT].splitlines(keepends=True)


# --------------------------------------------------------------------------------------------
# bootstrap and transitions
# --------------------------------------------------------------------------------------------


def test_bootstrap_and_transitions_of_three_registries(
    workspace: Workspace, make_run: MakeRun
) -> None:
    a1 = make_run({"ALPHA.json": b"1\n", "notes.txt": b"n\n"}, registry_id="alpha")
    g1 = make_run({"g/one.txt": b"1", "g/two.txt": b"2"}, registry_id="gamma")
    a2 = make_run({"ALPHA.json": b"2\n", "notes.txt": b"n\n", "new.txt": b"+"}, "alpha")
    b1 = make_run({"BETA.jsonl": b"{}\n"}, registry_id="beta")
    a3 = make_run({"ALPHA.json": b"2\n", "new.txt": b"+"}, registry_id="alpha")
    g2 = make_run({"g/one.txt": b"1", "g/three.txt": b"3"}, registry_id="gamma")

    result = build(workspace, run_id="LOG-1")

    records = result.new_records
    assert [(r.registry_id, r.to_ref.run_id) for r in records] == [
        ("alpha", a1.run_id),
        ("alpha", a2.run_id),
        ("alpha", a3.run_id),
        ("beta", b1.run_id),
        ("gamma", g1.run_id),
        ("gamma", g2.run_id),
    ]
    assert all(r.delta_basis == MANIFEST_DIFF for r in records)
    assert all(r.derivation_run_id == "LOG-1" for r in records)
    boot, mid, last = records[:3]
    assert boot.from_ref is None
    assert boot.added_paths == ("ALPHA.json", "notes.txt", "run.json")
    assert boot.counts == {"added": 3, "removed": 0, "modified": 0}
    assert boot.to_ref.manifest_sha256 == a1.root_sha256
    assert boot.to_ref.relpath == "ALPHA.json"
    assert boot.to_ref.run_root == ".codex/RUNS"
    assert boot.created_utc == a1.created_utc
    assert mid.from_ref == boot.to_ref
    assert (mid.added_paths, mid.removed_paths) == (("new.txt",), ())
    assert mid.modified_paths == ("ALPHA.json", "run.json")  # run.json differs in every build
    assert last.from_ref == mid.to_ref
    assert (last.added_paths, last.removed_paths, last.modified_paths) == (
        (),
        ("notes.txt",),
        ("run.json",),
    )
    gamma = records[5]
    assert gamma.to_ref.relpath is None
    assert (gamma.added_paths, gamma.removed_paths) == (("g/three.txt",), ("g/two.txt",))
    assert result.appended == 6 and result.carried == 0 and result.records == 6
    assert {k: v.records for k, v in result.registries.items()} == {
        "alpha": 3,
        "beta": 1,
        "gamma": 2,
    }


def test_lines_are_compact_json_in_the_seed_key_order(
    workspace: Workspace, make_run: MakeRun
) -> None:
    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    make_run({"ALPHA.json": b"2", "données.txt": b"d"}, registry_id="alpha")
    result = build(workspace)
    assert "données.txt".encode() in lines(result)[1]  # ensure_ascii=False
    for line in lines(result):
        assert line.endswith(b"\n") and b"\n" not in line[:-1]
        document = json.loads(line)
        assert tuple(document) == RECORD_KEYS
        assert tuple(document["to_ref"]) == REF_KEYS
        assert tuple(document["counts"]) == ("added", "removed", "modified")
        assert b": " not in line and b", " not in line
        assert parse_record(line).line() == line


def test_an_empty_workspace_gives_an_empty_log(workspace: Workspace) -> None:
    result = build(workspace)
    assert result.files[LOG_ARTIFACT] == b""
    state = loads_strict(result.files[STATE_ARTIFACT])
    assert state == {
        "state_version": "0.2",
        "records": 0,
        "log_sha256": hashlib.sha256(b"").hexdigest(),
        "registries": {},
    }


# --------------------------------------------------------------------------------------------
# tri-state: a snapshot that does not validate gives `unknown`, never a guess
# --------------------------------------------------------------------------------------------


def test_a_tampered_snapshot_makes_both_of_its_records_unknown(
    workspace: Workspace, make_run: MakeRun
) -> None:
    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    bad = make_run({"ALPHA.json": b"2", "x.txt": b"x"}, registry_id="alpha")
    make_run({"ALPHA.json": b"3"}, registry_id="alpha")
    tamper(bad, "x.txt")

    boot, into_bad, out_of_bad = build(workspace).new_records

    assert boot.delta_basis == MANIFEST_DIFF
    for record in (into_bad, out_of_bad):
        assert record.delta_basis == UNKNOWN
        assert record.added_paths == record.removed_paths == record.modified_paths == ()
        assert record.counts == {"added": 0, "removed": 0, "modified": 0}
    assert into_bad.to_ref.run_id == bad.run_id == out_of_bad.from_ref.run_id  # type: ignore[union-attr]
    assert build(workspace).registries["alpha"].unknown == 2


def test_a_tampered_first_snapshot_gives_an_unknown_bootstrap(
    workspace: Workspace, make_run: MakeRun
) -> None:
    first = make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    tamper(first, "ALPHA.json")
    (boot,) = build(workspace).new_records
    assert boot.from_ref is None and boot.delta_basis == UNKNOWN and boot.added_paths == ()


def test_a_folder_without_a_root_is_skipped_not_recorded(
    workspace: Workspace, make_run: MakeRun
) -> None:
    first = make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    unsealed = make_run({"ALPHA.json": b"2"}, registry_id="alpha")
    unseal(unsealed.path)
    (unsealed.path / "MANIFEST.sha256").unlink()
    result = build(workspace)
    assert [r.to_ref.run_id for r in result.new_records] == [first.run_id]
    assert result.registries["alpha"].skipped == (unsealed.run_id,)


def test_a_snapshot_whose_from_side_vanished_is_unknown(
    workspace: Workspace, store: RunStore, make_run: MakeRun
) -> None:
    first = make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    previous = seal_log(store, build(workspace), None)
    make_run({"ALPHA.json": b"2"}, registry_id="alpha")
    unseal(first.path)
    shutil.rmtree(first.path)
    (record,) = build(workspace, previous).new_records
    assert record.from_ref == previous.state.registries["alpha"].last_to_ref
    assert record.delta_basis == UNKNOWN


# --------------------------------------------------------------------------------------------
# append-only across builds, cost, determinism
# --------------------------------------------------------------------------------------------


def test_append_only_across_three_builds(
    workspace: Workspace, store: RunStore, make_run: MakeRun
) -> None:
    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    make_run({"BETA.jsonl": b"1\n"}, registry_id="beta")
    first = build(workspace, None, "LOG-1")
    assert check_append_only(first.files[LOG_ARTIFACT], None) == []
    log1 = seal_log(store, first, None)

    a2 = make_run({"ALPHA.json": b"2"}, registry_id="alpha")
    second = build(workspace, log1, "LOG-2")
    assert second.files[LOG_ARTIFACT].startswith(log1.jsonl)
    assert (second.appended, second.carried) == (1, 2)
    (new,) = second.new_records
    assert new.to_ref.run_id == a2.run_id
    assert new.from_ref == log1.state.registries["alpha"].last_to_ref
    assert check_append_only(second.files[LOG_ARTIFACT], log1, derivation_run_id="LOG-2") == []
    log2 = seal_log(store, second, log1)

    make_run({"BETA.jsonl": b"2\n"}, registry_id="beta")
    make_run({"g.txt": b"g"}, registry_id="gamma")
    third = build(workspace, log2, "LOG-3")
    assert (third.appended, third.carried) == (2, 3)
    assert lines(third)[:2] == lines(first) and lines(third)[:3] == lines(second)
    assert [r.registry_id for r in third.new_records] == ["beta", "gamma"]
    assert check_append_only(third.files[LOG_ARTIFACT], log2) == []
    log3 = seal_log(store, third, log2)
    assert {k: v.records for k, v in log3.state.registries.items()} == {
        "alpha": 2,
        "beta": 2,
        "gamma": 1,
    }

    idle = build(workspace, log3, "LOG-4")
    assert idle.appended == 0 and idle.files[LOG_ARTIFACT] == log3.jsonl
    assert idle.summary["covered"][0] == {
        "registry_id": "alpha",
        "records": 2,
        "appended": 0,
        "unknown": 0,
        "skipped": [],
        "late": 0,
    }


def test_old_snapshots_are_never_diffed_again(
    workspace: Workspace, store: RunStore, make_run: MakeRun
) -> None:
    old = make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    make_run({"ALPHA.json": b"2"}, registry_id="alpha")
    log1 = seal_log(store, build(workspace), None)
    tamper(old, "ALPHA.json")  # a re-diff of history would now turn its records `unknown`
    newest = make_run({"ALPHA.json": b"3"}, registry_id="alpha")

    result = build(workspace, log1)

    assert result.appended == 1 and result.carried == 2
    (record,) = result.new_records
    assert record.to_ref.run_id == newest.run_id and record.delta_basis == MANIFEST_DIFF
    assert result.files[LOG_ARTIFACT].startswith(log1.jsonl)


def test_same_inputs_give_byte_identical_files(
    workspace: Workspace, store: RunStore, make_run: MakeRun
) -> None:
    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    make_run({"BETA.jsonl": b"1\n"}, registry_id="beta")
    first = build(workspace, None, "LOG-1")
    log1 = seal_log(store, first, None)
    assert build(workspace, None, "LOG-1").files == first.files
    make_run({"ALPHA.json": b"2"}, registry_id="alpha")
    make_run({"g.txt": b"g"}, registry_id="gamma")

    once = build(workspace, log1, "LOG-2")
    seal_log(store, once, log1)  # a sealed log of its own does not change the next answer
    twice = build(workspace, log1, "LOG-2")

    assert once.files == twice.files


def test_covered_registries_keep_the_order_given(workspace: Workspace, make_run: MakeRun) -> None:
    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    make_run({"BETA.jsonl": b"1\n"}, registry_id="beta")
    result = build(workspace, covered=list(reversed(COVERED)))
    assert [r.registry_id for r in result.new_records] == ["beta", "alpha"]


# --------------------------------------------------------------------------------------------
# the state companion
# --------------------------------------------------------------------------------------------


def test_state_companion_describes_the_log(
    workspace: Workspace, store: RunStore, make_run: MakeRun
) -> None:
    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    last = make_run({"ALPHA.json": b"2"}, registry_id="alpha")
    result = build(workspace)
    state = loads_strict(result.files[STATE_ARTIFACT])
    assert state["records"] == 2
    assert state["log_sha256"] == hashlib.sha256(result.files[LOG_ARTIFACT]).hexdigest()
    assert state["registries"]["alpha"] == {
        "records": 2,
        "last_to_ref": {
            "run_id": last.run_id,
            "run_root": ".codex/RUNS",
            "relpath": "ALPHA.json",
            "manifest_sha256": last.root_sha256,
        },
        "last_created_utc": last.created_utc,
    }
    assert state_from_log(result.files[LOG_ARTIFACT]) == result.state
    log = seal_log(store, result, None)
    assert log.state == result.state and log.ref().manifest_sha256 == log.root_sha256


def test_a_state_that_does_not_match_its_log_is_refused(
    workspace: Workspace, store: RunStore, make_run: MakeRun
) -> None:
    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    result = build(workspace)
    state = loads_strict(result.files[STATE_ARTIFACT])
    state["log_sha256"] = "0" * 64
    files = {**result.files, STATE_ARTIFACT: json.dumps(state).encode()}
    sealed = seal_files(store, RunSpec(LOG_REGISTRY_ID), files)
    with pytest.raises(RegistryError) as raised:
        load_previous_log(read_snapshot(sealed.path, LOG_REGISTRY_ID))
    assert raised.value.code == "LOG_STATE_MISMATCH"


def test_a_log_without_state_is_recovered_only_as_a_chain_origin(
    workspace: Workspace, store: RunStore, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first log without state is parsed once (one naming a previous log needs it:
    test_delta_log_seed.py)."""
    from registry_pipeline.core.delta_log import records

    make_run({"ALPHA.json": b"1"}, registry_id="alpha")
    result = build(workspace)
    sealed = seal_files(store, RunSpec(LOG_REGISTRY_ID), {LOG_ARTIFACT: result.files[LOG_ARTIFACT]})
    reads: list[Path] = []
    read_log = records._read_log
    monkeypatch.setattr(
        records, "_read_log", lambda folder: reads.append(folder) or read_log(folder)
    )
    origin = load_previous_log(read_snapshot(sealed.path, LOG_REGISTRY_ID))
    assert origin.state == result.state
    assert reads == [sealed.path]  # the JSONL read once, for the state and the log alike


# --------------------------------------------------------------------------------------------
# records: created_utc and parsing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-02-05T03:10:05Z", "2026-02-05T03:10:05Z"),
        ("2026-02-05T03:10:05.987654Z", "2026-02-05T03:10:05Z"),
        ("2026-02-05T03:10:05", "2026-02-05T03:10:05Z"),
        ("2026-02-05T04:10:05+01:00", "2026-02-05T03:10:05Z"),
        ("2026-02-05T03:10:05.5+00:00", "2026-02-05T03:10:05Z"),
        ("2026-02-30T03:10:05Z", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_created_utc_is_normalized_to_the_second(raw: object, expected: str | None) -> None:
    assert normalize_created_utc(raw) == expected


def _seed_like_line(**changes: object) -> bytes:
    record: dict[str, object] = {
        "delta_version": "0.1",
        "registry_id": "alpha",
        "from_ref": None,
        "to_ref": {
            "run_id": "r1",
            "run_root": ".codex/RUNS",
            "relpath": None,
            "manifest_sha256": "a" * 64,
        },
        "delta_basis": "manifest_diff",
        "added_paths": ["a", "b"],
        "removed_paths": [],
        "modified_paths": [],
        "counts": {"added": 2, "removed": 0, "modified": 0},
        "created_utc": "2026-01-01T00:00:00Z",
        "derivation_run_id": "LOG",
    }
    record.update(changes)
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"extra": 1}, "/extra"),
        ({"delta_version": "0.2"}, "/delta_version"),
        ({"delta_basis": "guess"}, "/delta_basis"),
        ({"counts": {"added": 1, "removed": 0, "modified": 0}}, "/counts/added"),
        ({"added_paths": ["b", "a"]}, "/added_paths"),
        ({"delta_basis": "unknown"}, "/delta_basis"),
        ({"created_utc": "2026-01-01T00:00:00.5Z"}, "/created_utc"),
        ({"to_ref": {"run_id": "r1"}}, "/to_ref/run_root"),
        (
            {"from_ref": {"run_id": "r", "run_root": "x", "relpath": 1, "manifest_sha256": ""}},
            "/from_ref/relpath",
        ),
    ],
)
def test_parse_record_names_the_offending_field(changes: dict[str, object], field: str) -> None:
    assert parse_record(_seed_like_line()).added_paths == ("a", "b")
    with pytest.raises(RegistryError) as raised:
        parse_record(_seed_like_line(**changes), line_number=7)
    assert raised.value.field == field
    assert raised.value.line == 7
    assert raised.value.code == "RECORD_INVALID"
    message = raised.value.message
    assert raised.value.diagnostics() == f"error: RECORD_INVALID line 7: {field}: {message}"


def test_parse_record_refuses_non_strict_json() -> None:
    with pytest.raises(RegistryError) as raised:
        parse_record(b'{"delta_version": "0.1", "delta_version": "0.1"}')
    assert raised.value.code == "RECORD_INVALID"
    assert raised.value.field == "/"


def test_a_registry_listed_twice_is_a_usage_error(workspace: Workspace) -> None:
    from registry_pipeline.core.errors import UsageError

    with pytest.raises(UsageError):
        build(workspace, covered=[COVERED[0], COVERED[0]])


def test_paths_are_relative_to_the_snapshot(workspace: Workspace, make_run: MakeRun) -> None:
    run = make_run({"ALPHA.json": b"1", "sub/dir/x.txt": b"x"}, registry_id="alpha")
    (record,) = build(workspace).new_records
    assert record.added_paths == ("ALPHA.json", "run.json", "sub/dir/x.txt")
    assert all((Path(run.path) / p).is_file() for p in record.added_paths)


def test_an_incremental_build_does_not_read_covered_folders(
    workspace: Workspace, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from registry_pipeline.core.workspace import snapshots

    def seal_at(second: int, content: bytes) -> SealedRun:
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=second)
        at = RunStore(workspace, clock=lambda: moment)
        return seal_files(at, RunSpec("alpha"), {"ALPHA.json": content})

    for tenth in range(6):  # ten minutes apart: past the clock skew a late folder may be in
        seal_at(tenth * 600, b"%d" % tenth)
    covered = [CoveredRegistry("alpha", "ALPHA.json")]
    log1 = seal_log(store, build(workspace, covered=covered), None)
    newest = seal_at(3660, b"60")
    read: list[str] = []
    real = snapshots.read_snapshot

    def counting(path: Path, registry_id: str) -> object:
        read.append(path.name)
        return real(path, registry_id)

    monkeypatch.setattr(snapshots, "read_snapshot", counting)
    result = build(workspace, log1, covered=covered)
    assert result.appended == 1 and result.new_records[0].to_ref.run_id == newest.run_id
    assert len([name for name in read if name.endswith("__alpha_build")]) == 2  # last + new
