"""Collections (a `<placeholder>` path) are adopted as globs, sealed whole, pointed and logged."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.adopt.plan import collection_glob, plan_collection
from registry_pipeline.core.workspace.sources import pattern_matches, source_paths
from registry_pipeline_tests._helpers import Run, journal_records, seal_like_seed, seed_repository
from registry_pipeline_tests.cli_tests._seed_layout import (
    CATALOG,
    PHASE,
    built,
    make_seed_repo,
    source_of,
    v01,
    write_file,
)

UUID1 = "1dfb7850-2cdd-5dd0-9cd5-dd7758d19439"
UUID2 = "2a6c0e1d-7b34-4f0e-9a51-3c2d1e0f9b88"
DERIVED = "artifacts/derived_validation"
EVIDENCE = "reports/path1/evidence/runs"
PACK = "outputs/evidence_pack_v0_2"
DERIVED_GLOB = f"{DERIVED}/*/derived_validation_report.json"
EVIDENCE_GLOB = f"{EVIDENCE}/*/{PACK}/**/*"
CATALOG_PATH = "registries/REGISTRY_CATALOG_v0_2.json"
DERIVED_ID = "derived_validation_reports"
POINTERS_PATH = PHASE / "ACTIVE_REGISTRY_POINTERS_v0_1.json"

DERIVED_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Derived Validation Report v0.1",
    "description": f"Schema for {DERIVED}/<uuid>/derived_validation_report.json.",
    "type": "object",
    "required": ["run_id", "status"],
    "properties": {"run_id": {"type": "string"}, "status": {"enum": ["PASS", "FAIL", "PARTIAL"]}},
}
EVIDENCE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Evidence Pack Registry v0.2 — Manifest Entry Schema",
    "description": "Schema for evidence pack manifest entries.",
    "type": "object",
    "required": ["relpath", "bytes", "sha256"],
}
"""Not a schema of any member file: bound, it would fail every one of them."""


def _catalog() -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    evidence = v01("evidence_pack_registry", "run_folder",
                    [source_of(f"{EVIDENCE}/<run_id>/{PACK}/"),
                     source_of("scripts/path1/build_evidence_pack_v0_2.py", "derived")],
                    "OP-D01 (Path1 Evidence Pack Build v0.2)")  # fmt: skip
    evidence["schema_id"] = "REGISTRY_evidence_pack_v0_2"
    catalog["registries"] += [
        v01("derived_validation_reports", "json_snapshot",
             [source_of(f"{DERIVED}/<uuid>/derived_validation_report.json"),
              source_of(f"{DERIVED}/LATEST.txt", "derived")],
             "OP-B08 (Derived Validation)"),
        evidence,
    ]  # fmt: skip
    return catalog


def _report(uuid: str, status: str = "PASS") -> dict[str, str]:
    return {"run_id": uuid, "status": status}


def _evidence_run(run_id: str) -> dict[str, Any]:
    """One evidence run folder: its pack (nested files) and files beside the pack."""
    run = f"{EVIDENCE}/{run_id}"
    return {
        f"{run}/{PACK}/meta.json": {"pack_version": "0.2", "symbol": "GBPUSD"},
        f"{run}/{PACK}/manifest.json": [{"relpath": "meta.json", "bytes": 1, "sha256": "0"}],
        f"{run}/{PACK}/strips/2h/20221213-B-GBPUSD.csv": "bar,open\nB,1.2\n",
        f"{run}/RUN.md": f"# {run_id}\n",
        f"{run}/outputs/other_output.txt": "not part of the pack\n",
    }


@pytest.fixture
def collections_repo(tmp_path: Path) -> Path:
    """The seed fixture with two collections that have members, and the seed's one with none."""
    return make_seed_repo(
        tmp_path / "ovc",
        {
            PHASE / "REGISTRY_CATALOG_v0_1.json": _catalog(),
            PHASE / "schemas/REGISTRY_derived_validation_reports_v0_1.schema.json": DERIVED_SCHEMA,
            PHASE / "schemas/REGISTRY_evidence_pack_v0_2.schema.json": EVIDENCE_SCHEMA,
            f"{DERIVED}/{UUID1}/derived_validation_report.json": _report(UUID1),
            f"{DERIVED}/{UUID1}/meta.json": {"run_id": UUID1},
            f"{DERIVED}/{UUID1}/derived_validation_report.md": "# PASS\n",
            f"{DERIVED}/LATEST.txt": UUID1 + "\n",
            **_evidence_run("p1_20260120_001"),
            f"{EVIDENCE}/p1_20260120_002/RUN.md": "# a run without a pack\n",
        },
    )


def _payload(root: Path, run_id: str) -> dict[str, str]:
    """relpath -> sha256 of a run folder's artifacts, as its manifest lists them."""
    rows = json.loads((root / ".codex/RUNS" / run_id / "manifest.json").read_text())
    return {row["relpath"]: row["sha256"] for row in rows if row["relpath"] != "run.json"}


def _pointer(root: Path, registry_id: str) -> dict[str, Any]:
    pointers = json.loads((root / POINTERS_PATH).read_text())["pointers"]
    return next(p["active_ref"] for p in pointers if p["registry_id"] == registry_id)


@pytest.mark.parametrize(
    ("path", "glob"),
    [
        ("reports/validation/validate_range_<uuid>_days.jsonl",
         "reports/validation/validate_range_*_days.jsonl"),
        (f"{DERIVED}/<uuid>/derived_validation_report.json", DERIVED_GLOB),
        (f"{EVIDENCE}/<run_id>/{PACK}/", EVIDENCE_GLOB),
        ("odd/[draft]_<id>?.json", "odd/[[]draft]_*[?].json"),
    ],
)  # fmt: skip
def test_a_placeholder_path_becomes_a_glob(path: str, glob: str) -> None:
    assert collection_glob(path) == glob


def test_glob_characters_of_the_path_match_only_themselves(tmp_path: Path) -> None:
    for name in ("[draft]_1?.json", "d_1x.json", "[draft]_2?.txt"):
        write_file(tmp_path, f"odd/{name}", "{}")
    glob = collection_glob("odd/[draft]_<id>?.json")
    assert pattern_matches(tmp_path, glob) == ["odd/[draft]_1?.json"]


@pytest.mark.parametrize(
    ("path", "said"),
    [("../elsewhere/<uuid>.json", "has a '..' segment"),
     ("link/<uuid>.json", "goes through a symlink (link -> ")],
)  # fmt: skip
def test_a_collection_outside_the_repository_is_excluded_unread(
    tmp_path: Path, path: str, said: str
) -> None:
    root = tmp_path / "repo"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "1.json").write_text("{}")
    root.mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    plan = plan_collection(root, [path])
    assert plan.sources == () and said in plan.reason, plan.reason
    assert plan.reason.startswith("collection: ") and plan.reason.endswith("nothing to snapshot")


def test_files_beside_a_collections_members_are_not_reported(collections_repo: Path) -> None:
    as_source = source_paths(collections_repo, [DERIVED_GLOB])
    as_collection = source_paths(collections_repo, [DERIVED_GLOB], "collection")
    assert f"{DERIVED}/LATEST.txt" in as_source.unexpected
    assert as_collection.unexpected == ()
    assert list(as_collection.files) == [f"{UUID1}/derived_validation_report.json"]
    assert as_collection.files == as_source.files


def test_adopt_makes_collections_with_members_entries_and_excludes_the_empty_one(
    cli: Run, collections_repo: Path
) -> None:
    code, out, err = cli("adopt", str(collections_repo))
    assert code == 0, err
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["derived_validation_reports"].split()[0] == "collection"
    assert lines["evidence_pack_registry"].split()[0] == "collection"
    assert lines["validation_range_results"].split(None, 2)[2] == (
        "collection: no file matches reports/validation/range_*.jsonl; nothing to snapshot"
    )
    catalog = json.loads((collections_repo / CATALOG_PATH).read_text())
    entries = {e["registry_id"]: e for e in catalog["registries"]}
    derived, evidence = entries["derived_validation_reports"], entries["evidence_pack_registry"]
    assert (derived["kind"], derived["sources"]) == ("collection", [DERIVED_GLOB])
    assert (evidence["kind"], evidence["sources"]) == ("collection", [EVIDENCE_GLOB])
    assert derived["artifacts"] == ["*/derived_validation_report.json"]
    assert evidence["artifacts"] == [f"*/{PACK}/**/*"]
    for entry in (derived, evidence):
        assert entry["active_pointer"] is True and entry["delta_log"] == {"covered": True}
        assert entry["depends_on"] == [] and "append_only" not in entry
    log = entries["registry_delta_log"]
    assert {"derived_validation_reports", "evidence_pack_registry"} <= set(log["depends_on"])
    assert {e["registry_id"] for e in catalog["excluded"]} == {
        "threshold_registry_db", "validation_range_results"}  # fmt: skip
    schemas = collections_repo / "schemas"
    binding = json.loads((schemas / "derived_validation_reports.schema.json").read_text())
    assert binding["x-registry-artifacts"] == ["derived_validation_report.json"]
    assert binding["x-schema-file"].endswith("REGISTRY_derived_validation_reports_v0_1.schema.json")
    assert not (schemas / "evidence_pack_registry.schema.json").exists()


def test_the_build_seals_a_collection_reuses_it_and_seals_a_new_member(
    cli: Run, collections_repo: Path
) -> None:
    root = collections_repo
    assert cli("adopt", str(root))[0] == 0
    first = built(cli, root)
    derived, evidence = first["derived_validation_reports"], first["evidence_pack_registry"]
    assert (derived["status"], derived["promoted"]) == ("built", True)
    assert (evidence["status"], evidence["promoted"]) == ("built", True)
    assert all(entry["notes"] == [] for entry in first.values())  # LATEST.txt, RUN.md: silent
    report = (root / DERIVED / UUID1 / "derived_validation_report.json").read_bytes()
    assert _payload(root, derived["run_id"]) == {
        f"{UUID1}/derived_validation_report.json": hashlib.sha256(report).hexdigest()
    }
    assert set(_payload(root, evidence["run_id"])) == {
        f"p1_20260120_001/{PACK}/meta.json",
        f"p1_20260120_001/{PACK}/manifest.json",
        f"p1_20260120_001/{PACK}/strips/2h/20221213-B-GBPUSD.csv",
    }
    ref = _pointer(root, "derived_validation_reports")
    assert (ref["run_id"], ref["relpath"]) == (derived["run_id"], None)

    second = built(cli, root, "--force")  # a build, not `up to date`
    for registry_id in ("derived_validation_reports", "evidence_pack_registry"):
        assert second[registry_id]["status"] == "reused"
        assert second[registry_id]["run_id"] == first[registry_id]["run_id"]

    new_member = f"{UUID2}/derived_validation_report.json"
    write_file(root, f"{DERIVED}/{new_member}", _report(UUID2, "PARTIAL"))
    third = built(cli, root)
    derived3 = third["derived_validation_reports"]
    assert derived3["status"] == "built" and derived3["run_id"] != derived["run_id"]
    assert set(_payload(root, derived3["run_id"])) == {
        f"{UUID1}/derived_validation_report.json", new_member}  # fmt: skip
    assert third["evidence_pack_registry"]["status"] == "reused"
    assert _pointer(root, "derived_validation_reports")["run_id"] == derived3["run_id"]
    log_run = third["registry_delta_log"]["run_id"]
    log = (root / ".codex/RUNS" / log_run / "REGISTRY_DELTA_LOG_v0_1.jsonl").read_text()
    records = [json.loads(line) for line in log.splitlines()]
    mine = [r for r in records if r["registry_id"] == "derived_validation_reports"]
    assert [r["to_ref"]["run_id"] for r in mine] == [derived["run_id"], derived3["run_id"]]
    assert mine[-1]["from_ref"]["run_id"] == derived["run_id"]
    assert (mine[-1]["added_paths"], mine[-1]["removed_paths"]) == ([new_member], [])
    assert mine[-1]["to_ref"]["relpath"] is None

    commands = [("validate", "--all"), ("validate", "--active"), ("pointers", "verify"),
                ("delta", "verify")]  # fmt: skip
    for command in commands:
        code, out, err = cli(*command, "--workspace", str(root))
        assert code == 0, f"{command}: {out}{err}"


def test_their_seal_promotion_folder_starts_the_collections_history(
    cli: Run, collections_repo: Path
) -> None:
    """A seed-sealed collection folder: our first snapshot follows it in the log and the journal."""
    runs = collections_repo / ".codex/RUNS"
    members = {
        name: (collections_repo / DERIVED / UUID1 / name).read_bytes()
        for name in ("derived_validation_report.json", "meta.json")
    }
    name = "2026-02-06__093000__seal_derived_validation"
    envelope = {"created_utc": "2026-02-06T09:30:00Z", "run_id": name,
                "run_type": "seal_promotion", "source_registry": "derived_validation_reports",
                "source_path": f"{DERIVED}/{UUID1}/"}  # fmt: skip
    theirs = seal_like_seed(runs / name, members, envelope)
    root_line = (theirs / "MANIFEST.sha256").read_text().splitlines()[-1]
    found = {"run_id": name, "run_root": ".codex/RUNS", "relpath": "derived_validation_report.json",
             "manifest_sha256": root_line.split()[-1]}  # fmt: skip
    pointers = json.loads((collections_repo / POINTERS_PATH).read_text())
    pointers["pointers"].append({"registry_id": "derived_validation_reports", "active_ref": found,
                                 "active_ref_known": True,
                                 "active_asof_utc": "2026-02-06T09:30:00Z"})  # fmt: skip
    write_file(collections_repo, POINTERS_PATH, pointers)
    assert cli("adopt", str(collections_repo))[0] == 0
    ours = built(cli, collections_repo)["derived_validation_reports"]
    assert ours["status"] == "built" and ours["promoted"] is True
    code, out, err = cli("delta", "show", "--registry", "derived_validation_reports", "--json",
                         "--workspace", str(collections_repo))  # fmt: skip
    assert code == 0, err
    last = json.loads(out)["records"][-1]
    assert (last["from_ref"]["run_id"], last["to_ref"]["run_id"]) == (theirs.name, ours["run_id"])
    assert last["added_paths"] == [f"{UUID1}/derived_validation_report.json"]
    assert "derived_validation_report.json" in last["removed_paths"]
    journal = collections_repo / ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    records = [record for line in journal.read_text().splitlines()
               for record in journal_records(json.loads(line))]  # fmt: skip
    mine = [r for r in records if r["registry_id"] == "derived_validation_reports"]
    assert [r["action"] for r in mine] == ["adopt", "promote"]
    assert mine[0]["to_ref"] == found and mine[1]["from_ref"] == found
    assert mine[1]["to_ref"]["relpath"] is None
    code, out, err = cli("pointers", "verify", "--workspace", str(collections_repo))
    assert code == 0, out + err


def test_a_member_that_breaks_its_bound_schema_is_never_sealed(
    cli: Run, collections_repo: Path
) -> None:
    """The per-member schema governs every member: a bad one fails the build, naming its file."""
    assert cli("adopt", str(collections_repo))[0] == 0
    bad = f"{DERIVED}/{UUID2}/derived_validation_report.json"
    write_file(collections_repo, bad, _report(UUID2, "MAYBE"))
    code, out, _err = cli("build", "--workspace", str(collections_repo), "--json")
    assert code == 1
    [entry] = [e for e in json.loads(out)["registries"] if e["registry_id"] == DERIVED_ID]
    assert entry["status"] == "failed" and entry["run_id"] is None
    assert any(
        bad in json.dumps(problem) and "/status" in json.dumps(problem)
        for problem in entry["problems"]
    ), entry


@pytest.mark.reference
def test_the_seed_repositorys_collections(cli: Run, tmp_path: Path) -> None:
    """The real repository: two collections have members, one has none; both seal without a note."""
    root = seed_repository(tmp_path)
    code, out, err = cli("adopt", str(root), "--json")
    assert code == 0, err
    decisions = {d["registry_id"]: d for d in json.loads(out)["decisions"]}
    assert decisions["validation_range_results"]["reason"] == (
        "collection: no file matches reports/validation/validate_range_*_days.jsonl; "
        "nothing to snapshot"
    )
    assert decisions["derived_validation_reports"]["sources"] == [DERIVED_GLOB]
    assert decisions["evidence_pack_registry"]["sources"] == [EVIDENCE_GLOB]
    selected = ("derived_validation_reports", "evidence_pack_registry")
    entries = built(cli, root, "--select", *selected)
    assert {entries[r]["status"] for r in selected} == {"built"}
    assert all(entries[r]["notes"] == [] for r in selected)
    assert len(_payload(root, entries["evidence_pack_registry"]["run_id"])) == 66
    assert list(_payload(root, entries["derived_validation_reports"]["run_id"])) == [
        f"{UUID1}/derived_validation_report.json"
    ]
    code, out, err = cli("pointers", "verify", "--workspace", str(root))
    assert code == 0, out + err
