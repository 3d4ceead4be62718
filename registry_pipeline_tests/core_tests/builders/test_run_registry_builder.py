"""The run registry builder on real folders: sealed, tampered, unsealed, seed-style, the seed's."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from registry_pipeline.core.builders import run_registry
from registry_pipeline.core.builders.model import BuildResult
from registry_pipeline.core.builders.run_registry import (
    REGISTRY_ARTIFACT,
    SEAL_STATUS_ARTIFACT,
    PreviousSnapshot,
    RunRoot,
    build_run_registry,
    dumps_line,
    load_previous,
)
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import (
    VERDICTS_RELPATH,
    inspect_run_folder,
    inspection_cache,
)
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import folder_verdict
from registry_pipeline_tests._helpers import unseal

MakeRun = Callable[..., SealedRun]
RUNS = ".codex/RUNS"
EVIDENCE = "reports/path1/evidence/runs"
V01_ID = "urn:registry-pipeline:schema:run_registry_v0_1"
STATUS_ID = "urn:registry-pipeline:schema:run_registry_seal_status_v0_2"
SEED_SNAPSHOT = "sealed_by_reference/2026-11-21__121403__run_registry_build/" + REGISTRY_ARTIFACT
V01_FIELDS = [
    "registry_version", "run_id", "run_root", "run_key", "run_path", "created_utc", "run_type",
    "option", "operation_id", "git_commit", "working_tree_state", "has_run_json",
    "has_manifest_sha256", "has_manifest_json", "manifest_root_sha256", "files", "warnings",
]  # fmt: skip


# helpers


@pytest.fixture
def catalog() -> SchemaCatalog:
    return SchemaCatalog.for_workspace(None)


@pytest.fixture(autouse=True)
def verdicts(tmp_path: Path) -> Iterator[Path]:
    """Every build here runs inside a verdict cache, as `registry build` runs the builder."""
    with inspection_cache(tmp_path):
        yield tmp_path / VERDICTS_RELPATH


def build(
    workspace: Workspace,
    catalog: SchemaCatalog,
    *,
    previous: BuildResult | PreviousSnapshot | None = None,
    full_audit: bool = False,
    roots: list[RunRoot] | None = None,
    with_lines: bool = True,
) -> BuildResult:
    """Build; with a previous result, its v0.1 lines too unless `with_lines` is False."""
    snapshot = previous if not isinstance(previous, BuildResult) else None
    if isinstance(previous, BuildResult):
        lines = previous.files[REGISTRY_ARTIFACT] if with_lines else None
        snapshot = load_previous(previous.files[SEAL_STATUS_ARTIFACT], lines)
    return build_run_registry(
        roots or [RunRoot(RUNS, workspace.runs_dir)],
        previous=snapshot,
        full_audit=full_audit,
        schemas=catalog,
    )


def lines(data: bytes) -> list[dict[str, Any]]:
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def by_id(result: BuildResult) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """run_id to (v0.1 line, companion line), checking both files pair up line by line."""
    registry, status = (
        lines(result.files[REGISTRY_ARTIFACT]),
        lines(result.files[SEAL_STATUS_ARTIFACT]),
    )
    assert [r["run_key"] for r in registry] == [s["run_key"] for s in status]
    return {r["run_id"]: (r, s) for r, s in zip(registry, status, strict=True)}


def joined(line: dict[str, Any], status: dict[str, Any]) -> list[str]:
    """The line's warnings as downstream builders read them (with the companion's verdict)."""
    return list(run_registry.with_seal_warnings([line], [status])[0]["warnings"])


def tamper_same_size(folder: Path, relpath: str) -> None:
    """Flip one byte of a sealed file, leaving its size and both manifests untouched."""
    unseal(folder)
    target = folder / relpath
    data = bytearray(target.read_bytes())
    data[0] = ord("X") if data[0] != ord("X") else ord("Y")
    target.write_bytes(bytes(data))


def plain_folder(parent: Path, name: str, files: dict[str, bytes]) -> Path:
    folder = parent / name
    for relpath, data in files.items():
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_bytes(data)
    return folder


# one record per folder


def test_sealed_folder_is_a_passing_record(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    run = make_run(registry_id="demo")
    line, status = by_id(build(workspace, catalog))[run.run_id]
    assert list(line) == V01_FIELDS
    assert line["run_key"] == f"{RUNS}::{run.run_id}"
    assert line["run_path"] == f"{RUNS}/{run.run_id}/"
    assert line["created_utc"] == run.created_utc
    assert line["run_type"] == "demo_build"
    assert line["has_run_json"] and line["has_manifest_json"] and line["has_manifest_sha256"]
    assert line["manifest_root_sha256"] == run.root_sha256
    on_disk = {
        p.relative_to(run.path).as_posix(): p.stat().st_size
        for p in run.path.rglob("*")
        if p.is_file()
    }
    top = sorted(k for k in on_disk if "/" not in k)
    assert line["files"] == [{"relpath": k, "bytes": on_disk[k]} for k in top]
    assert "data/rows.csv" in on_disk
    assert line["warnings"] == []
    assert status == {
        "run_key": line["run_key"],
        "manifest_root_sha256": run.root_sha256,
        "status": "PASS",
        "verdict": "PASS",
        "problems": [],
        "problem_count": 0,
        "verification": "hashed",
        "tampered": False,
        "nested_files": [{"relpath": "data/rows.csv", "bytes": on_disk["data/rows.csv"]}],
    }
    assert joined(line, status) == ["seal:PASS"]


def test_tampered_folder_fails_with_reason_codes(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    run = make_run()
    tamper_same_size(run.path, "notes.txt")
    line, status = by_id(build(workspace, catalog))[run.run_id]
    assert status["status"] == "FAIL"
    assert status["problems"] == [{"code": "HASH_MISMATCH", "path": "notes.txt"}]
    assert status["tampered"] is False  # never seen passing: a failure, not yet a tampering
    assert line["warnings"] == []
    assert joined(line, status) == ["seal:FAIL", "seal:FAIL:HASH_MISMATCH:notes.txt"]
    assert line["manifest_root_sha256"] == run.root_sha256


def test_a_folder_whose_line_endings_git_converted_is_diagnosed(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    """Sealed with CRLF, normalized to LF by git: the companion says why the files fail."""
    files = {"RUN.md": b"# run\r\nok\r\n", "out/t.csv": b"a,b\r\n1,2\r\n", "x.bin": b"\x00"}
    run = make_run(files)
    unseal(run.path)
    for relpath in ("RUN.md", "out/t.csv"):
        path = run.path / relpath
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    line, status = by_id(build(workspace, catalog))[run.run_id]
    assert status["status"] == "FAIL"
    assert {p["path"] for p in status["problems"]} == {"RUN.md", "out/t.csv"}
    assert status["diagnosis"] == "LINE_ENDINGS_CONVERTED"
    assert joined(line, status)[-1] == "seal:DIAGNOSIS:LINE_ENDINGS_CONVERTED"
    assert catalog.validate(STATUS_ID, status) == []
    # One more change that no conversion explains: no diagnosis (it would hide the edit).
    (run.path / "x.bin").write_bytes(b"\x01")
    _line, status = by_id(build(workspace, catalog))[run.run_id]
    assert "diagnosis" not in status


def test_plain_folder_is_unsealed_with_the_seed_warnings(
    workspace: Workspace, catalog: SchemaCatalog
) -> None:
    plain_folder(workspace.runs_dir, "scratch", {"notes.md": b"hello\n", "out/a.csv": b"a\n"})
    line, status = by_id(build(workspace, catalog))["scratch"]
    assert line["warnings"] == [
        "missing run.json",
        "missing MANIFEST.sha256",
        "missing manifest.json",
    ]
    assert joined(line, status)[-1] == "seal:UNSEALED"
    assert [line[f] for f in ("created_utc", "run_type", "manifest_root_sha256")] == [None] * 3
    assert line["files"] == [{"relpath": "notes.md", "bytes": 6}]
    assert status["nested_files"] == [{"relpath": "out/a.csv", "bytes": 2}]
    assert (status["status"], status["verification"]) == ("UNSEALED", "none")
    assert status["problems"] == []


def test_a_folder_with_only_run_json_fails_as_validate_says_never_unsealed(
    workspace: Workspace, catalog: SchemaCatalog
) -> None:
    """One seal file makes a (damaged) run folder, checked in full as `registry validate` does."""
    name = "2026-01-01__000000__alpha_build"
    envelope = b'{"run_id": "%s", "created_utc": "2026-01-01T00:00:00Z"}\n' % name.encode()
    plain_folder(workspace.runs_dir, name, {"run.json": envelope})
    _line, status = by_id(build(workspace, catalog))[name]
    said = folder_verdict(inspect_run_folder(workspace.runs_dir / name, schemas=catalog))[0]
    assert said.status == "FAIL"
    assert (status["status"], status["verdict"]) == ("FAIL", "FAIL")
    assert "MISSING_REQUIRED_FILE" in {problem["code"] for problem in status["problems"]}


def test_unparseable_run_json_gives_null_fields_and_a_warning(
    workspace: Workspace, catalog: SchemaCatalog
) -> None:
    plain_folder(
        workspace.runs_dir, "dup", {"run.json": b'{"run_id": "a", "run_id": "b", "option": "D"}'}
    )
    plain_folder(workspace.runs_dir, "syntax", {"run.json": b"{not json"})
    plain_folder(workspace.runs_dir, "list", {"run.json": b"[1, 2]"})
    plain_folder(workspace.runs_dir, "latin1", {"run.json": b'{"option": "\xe9"}'})
    records = by_id(build(workspace, catalog))
    line = records["dup"][0]
    assert line["option"] is None and line["run_id"] == "dup"
    missing = ["missing MANIFEST.sha256", "missing manifest.json"]
    # Python's decoder reads duplicate keys; our strict reader does not, and says why.
    assert line["warnings"] == [
        "Failed to parse run.json: JSON_INVALID: duplicate key 'run_id'",
        *missing,
    ]
    # Otherwise the seed builder's words, first, then the missing seal files.
    assert records["syntax"][0]["warnings"] == [
        "Failed to parse run.json: Expecting property name enclosed in double quotes:"
        " line 1 column 2 (char 1)",
        *missing,
    ]
    assert records["list"][0]["warnings"] == ["run.json top-level is not an object", *missing]
    assert records["latin1"][0]["warnings"][0] == (
        "Failed to parse run.json: 'utf-8' codec can't decode byte 0xe9 in position 12:"
        " invalid continuation byte"
    )


def test_run_json_fields_are_typed_or_null(workspace: Workspace, catalog: SchemaCatalog) -> None:
    envelope = {
        "run_id": "odd",
        "created_at": "2026-01-20T10:00:00Z",
        "option": "D",
        "operation_id": 7,
        "git_commit": None,
        "working_tree_state": "unknown",
        "run_type": "",
    }
    plain_folder(workspace.runs_dir, "odd", {"run.json": json.dumps(envelope).encode()})
    line, _status = by_id(build(workspace, catalog))["odd"]
    assert line["created_utc"] == "2026-01-20T10:00:00Z"
    assert line["option"] == "D"
    assert [line[f] for f in ("operation_id", "git_commit", "working_tree_state", "run_type")] == [
        None
    ] * 4
    assert catalog.validate(V01_ID, line) == []


def test_problem_list_is_capped_and_counted(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    run = make_run()
    unseal(run.path)
    for number in range(60):
        (run.path / f"extra_{number:02d}.txt").write_bytes(b"x")
    line, status = by_id(build(workspace, catalog))[run.run_id]
    assert status["problem_count"] == 60
    assert len(status["problems"]) == 50
    assert {p["code"] for p in status["problems"]} == {"UNLISTED_FILE"}
    assert joined(line, status)[0] == "seal:FAIL"
    assert joined(line, status)[-1] == "seal:FAIL:TRUNCATED:10"
    assert len(joined(line, status)) == 52
    assert catalog.validate(STATUS_ID, status) == []


def test_unreadable_folder_is_a_record_not_an_exception(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run()
    blocked = plain_folder(workspace.runs_dir, "blocked", {"a.txt": b"a"})
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == blocked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    records = by_id(build(workspace, catalog))
    line, status = records["blocked"]
    assert line["warnings"] == []
    assert joined(line, status) == ["seal:FAIL", "seal:FAIL:UNREADABLE"]
    assert line["files"] == [] and line["has_run_json"] is False
    assert (status["status"], status["verification"]) == ("FAIL", "none")
    assert status["problems"] == [{"code": "UNREADABLE", "path": None}]
    assert records[run.run_id][1]["status"] == "PASS"


def test_hidden_entries_and_loose_files_are_not_run_folders(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    run = make_run()
    plain_folder(workspace.runs_dir, ".hidden", {"a.txt": b"a"})
    (workspace.runs_dir / "README.md").write_bytes(b"not a run\n")
    result = build(workspace, catalog)
    assert list(by_id(result)) == [run.run_id]
    assert result.summary["folders"] == 1


# schemas: ours, and the seed system's own line schema


def mixed_workspace(workspace: Workspace, make_run: MakeRun) -> None:
    make_run(registry_id="alpha")
    tamper_same_size(make_run(registry_id="beta").path, "REPORT.json")
    plain_folder(workspace.runs_dir, "plain", {"x.txt": b"x"})
    plain_folder(workspace.runs_dir, "bad_json", {"run.json": b"{", "MANIFEST.sha256": b"junk\n"})


def test_every_line_satisfies_our_schemas_which_our_artifacts_are_mapped_to(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    v01 = catalog.for_artifact(REGISTRY_ARTIFACT)
    status = catalog.for_artifact(SEAL_STATUS_ARTIFACT)
    assert v01 is not None and (v01.schema_id, v01.format) == (V01_ID, "jsonl")
    assert status is not None and (status.schema_id, status.format) == (STATUS_ID, "jsonl")
    mixed_workspace(workspace, make_run)
    result = build(workspace, catalog)
    assert result.summary["folders"] == 4
    for line in lines(result.files[REGISTRY_ARTIFACT]):
        assert catalog.validate(V01_ID, line) == [], line
    for verdict in lines(result.files[SEAL_STATUS_ARTIFACT]):
        assert catalog.validate(STATUS_ID, verdict) == [], verdict


def test_status_schema_refuses_inconsistent_verdicts(catalog: SchemaCatalog) -> None:
    good = {
        "run_key": f"{RUNS}::r",
        "manifest_root_sha256": "0" * 64,
        "status": "PASS",
        "problems": [],
        "problem_count": 0,
        "verification": "reused",
        "tampered": False,
    }
    assert catalog.validate(STATUS_ID, good) == []
    for change in (
        {"tampered": True},
        {"status": "FAIL"},
        {"status": "UNSEALED"},
        {"problem_count": 1},
        {"extra": 1},
        {"manifest_root_sha256": "ABC"},
    ):
        assert catalog.validate(STATUS_ID, {**good, **change}) != [], change


@pytest.mark.reference
def test_every_line_satisfies_the_seed_schema(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun, reference: Path
) -> None:
    mixed_workspace(workspace, make_run)
    seed_schema = json.loads(
        (reference / "schemas" / "REGISTRY_run_registry_v0_1.schema.json").read_bytes()
    )
    validator = Draft202012Validator(seed_schema)
    result = build(workspace, catalog)
    for line in lines(result.files[REGISTRY_ARTIFACT]):
        assert list(validator.iter_errors(line)) == [], line


@pytest.mark.reference
def test_our_schema_accepts_the_seed_snapshot(catalog: SchemaCatalog, reference: Path) -> None:
    snapshot = lines((reference / SEED_SNAPSHOT).read_bytes())
    assert len(snapshot) > 200
    for line in snapshot:
        assert catalog.validate(V01_ID, line) == [], line


# seed folders


@pytest.mark.reference
def test_seed_sealed_folders_are_indexed_as_pass(catalog: SchemaCatalog, reference: Path) -> None:
    root = RunRoot("sealed_by_reference", reference / "sealed_by_reference")
    result = build_run_registry([root], previous=None, full_audit=True, schemas=catalog)
    records = by_id(result)
    assert sorted(records) == sorted(os.listdir(root.path))
    for line, status in records.values():
        assert (status["status"], status["verification"]) == ("PASS", "hashed"), status
        assert line["warnings"] == []
        assert line["created_utc"] == "2026-11-21T12:14:03Z"
        assert line["manifest_root_sha256"] is not None
    assert result.summary["hashed"] == 5 and result.summary["failed"] == 0


@pytest.mark.reference
def test_seed_evidence_folders_match_the_seed_snapshot(
    catalog: SchemaCatalog, reference: Path, tmp_path: Path
) -> None:
    """Where the seed's own builder indexed these folders, our envelope fields agree with it."""
    runs = tmp_path / EVIDENCE
    shutil.copytree(reference / "evidence_runs_crlf_converted", runs)
    records = by_id(build(Workspace(tmp_path), catalog, roots=[RunRoot(EVIDENCE, runs)]))
    seed = {line["run_id"]: line for line in lines((reference / SEED_SNAPSHOT).read_bytes())}
    for run_id, (line, _status) in records.items():
        same = [f for f in V01_FIELDS if f not in ("files", "warnings")]
        assert {f: line[f] for f in same} == {f: seed[run_id][f] for f in same}, run_id
        assert line["files"] == seed[run_id]["files"], run_id
        assert line["warnings"] == seed[run_id]["warnings"], run_id
    converted, status = records["p1_20260204_001"]
    assert status["status"] == "FAIL"
    assert {p["code"] for p in status["problems"]} == {"HASH_MISMATCH", "SIZE_MISMATCH"}
    assert status["verdict"] == "CONVERTED"  # as `registry validate` says it: not damaged
    assert "seal:CONVERTED:HASH_MISMATCH:run.json" in joined(converted, status)
    no_envelope, status = records["p1_20260120_001"]
    assert no_envelope["has_manifest_sha256"] is True
    assert no_envelope["manifest_root_sha256"] is None
    assert {"code": "MISSING_REQUIRED_FILE", "path": "run.json"} in status["problems"]


# incremental builds and full audits


def test_reuse_path_re_verifies_a_same_size_edit_and_full_audit_finds_it_too(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    run = make_run()
    first = build(workspace, catalog)
    assert by_id(first)[run.run_id][1]["status"] == "PASS"
    tamper_same_size(run.path, "notes.txt")  # content changes, the ROOT line does not

    incremental = build(workspace, catalog, previous=first)  # what validate says, it says
    line, status = by_id(incremental)[run.run_id]
    assert (status["status"], status["verification"]) == ("FAIL", "hashed")
    assert status["tampered"] is True
    assert "seal:TAMPERED" in joined(line, status)
    assert (incremental.summary["hashed"], incremental.summary["reused"]) == (1, 0)

    audit = build(workspace, catalog, previous=first, full_audit=True)
    line, status = by_id(audit)[run.run_id]
    assert (status["status"], status["verification"]) == ("FAIL", "hashed")
    assert status["tampered"] is True
    assert status["problems"] == [{"code": "HASH_MISMATCH", "path": "notes.txt"}]
    assert joined(line, status) == [
        "seal:FAIL",
        "seal:FAIL:HASH_MISMATCH:notes.txt",
        "seal:TAMPERED",
    ]
    assert [audit.summary[k] for k in ("tampered", "failed", "hashed")] == [1, 1, 1]

    # The finding stays: the next incremental build re-verifies a failing folder.
    after = build(workspace, catalog, previous=audit)
    _line, status = by_id(after)[run.run_id]
    assert (status["status"], status["verification"]) == ("FAIL", "hashed")
    assert status["tampered"] is True


def _rebuilt_after(
    workspace: Workspace,
    catalog: SchemaCatalog,
    make_run: MakeRun,
    damage: Callable[[SealedRun], object],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(v0.1 line, seal status) of a folder that passed the first build, then was damaged."""
    run = make_run()
    first = build(workspace, catalog)
    unseal(run.path)
    damage(run)
    line, status = by_id(build(workspace, catalog, previous=first))[run.run_id]
    return line, status


def _zero_root(run: SealedRun) -> None:
    manifest = run.path / "MANIFEST.sha256"
    manifest.write_bytes(manifest.read_bytes().replace(run.root_sha256.encode(), b"0" * 64))


def _symlink_run_json(run: SealedRun) -> None:
    (run.path / "run.json").rename(run.path / "envelope.json")
    (run.path / "run.json").symlink_to("envelope.json")


def _strip(run: SealedRun) -> None:  # a stripped seal of a sealed folder is not UNSEALED
    (run.path / "manifest.json").unlink()
    (run.path / "MANIFEST.sha256").unlink()


@pytest.mark.parametrize(
    ("damage", "flag", "problem"),
    [
        (_zero_root, "has_manifest_sha256", {"code": "ROOT_MISMATCH", "path": "MANIFEST.sha256"}),
        (lambda run: (run.path / "manifest.json").unlink(), "has_manifest_json", None),
        (_symlink_run_json, "has_run_json", None),
        (_strip, "has_manifest_sha256", None),
    ],
    ids=["changed_root", "removed_manifest_json", "symlinked_run_json", "stripped_seal"],
)
def test_a_damaged_seal_is_not_reused_but_hashed_and_tampered(
    workspace: Workspace,
    catalog: SchemaCatalog,
    make_run: MakeRun,
    damage: Callable[[SealedRun], object],
    flag: str,
    problem: dict[str, str] | None,
) -> None:
    line, status = _rebuilt_after(workspace, catalog, make_run, damage)
    assert (status["status"], status["verification"]) == ("FAIL", "hashed")
    assert status["tampered"] is True
    assert line[flag] is (problem is not None)  # the root case keeps its seal files
    if problem is not None:
        assert problem in status["problems"]


# the cheap reuse path (the previous v0.1 lines given)


def refuse(*_args: object, **_kwargs: object) -> Any:
    raise AssertionError("a folder that passed with the same root must not be listed or read")


def test_cheap_reuse_neither_inspects_nor_reads_run_json(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [make_run() for _ in range(3)]
    first = build(workspace, catalog)
    slow = build(workspace, catalog, previous=first, with_lines=False)
    for module, name in (
        (run_registry, "_scan"),
        (run_registry, "_envelope"),
        (run_registry, "inspect_run_folder"),
        (run_registry, "index_folder"),
    ):
        monkeypatch.setattr(module, name, refuse)
    cheap = build(workspace, catalog, previous=first)
    assert [s["verification"] for _l, s in by_id(cheap).values()] == ["reused"] * len(runs)
    assert (
        cheap.files[REGISTRY_ARTIFACT] == first.files[REGISTRY_ARTIFACT]
    )  # the from-scratch bytes
    assert cheap.files == slow.files  # the same as listing every folder again
    assert cheap.summary == slow.summary
    assert (cheap.summary["reused"], cheap.summary["hashed"]) == (3, 0)


def test_incremental_is_byte_identical_to_a_from_scratch_build(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    mixed_workspace(workspace, make_run)
    first = build(workspace, catalog)
    new = make_run(registry_id="gamma")
    plain_folder(workspace.runs_dir, "plain_2", {"y.txt": b"y"})
    scratch = build(workspace, catalog)
    assert build(workspace, catalog).files == scratch.files  # two builds: the same bytes
    cheap = build(workspace, catalog, previous=first)
    slow = build(workspace, catalog, previous=first, with_lines=False)
    assert cheap.files[REGISTRY_ARTIFACT] == scratch.files[REGISTRY_ARTIFACT]
    assert cheap.files == slow.files
    assert (cheap.summary["folders"], cheap.summary["hashed"], cheap.summary["reused"]) == (6, 3, 1)
    records = by_id(cheap)
    assert records[new.run_id][1]["verification"] == "hashed"
    reused = [run_id for run_id, (_l, s) in records.items() if s["verification"] == "reused"]
    assert len(reused) == 1  # alpha; the failing, unsealed and new folders are inspected
    # the companion differs from a from-scratch one only where a verdict was reused
    for (_line, status), (_l, fresh) in zip(records.values(), by_id(scratch).values(), strict=True):
        assert {**status, "verification": fresh["verification"]} == fresh


def _swap_first_two(data: bytes) -> bytes:
    rows = data.splitlines(keepends=True)
    return b"".join([rows[1], rows[0], *rows[2:]])


def _spaced_first(data: bytes) -> bytes:
    rows = data.splitlines(keepends=True)
    return b"".join([json.dumps(json.loads(rows[0])).encode() + b"\n", *rows[1:]])


def _extra_warning_first(data: bytes) -> bytes:
    rows = data.splitlines(keepends=True)
    line = json.loads(rows[0])
    line["warnings"].append("scan:UNREADABLE:x")
    return b"".join([dumps_line(line), *rows[1:]])


@pytest.mark.parametrize("mangle", [_swap_first_two, _spaced_first, _extra_warning_first])
def test_a_previous_line_that_does_not_fit_is_rebuilt(
    workspace: Workspace,
    catalog: SchemaCatalog,
    make_run: MakeRun,
    mangle: Callable[[bytes], bytes],
) -> None:
    runs = [make_run() for _ in range(3)]
    first = build(workspace, catalog)
    snapshot = load_previous(
        first.files[SEAL_STATUS_ARTIFACT], mangle(first.files[REGISTRY_ARTIFACT])
    )
    assert snapshot.lines is not None
    result = build(workspace, catalog, previous=snapshot)
    # rebuilt from the folder itself
    assert result.files[REGISTRY_ARTIFACT] == first.files[REGISTRY_ARTIFACT]
    assert [s["verification"] for _l, s in by_id(result).values()] == ["reused"] * len(runs)


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders the builder lists (`_scan`), recorded."""
    found: list[Path] = []
    real_scan = run_registry._scan
    monkeypatch.setattr(
        run_registry, "_scan", lambda folder: found.append(folder) or real_scan(folder)
    )
    return found


def test_previous_lines_that_do_not_pair_up_are_not_used(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun, scans: list[Path]
) -> None:
    make_run()
    make_run()
    first = build(workspace, catalog)
    short = first.files[REGISTRY_ARTIFACT].splitlines(keepends=True)[0]
    snapshot = load_previous(first.files[SEAL_STATUS_ARTIFACT], short)
    assert snapshot.lines is None
    scans.clear()  # the first build's listing aside
    result = build(workspace, catalog, previous=snapshot)
    assert len(scans) == 2  # every folder listed again, verdicts still reused
    assert result.files[REGISTRY_ARTIFACT] == first.files[REGISTRY_ARTIFACT]
    assert result.summary["reused"] == 2


def test_full_audit_ignores_the_previous_lines(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    run = make_run()
    first = build(workspace, catalog)
    tamper_same_size(run.path, "notes.txt")
    (run.path / "later.txt").write_bytes(b"added after sealing\n")
    audit = build(workspace, catalog, previous=first, full_audit=True)
    line, status = by_id(audit)[run.run_id]
    assert (status["verification"], status["tampered"]) == ("hashed", True)
    assert {"relpath": "later.txt", "bytes": 20} in line["files"]
    without = build(workspace, catalog, previous=first, full_audit=True, with_lines=False)
    assert audit.files == without.files


def test_previous_lines_by_position(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun, scans: list[Path]
) -> None:
    runs = sorted(make_run().run_id for _ in range(3))
    first = build(workspace, catalog)
    snapshot = load_previous(first.files[SEAL_STATUS_ARTIFACT], first.files[REGISTRY_ARTIFACT])
    assert snapshot.lines is not None and len(snapshot.lines) == 3
    rows = first.files[REGISTRY_ARTIFACT].splitlines(keepends=True)
    for position, run_id in enumerate(runs):
        prior = snapshot.records.get(f"{RUNS}::{run_id}")
        assert prior is not None and prior.index == position
        assert snapshot.lines[prior.index] == rows[position]
    scans.clear()  # the first build's listing aside
    for index in (3, -1):  # no such line: every folder listed again, the same bytes
        records = {k: dataclasses.replace(v, index=index) for k, v in snapshot.records.items()}
        again = build(workspace, catalog, previous=PreviousSnapshot(records, snapshot.lines))
        assert again.files[REGISTRY_ARTIFACT] == first.files[REGISTRY_ARTIFACT]
        assert len(scans) == len(runs)
        scans.clear()
    empty = load_previous(b"", b"")
    assert empty.lines is not None and len(empty.lines) == 0


# determinism, roots, rendering, the previous snapshot


def test_records_are_in_the_seed_order(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    """By run root, dated (by created_utc) before undated, then by run id; reuse keeps places."""
    run = make_run()
    evidence = workspace.root / EVIDENCE
    plain_folder(evidence, "p1_c", {"RUN.md": b"c\n"})
    plain_folder(evidence, "p1_a", {"run.json": b'{"created_utc": "2026-02-01T00:00:00Z"}'})
    plain_folder(evidence, "p1_b", {"run.json": b'{"created_at": "2026-01-01T00:00:00Z"}'})
    plain_folder(workspace.runs_dir, "0_undated", {"x.txt": b"x"})
    plain_folder(workspace.runs_dir, "9_early", {"run.json": b'{"created_utc": "2000-01-01"}'})
    roots = [
        RunRoot(EVIDENCE, evidence),
        RunRoot("reports/runs", workspace.root / "reports" / "runs"),
        RunRoot(RUNS, workspace.runs_dir),
    ]
    expected = [
        f"{RUNS}::9_early",
        f"{RUNS}::{run.run_id}",
        f"{RUNS}::0_undated",
        f"{EVIDENCE}::p1_b",
        f"{EVIDENCE}::p1_a",
        f"{EVIDENCE}::p1_c",
    ]
    result = build(workspace, catalog, roots=roots)
    assert [line["run_key"] for line in lines(result.files[REGISTRY_ARTIFACT])] == expected
    assert [line["run_key"] for line in lines(result.files[SEAL_STATUS_ARTIFACT])] == expected
    again = build(workspace, catalog, roots=roots, previous=result)
    assert again.files[REGISTRY_ARTIFACT] == result.files[REGISTRY_ARTIFACT]
    assert again.summary["reused"] == 1
    assert result.summary["warnings"] == ["root:MISSING:reports/runs"]
    # a run.json alone makes a (damaged) run folder, checked in full: only the two with none
    assert (result.summary["folders"], result.summary["unsealed"]) == (6, 2)


@pytest.mark.parametrize("label", ["", "/abs", "a/../b", "trailing/"])
def test_bad_root_labels_are_refused(workspace: Workspace, label: str) -> None:
    with pytest.raises(UsageError) as caught:
        build(
            workspace, SchemaCatalog.for_workspace(None), roots=[RunRoot(label, workspace.runs_dir)]
        )
    assert caught.value.code == "BAD_RUN_ROOT"


def test_lines_are_compact_ordered_ascii() -> None:
    assert dumps_line({"b": 1, "a": "é"}) == b'{"b":1,"a":"\\u00e9"}\n'
    assert dumps_line({"z": [1, {"y": None}]}) == b'{"z":[1,{"y":null}]}\n'


def test_a_line_is_the_seed_builders_line_byte_for_byte(
    workspace: Workspace, catalog: SchemaCatalog
) -> None:
    """Written as `json.dumps(record, separators=(",", ":"))` (ASCII), top-level files only."""
    envelope = {"run_id": "x", "created_utc": "2026-11-14T00:00:00Z", "run_type": "évaluation"}
    folder = plain_folder(
        workspace.runs_dir,
        "2026-11-14__000000__unicode",
        {"run.json": json.dumps(envelope).encode(), "résumé.txt": b"abc", "sub/n.txt": b"n"},
    )
    result = build(workspace, catalog)
    seed_line = {
        "registry_version": "0.1",
        "run_id": folder.name,
        "run_root": RUNS,
        "run_key": f"{RUNS}::{folder.name}",
        "run_path": f"{RUNS}/{folder.name}/",
        "created_utc": "2026-11-14T00:00:00Z",
        "run_type": "évaluation",
        "option": None,
        "operation_id": None,
        "git_commit": None,
        "working_tree_state": None,
        "has_run_json": True,
        "has_manifest_sha256": False,
        "has_manifest_json": False,
        "manifest_root_sha256": None,
        "files": [
            {"relpath": "run.json", "bytes": len(json.dumps(envelope))},
            {"relpath": "résumé.txt", "bytes": 3},
        ],
        "warnings": ["missing MANIFEST.sha256", "missing manifest.json"],
    }
    assert (
        result.files[REGISTRY_ARTIFACT]
        == json.dumps(seed_line, separators=(",", ":")).encode() + b"\n"
    )
    status = lines(result.files[SEAL_STATUS_ARTIFACT])[0]
    assert status["nested_files"] == [{"relpath": "sub/n.txt", "bytes": 1}]


def _older_format(registry: bytes, status: bytes) -> tuple[bytes, bytes]:
    """The previous snapshot as older builders wrote it (verdict in `warnings`, nested files)."""
    old_lines, old_status = [], []
    for line, verdict in zip(lines(registry), lines(status), strict=True):
        nested = verdict.pop("nested_files")
        line["files"] = sorted(line["files"] + nested, key=lambda f: f["relpath"])
        line["warnings"] += run_registry._seal_warnings(verdict)
        old_lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
        old_status.append(json.dumps(verdict, separators=(",", ":")))
    return "\n".join(old_lines).encode() + b"\n", "\n".join(old_status).encode() + b"\n"


def test_lines_of_an_older_format_are_rebuilt_not_reused(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    for _ in range(2):
        make_run()
    first = build(workspace, catalog)
    old_registry, old_status = _older_format(
        first.files[REGISTRY_ARTIFACT], first.files[SEAL_STATUS_ARTIFACT]
    )
    assert b"seal:PASS" in old_registry
    snapshot = load_previous(old_status, old_registry)
    assert snapshot.lines is not None
    upgraded = build(workspace, catalog, previous=snapshot)
    assert upgraded.files[REGISTRY_ARTIFACT] == first.files[REGISTRY_ARTIFACT]
    statuses = lines(upgraded.files[SEAL_STATUS_ARTIFACT])
    assert [s["verification"] for s in statuses] == ["reused"] * 2
    assert all("nested_files" in s for s in statuses)


def test_load_previous_round_trips(
    workspace: Workspace, catalog: SchemaCatalog, make_run: MakeRun
) -> None:
    run = make_run()
    plain_folder(workspace.runs_dir, "plain", {"x": b""})
    snapshot = load_previous(build(workspace, catalog).files[SEAL_STATUS_ARTIFACT])
    assert isinstance(snapshot, PreviousSnapshot)
    passed = snapshot.records.get(f"{RUNS}::{run.run_id}")
    assert passed is not None
    assert (passed.status, passed.manifest_root_sha256) == ("PASS", run.root_sha256)
    assert passed.tampered is False
    unsealed = snapshot.records.get(f"{RUNS}::plain")
    assert unsealed is not None and unsealed.status == "UNSEALED"
    assert snapshot.records.get(f"{RUNS}::absent") is None


@pytest.mark.parametrize(
    "data",
    [
        b"{not json}\n",
        b"[]\n",
        b'{"run_key":"r::a","status":"MAYBE","manifest_root_sha256":null}\n',
        b'{"run_key":"r::a","status":"PASS","manifest_root_sha256":null}\n' * 2,
        b'{"run_key":"r::a","run_key":"r::b","status":"PASS","manifest_root_sha256":null}\n',
    ],
)
def test_malformed_previous_snapshot_is_a_usage_error(data: bytes) -> None:
    with pytest.raises(UsageError) as caught:
        load_previous(data)
    assert caught.value.code == "PREVIOUS_SNAPSHOT_INVALID"
    assert caught.value.path == SEAL_STATUS_ARTIFACT
