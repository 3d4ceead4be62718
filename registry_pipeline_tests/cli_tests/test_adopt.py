"""`registry adopt` makes a seed-layout repository a workspace, its files untouched, built green."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import (
    Run,
    seal_like_seed,
    seal_seed_delta_log,
)
from registry_pipeline_tests.cli_tests._seed_layout import (
    EXPECTED,
    OBJECT_SCHEMA,
    PACK,
    PHASE,
    POINTERS,
    built,
    write_file,
)


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` outside .git, with its bytes (None for a folder)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
        for p in root.rglob("*")
        if ".git" not in p.relative_to(root).parts
    }


def _theirs(root: Path) -> dict[str, str]:
    """Hashes of every file the repository had before adoption (adoption must not touch one)."""
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    return {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()
        for name in listed.stdout.split()
        if name != ".gitattributes"  # the one file adoption may extend, and says so
    }


def test_dry_run_decides_everything(cli: Run, seed_repo: Path) -> None:
    code, out, err = cli("adopt", str(seed_repo), "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    kinds = {d["registry_id"]: d["kind"] for d in plan["decisions"]}
    assert kinds == {
        "run_registry": "built", "op_status_table": "built", "drift_signals": "built",
        "migration_ledger": "source", "expected_versions": "source",
        "threshold_packs_file": "source", "threshold_registry_db": "excluded",
        "validation_range_results": "excluded", "system_health_report": "presentation",
        "registry_delta_log": "log", "allowed_operations": "source",
    }  # fmt: skip
    # the reason of a collection without members: test_adopt_collections
    reasons = {d["registry_id"]: d["reason"] for d in plan["decisions"]}
    assert "external database" in reasons["threshold_registry_db"]
    assert plan["pointer_file"] == (PHASE / "ACTIVE_REGISTRY_POINTERS_v0_1.json").as_posix()
    appended = [path for path, change in plan["files"].items() if change != "new"]
    assert appended == [".gitattributes", ".git/info/exclude"]  # theirs, kept
    # the warnings' codes: test_problem_objects (adopt-dry-run); writing nothing: test_adopt_dry_run
    assert {w["path"] for w in plan["warnings"]} == {plan["pointer_file"]}


def test_adopt_writes_our_catalog_keeps_theirs_and_is_idempotent(cli: Run, seed_repo: Path) -> None:
    theirs = _theirs(seed_repo)
    code, out, err = cli("adopt", str(seed_repo))
    assert code == 0, err
    assert "appended 3 lines to .gitattributes" in out
    catalog = json.loads((seed_repo / "registries" / "REGISTRY_CATALOG_v0_2.json").read_text())
    entries = {entry["registry_id"]: entry for entry in catalog["registries"]}
    assert entries["threshold_packs_file"]["sources"] == ["configs/threshold_packs/*.json"]
    assert entries["threshold_packs_file"]["build_operation_id"] == "OP-B07"
    assert entries["op_status_table"]["build_operation_id"] == "OP-QA08"
    assert entries["allowed_operations"]["active_pointer"] is False
    assert entries["allowed_operations"]["sources"] == [
        "OVC_ALLOWED_OPERATIONS_CATALOG_v0.1.md",
        f"{PHASE}/OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md",
    ]
    assert {e["registry_id"] for e in catalog["excluded"]} == {
        "threshold_registry_db", "validation_range_results"}  # fmt: skip
    binding = json.loads((seed_repo / "schemas" / "expected_versions.schema.json").read_text())
    assert binding["x-schema-file"].endswith("REGISTRY_expected_versions_v0_1.schema.json")
    assert _theirs(seed_repo) == theirs
    code, out, _ = cli("adopt", str(seed_repo), "--json")
    assert code == 0 and set(json.loads(out)["files"].values()) == {"unchanged"}
    assert json.loads(out)["workspace_changes"] == []


def test_an_adopted_repository_builds_green_with_its_ids_and_pointer_file(
    cli: Run, seed_repo: Path
) -> None:
    """Built green; the seed builder's other run roots are run roots too; the pointer file keeps
    its text and layout."""
    write_file(seed_repo, "reports/runs/r_20261110_a/run.json",
           {"run_id": "r_20261110_a", "created_at": "2026-11-10T10:00:00+00:00",
            "operation_id": "OP-B01", "working_tree_state": "dirty"})  # fmt: skip
    write_file(seed_repo, "reports/path1/evidence/runs/p1_20260120_001/RUN.md", "# evidence\n")
    pointer_path = seed_repo / PHASE / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    original = pointer_path.read_text()
    code, out, err = cli("adopt", str(seed_repo), "--json")
    assert code == 0, err
    roots = [".codex/RUNS", "reports/path1/evidence/runs", "reports/runs"]
    assert sorted(json.loads(out)["run_roots"]) == roots
    entries = built(cli, seed_repo)
    assert entries["threshold_packs_file"]["status"] == "built"
    assert entries["op_status_table"]["status"] == "built"
    pointers = json.loads(pointer_path.read_text())
    assert pointers["mutation_policy"] == "Only pointers change."  # their keys are kept
    active = {p["registry_id"]: p["active_ref"]["run_id"] for p in pointers["pointers"]}
    assert active["expected_versions"] == entries["expected_versions"]["run_id"]
    assert "allowed_operations" not in active  # not an id of their catalog
    assert not (seed_repo / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json").exists()
    code, out, err = cli("pointers", "verify", "--workspace", str(seed_repo), "--json")
    assert code == 0, out + err
    assert json.loads(out)["notes"] == []  # the journal explains every entry from the start
    journal = seed_repo / ".codex" / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    first = json.loads(journal.read_text().splitlines()[0])
    assert (first["action"], first["registry_id"], first["from_ref"]) == (
        "adopt", "expected_versions", None)  # fmt: skip
    assert first["to_ref"] == POINTERS["pointers"][0]["active_ref"]  # as found
    assert first["checks"]["as_found"]["target"] == "absent"
    assert "(git ignores it: .gitignore:2 .codex/RUNS/)" in first["reason"]
    table = Path(seed_repo / ".codex" / "RUNS" / str(entries["op_status_table"]["run_id"]))
    rows = json.loads((table / "OPERATION_STATUS_TABLE_v0_1.json").read_text())
    ids = {row["operation_id"] for row in rows}  # their Markdown operations, v0.1 table
    assert {"OP-QA07", "OP-QA08", "OP-B07"} <= ids and "OP-NC01" not in ids
    assert {"OP-A01", "OP-B01"} <= ids  # from the v0.1 catalog at the root, which v0.2 inherits
    drift_folder = seed_repo / ".codex" / "RUNS" / str(entries["drift_signals"]["run_id"])
    drift = json.loads((drift_folder / "DRIFT_SIGNALS_v0_1.json").read_text())
    assert drift["expected_versions_source"] == "docs/governance/EXPECTED_VERSIONS_v0_1.json"
    folder = seed_repo / ".codex" / "RUNS" / str(entries["run_registry"]["run_id"])
    lines = [json.loads(row) for row in (folder / "RUN_REGISTRY_v0_1.jsonl").open()]
    assert [line["run_root"] for line in lines] == sorted(line["run_root"] for line in lines)
    by_key = {line["run_key"]: line for line in lines}
    legacy = by_key["reports/runs::r_20261110_a"]
    assert legacy["created_utc"] == "2026-11-10T10:00:00+00:00"
    assert legacy["warnings"] == ["missing MANIFEST.sha256", "missing manifest.json"]
    assert by_key["reports/path1/evidence/runs::p1_20260120_001"]["warnings"] == [
        "missing run.json", "missing MANIFEST.sha256", "missing manifest.json"]  # fmt: skip
    detail = json.loads((table / "OPERATION_STATUS_DETAIL_v0_2.json").read_text())
    operations = detail["operations"]
    b01 = operations["OP-B01"] if isinstance(operations, dict) else next(
        op for op in operations if op["operation_id"] == "OP-B01")  # fmt: skip
    assert b01["last_run_key"] == "reports/runs::r_20261110_a"
    text = pointer_path.read_text()
    assert list(json.loads(text)) == list(json.loads(original))
    assert text.startswith(original[: original.index('"last_updated_utc"')])


def test_no_seed_catalog_is_a_clear_error(cli: Run, tmp_path: Path) -> None:
    code, out, err = cli("adopt", str(tmp_path))
    assert code == 2 and out == ""
    assert "NO_SEED_CATALOG" in err and "--catalog" in err


@pytest.mark.parametrize(
    ("content", "said"),
    [(b'{"catalog_version": "0.2"}', ""),
     (b'{"description": "x", "description": "Adopted by `registry adopt`"}', "duplicate key"),
     (b"\xff", "utf-8")],
    ids=["hand-written", "duplicate-key", "not-utf8"],
)  # fmt: skip
def test_a_catalog_of_ours_already_there_is_a_conflict_never_overwritten(
    cli: Run, seed_repo: Path, content: bytes, said: str
) -> None:
    """A catalog is read strictly: hand-written, a duplicate key or unreadable, it is not adopt's
    to replace."""
    path = seed_repo / "registries/REGISTRY_CATALOG_v0_2.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    before = _tree(seed_repo)
    code, _out, err = cli("adopt", str(seed_repo))
    assert code == 2 and "ADOPT_CONFLICT" in err and said in err.lower(), err
    assert _tree(seed_repo) == before  # nothing was written, their catalog byte for byte


def test_the_built_templates_match_the_demo_catalog() -> None:
    """What adoption declares for our builders is what the demo catalog says (one truth)."""
    from registry_pipeline.core.adopt.plan import BUILT

    demo = json.loads(
        (Path(__file__).parents[2] / "registries" / "REGISTRY_CATALOG_v0_2.json").read_text()
    )
    compared = 0
    for entry in demo["registries"]:
        built = BUILT.get(entry["registry_id"])
        if built is None or entry["kind"] == "log":
            continue
        compared += 1
        assert (entry["kind"], tuple(entry["artifacts"])) == (built.kind, built.artifacts)
        assert set(entry["depends_on"]) == set(built.depends_on)
    assert compared == 4  # run_registry, op_status_table, drift_signals, system_health_report


def test_the_real_seed_repository_adopts_and_builds(
    cli: Run, reference: Path, tmp_path: Path
) -> None:
    """The reference's files in their places (LAYOUT.md): adopt, then build green."""
    root = tmp_path / "ovc-infra"
    (root / PHASE / "schemas").mkdir(parents=True)
    for name in ("REGISTRY_CATALOG_v0_1.json", "ACTIVE_REGISTRY_POINTERS_v0_1.json"):
        shutil.copy(reference / name, root / PHASE / name)
    for path in reference.glob("REGISTRY_CATALOG_ADDENDUM_*.json"):
        shutil.copy(path, root / PHASE / path.name)
    for path in (reference / "schemas").glob("*.json"):
        shutil.copy(path, root / PHASE / "schemas" / path.name)
    shutil.copy(reference / "docs" / "OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md", root / PHASE)
    (root / "docs" / "governance").mkdir(parents=True)
    shutil.copy(reference / "sources" / "EXPECTED_VERSIONS_v0_1.json", root / "docs/governance")
    (root / "schema").mkdir()
    shutil.copy(reference / "sources" / "applied_migrations.json", root / "schema")
    shutil.copytree(reference / "sources" / "threshold_packs", root / "configs/threshold_packs")
    code, out, err = cli("adopt", str(root), "--json")
    assert code == 0, err
    kinds = {d["registry_id"]: d["kind"] for d in json.loads(out)["decisions"]}
    assert kinds["threshold_packs_file"] == "source"
    assert kinds["threshold_registry_db"] == "excluded"
    runs = root / ".codex" / "RUNS"
    for folder in [*reference.glob("sealed_by_*/*__*")]:
        shutil.copytree(folder, runs / folder.name)
    entries = built(cli, root)
    theirs = next(reference.glob("sealed_by_reference/*__registry_delta_log_build"))
    ours = runs / str(entries["registry_delta_log"]["run_id"]) / "REGISTRY_DELTA_LOG_v0_1.jsonl"
    assert ours.read_bytes().startswith((theirs / ours.name).read_bytes())  # one history
    code, out, err = cli("delta", "verify", "--json", "--workspace", str(root))
    assert code == 0 and json.loads(out)["first_run_id"] == theirs.name, out + err
    for line in ours.read_text().splitlines():  # every ref names a file its folder holds
        ref = json.loads(line)["to_ref"]
        assert ref["relpath"] is None or (runs / ref["run_id"] / ref["relpath"]).is_file(), ref
    reused = {k: e["run_id"] for k, e in entries.items() if e["status"] == "reused"}
    promoted = {f.name for f in reference.glob("sealed_by_seal_promotion/*")}
    assert set(reused) == {"expected_versions", "migration_ledger", "threshold_packs_file"}
    assert set(reused.values()) <= promoted  # their sealed sources are this history's snapshots


def _seal_promotion(runs: Path, name: str, registry_id: str, files: dict[str, bytes]) -> Path:
    """A folder as the seed's seal-promotion script writes it (`<ts>__seal_<name>`)."""
    folder = runs / f"2026-02-06__093000__seal_{name}"
    envelope = {"created_utc": "2026-02-06T09:30:00Z", "run_id": folder.name,
                "run_type": "seal_promotion", "source_registry": registry_id,
                "source_path": "docs/governance/"}  # fmt: skip
    return seal_like_seed(folder, files, envelope)


def test_their_seal_promotion_folders_continue_the_history(cli: Run, seed_repo: Path) -> None:
    """Their sealed folders here: an unchanged source reuses their snapshot, still pointed at;
    our delta log starts from their newest, byte for byte, and `delta verify` walks into theirs."""
    runs = seed_repo / ".codex" / "RUNS"
    snapshot = "EXPECTED_VERSIONS_v0_1_snapshot.json"
    source = (seed_repo / "docs/governance/EXPECTED_VERSIONS_v0_1.json").read_bytes()
    folder = _seal_promotion(runs, "expected_versions", "expected_versions", {snapshot: source})
    relpaths: dict[str, str | None] = {"expected_versions": snapshot}
    theirs = seal_seed_delta_log(
        runs, "2026-02-06T10:00:00Z", {"expected_versions": [folder]}, relpaths=relpaths
    )
    assert cli("validate", str(folder))[0] == 0  # their seal passes our validator
    assert cli("adopt", str(seed_repo))[0] == 0
    entries = built(cli, seed_repo)
    entry = entries["expected_versions"]
    assert (entry["status"], entry["run_id"]) == ("reused", folder.name)
    log = entries["registry_delta_log"]
    assert log["status"] == "built"
    ours = (runs / str(log["run_id"]) / "REGISTRY_DELTA_LOG_v0_1.jsonl").read_bytes()
    head = (theirs / "REGISTRY_DELTA_LOG_v0_1.jsonl").read_bytes()
    assert ours.startswith(head) and len(ours) > len(head)
    appended = [json.loads(line) for line in ours[len(head) :].splitlines()]
    assert "expected_versions" not in {r["registry_id"] for r in appended}  # reused: no record
    assert all(r["derivation_run_id"] == log["run_id"] for r in appended)
    code, out, err = cli("delta", "verify", "--json", "--workspace", str(seed_repo))
    assert code == 0, out + err
    assert (json.loads(out)["first_run_id"], json.loads(out)["snapshots"]) == (theirs.name, 2)
    pointers = json.loads((seed_repo / PHASE / "ACTIVE_REGISTRY_POINTERS_v0_1.json").read_text())
    ref = next(p for p in pointers["pointers"] if p["registry_id"] == "expected_versions")
    assert ref["active_ref"]["run_id"] == folder.name
    assert ref["active_ref"]["relpath"] == "EXPECTED_VERSIONS_v0_1_snapshot.json"
    code, out, _ = cli("delta", "show", "--registry", "expected_versions", "--json",
                       "--workspace", str(seed_repo))  # fmt: skip
    assert code == 0 and folder.name in out
    (seed_repo / "docs/governance/EXPECTED_VERSIONS_v0_1.json").write_text(
        json.dumps(dict(EXPECTED, version="0.2"), indent=2) + "\n"
    )
    entry = built(cli, seed_repo)["expected_versions"]
    assert entry["status"] == "built" and entry["promoted"] is True
    code, out, _ = cli("delta", "show", "--registry", "expected_versions",
                       "--workspace", str(seed_repo))  # fmt: skip
    assert f"{folder.name} -> " in out  # the transition from their snapshot to ours


def test_an_operations_catalog_that_is_not_utf8_is_a_clear_error(cli: Run, seed_repo: Path) -> None:
    (seed_repo / PHASE / "OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md").write_bytes(b"# Ops \xff\n")
    code, out, err = cli("adopt", str(seed_repo))
    assert code == 2 and out == ""
    assert "OPERATIONS_UNREADABLE" in err and "not UTF-8" in err
    assert not (seed_repo / "registries").exists()


ODD_POINTERS = {"pointers": [
    {"registry_id": "a", "active_ref": {"run_id": 5}}, "not an entry",
    {"registry_id": "b", "active_ref": {"run_id": "gone", "run_root": 7}},
]}  # fmt: skip


@pytest.mark.parametrize(
    ("content", "codes"),
    [(b'{"pointer_contract_version": "0.1", "pointers": [], "pointers": []}',
      {"POINTER_FILE_UNREADABLE"}),
     (b'{"pointers": [{"registry_id": "x"}]}', {"POINTER_FILE_UNREADABLE"}),
     (b"\xff", {"POINTER_FILE_UNREADABLE"}),
     (json.dumps(ODD_POINTERS).encode(),
      {"POINTER_FILE_UNREADABLE", "SNAPSHOTS_ABSENT", "POINTER_TARGETS_GIT_IGNORED"}),
     (None, set())],
    ids=["duplicate-key", "schema-invalid", "not-utf8", "odd-entries", "absent"],
)  # fmt: skip
def test_a_pointer_file_the_builds_refuse_is_said_at_adoption(
    cli: Run, seed_repo: Path, content: bytes | None, codes: set[str]
) -> None:
    """A pointer file the store's reader refuses is an adopt warning, never a crash (its valid
    entries still read); an absent one is no warning."""
    path = seed_repo / PHASE / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    path.write_bytes(content) if content is not None else path.unlink()
    code, out, err = cli("adopt", str(seed_repo), "--dry-run", "--json")
    assert code == 0, err
    warnings = json.loads(out)["warnings"]
    assert {w["code"] for w in warnings} == codes
    assert {w["path"] for w in warnings} <= {path.relative_to(seed_repo).as_posix()}


@pytest.mark.parametrize("linked", ["file", "folder"])
def test_a_source_that_is_a_symbolic_link_is_said_at_adoption(
    cli: Run, seed_repo: Path, linked: str
) -> None:
    """A linked source is an adopt warning, NOT_A_REGULAR_FILE, as the build then refuses it."""
    if linked == "file":
        pack = seed_repo / "configs/threshold_packs/beta_pack_v1.json"
        pack.rename(seed_repo / "configs/beta_pack_v1.real.json")
        pack.symlink_to("../beta_pack_v1.real.json")
    else:
        packs = seed_repo / "configs/threshold_packs"
        packs.rename(seed_repo / "configs/real_packs")
        packs.symlink_to("real_packs")
    code, out, err = cli("adopt", str(seed_repo), "--dry-run", "--json")
    assert code == 0, err
    warnings = [w for w in json.loads(out)["warnings"] if w["code"] == "NOT_A_REGULAR_FILE"]
    assert "configs/threshold_packs/beta_pack_v1.json" in [w["path"] for w in warnings]
    warning = warnings[-1]
    assert "symbolic link" in warning["message"] and "build" in warning["message"]
    assert cli("adopt", str(seed_repo))[0] == 0
    code, out, err = cli("build", "--workspace", str(seed_repo), "--json")  # as adopt said
    named = "beta_pack_v1.json" if linked == "file" else "configs/threshold_packs/"
    assert code == 1 and "NOT_A_REGULAR_FILE" in out and named in out, out + err


def _edit_catalog(root: Path, index: int, **changes: Any) -> None:
    path = root / PHASE / "REGISTRY_CATALOG_v0_1.json"
    catalog = json.loads(path.read_text())
    catalog["registries"][index].update(changes)
    path.write_text(json.dumps(catalog))


@pytest.mark.parametrize(
    ("changes", "code", "said"),
    [
        ({"authoritative_sources": 5}, "CATALOG_INVALID", "authoritative_sources: must be an"),
        ({"authoritative_sources": [{"path": 5}]}, "CATALOG_INVALID", "authoritative_sources/0"),
        ({"registry_id": "9lives"}, "CATALOG_INVALID", "not a registry id"),
        ({"schema_id": ["x"]}, "CATALOG_INVALID", "schema_id: must be a string"),
        ({"write_policy": "overwrite_in_place"}, "ADOPT_UNSUPPORTED", "overwrite_in_place"),
        ({"authoritative_sources": [{"path": "../outside.json", "authority_class": "primary"}]},
         "ADOPT_UNSUPPORTED", "migration_ledger (in docs/phase_2_2/REGISTRY_CATALOG_v0_1.json)"),
        ({"authoritative_sources": [{"path": "../../<run_id>/X.json",
                                     "authority_class": "primary"}]},
         "ADOPT_UNSUPPORTED", "'../..'"),
    ],
)  # fmt: skip
def test_a_catalog_adoption_cannot_use_is_refused_with_a_reason(
    cli: Run, seed_repo: Path, changes: dict[str, Any], code: str, said: str
) -> None:
    """An entry adopt cannot read or a build would refuse: its code and place, nothing written."""
    (seed_repo.parent / "outside.json").write_text("{}")
    _edit_catalog(seed_repo, 3, **changes)  # migration_ledger
    before = _tree(seed_repo)
    rc, out, err = cli("adopt", str(seed_repo))
    assert rc == 2 and out == "" and code in err and said in err, err
    assert _tree(seed_repo) == before


def test_a_schema_id_naming_a_file_elsewhere_gets_no_binding(cli: Run, seed_repo: Path) -> None:
    elsewhere = seed_repo.parent / "evil"
    (seed_repo.parent / "evil.schema.json").write_text(json.dumps(OBJECT_SCHEMA))
    _edit_catalog(seed_repo, 3, schema_id=str(elsewhere))
    rc, out, err = cli("adopt", str(seed_repo), "--dry-run", "--json")
    assert rc == 0, err
    assert "schemas/migration_ledger.schema.json" not in json.loads(out)["files"]


def test_a_symlinked_repository_folder_adopts(cli: Run, seed_repo: Path) -> None:
    link = seed_repo.parent / "link"
    link.symlink_to(seed_repo)
    catalog = seed_repo / PHASE / "REGISTRY_CATALOG_v0_1.json"
    rc, _out, err = cli("adopt", str(link), "--catalog", str(catalog), "--dry-run")
    assert rc == 0, err


def test_sources_at_the_root_become_a_root_glob(cli: Run, seed_repo: Path) -> None:
    for name in ("one.json", "two.json"):
        (seed_repo / name).write_text(json.dumps(PACK))
    sources = [{"path": n, "authority_class": "primary"} for n in ("one.json", "two.json")]
    _edit_catalog(seed_repo, 3, authoritative_sources=sources)
    rc, _out, err = cli("adopt", str(seed_repo))
    assert rc == 0, err
    catalog = json.loads((seed_repo / "registries" / "REGISTRY_CATALOG_v0_2.json").read_text())
    ledger = next(e for e in catalog["registries"] if e["registry_id"] == "migration_ledger")
    assert ledger["sources"] == ["*.json"]
