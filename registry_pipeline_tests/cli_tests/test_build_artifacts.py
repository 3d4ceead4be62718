"""What `registry build` leaves on disk, checked end to end on copies of the demo workspace.

The v0.1 artifacts validate against the seed system's own schemas (read at test time) and ours;
a second build sees the registry operations of the first; extra run roots are indexed; tampering
is caught by a full audit only; the health report's scorecard matches the workspace.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from registry_pipeline.cli import main
from registry_pipeline.core.builders.registry import BUILDERS
from registry_pipeline.core.seal.schemas import ENVELOPE_ID, MANIFEST_ID, SchemaCatalog
from registry_pipeline.core.seal.validate import is_valid_run_folder
from registry_pipeline_tests._helpers import copy_built, copy_demo

REPO = Path(__file__).resolve().parents[2]
SEAL_FILES = ("run.json", "manifest.json", "MANIFEST.sha256")
EVIDENCE_ROOT = "reports/path1/evidence/runs"
REGISTRY_OPS = ("OP-QA07", "OP-QA08", "OP-QA09", "OP-QA10")

# Artifact name pattern -> (seed schema file, how it applies: a document, each JSONL line, or
# each item of a top-level array).
SEED_SCHEMAS: tuple[tuple[str, str, str], ...] = (
    ("RUN_REGISTRY_v0_1.jsonl", "REGISTRY_run_registry_v0_1.schema.json", "lines"),
    ("OPERATION_STATUS_TABLE_v0_1.json", "REGISTRY_op_status_table_v0_1.array.schema.json", "doc"),
    ("OPERATION_STATUS_TABLE_v0_1.json", "REGISTRY_op_status_table_v0_1.schema.json", "items"),
    ("DRIFT_SIGNALS_v0_1.json", "REGISTRY_drift_signals_v0_1.schema.json", "doc"),
    ("EXPECTED_VERSIONS_v0_1.json", "REGISTRY_expected_versions_v0_1.schema.json", "doc"),
    ("applied_migrations.json", "REGISTRY_migration_ledger_v0_1.schema.json", "doc"),
)
SEED_PACK_SCHEMA = (
    ("*_pack_v[0-9]*.json", "REGISTRY_threshold_packs_file_v0_1.schema.json", "doc"),
)


# --- running the CLI in process ---------------------------------------------------------------


def _registry(*args: str) -> tuple[int, str, str]:
    """`registry ARGS` in process; DAGSTER_HOME (which `build` sets) is restored afterwards."""
    saved = os.environ.get("DAGSTER_HOME")
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(list(args))
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved
    assert "Traceback" not in stdout.getvalue() + stderr.getvalue()
    return code, stdout.getvalue(), stderr.getvalue()


@dataclass(frozen=True)
class Build:
    """One `registry build --json`: exit code and the entries by registry id."""

    code: int
    document: dict[str, Any]

    def run_id(self, registry_id: str) -> str:
        """The run folder the build reports for `registry_id`."""
        entry = next(e for e in self.document["registries"] if e["registry_id"] == registry_id)
        return str(entry["run_id"])


def _build(root: Path, *extra: str) -> Build:
    code, out, err = _registry("build", "--workspace", str(root), "--json", *extra)
    assert out, err
    return Build(code, json.loads(out))


_demo = copy_demo


@dataclass(frozen=True)
class Built:
    """A demo copy built twice, and both builds' outputs."""

    root: Path
    builds: tuple[Build, ...]

    @property
    def runs(self) -> Path:
        return self.root / ".codex" / "RUNS"

    def folder(self, build: int, registry_id: str) -> Path:
        """The run folder of `registry_id` reported by build number `build` (0-based)."""
        return self.runs / self.builds[build].run_id(registry_id)


@pytest.fixture(scope="module")
def built(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Built:
    """Read-only for the tests: the demo copy after two successful builds, the session's first
    (`built_demo_once`, exit 0) and a second one forced on a copy of it (with nothing changed a
    plain build is `up to date` and builds nothing)."""
    root = copy_built(built_demo_once[0], tmp_path_factory.mktemp("artifacts"))
    builds = (Build(0, built_demo_once[1]), _build(root, "--force"))
    for build in builds:
        assert build.code == 0 and build.document["success"], build.document
    return Built(root, builds)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A fresh demo copy for tests that change it."""
    return _demo(tmp_path)


# --- reading run folders ----------------------------------------------------------------------


def _folders(runs: Path) -> list[Path]:
    return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))


def _envelope(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "run.json").read_text(encoding="utf-8")))


def _payload(folder: Path) -> list[str]:
    """Relpaths of the sealed artifacts (manifest.json lists them), without the seal files."""
    rows = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [row["relpath"] for row in rows if row["relpath"] not in SEAL_FILES]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _instances(path: Path, mode: str) -> Iterator[tuple[str, Any]]:
    """(where, instance) pairs of an artifact: the document, each line, or each array item."""
    if mode == "lines":
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                yield f"line {number}", json.loads(line)
        return
    document = _json(path)
    if mode == "items":
        assert isinstance(document, list), path
        for index, item in enumerate(document):
            yield f"[{index}]", item
        return
    yield "", document


# --- 1. every artifact validates ----------------------------------------------------------------


def _seed_failures(
    built: Built, schemas: Path, table: tuple[tuple[str, str, str], ...]
) -> tuple[list[str], dict[str, int]]:
    """Violations of the seed schemas in `table` by every sealed artifact, and what was checked."""
    validators: dict[str, Draft202012Validator] = {}
    for _pattern, name, _mode in table:
        document = _json(schemas / name)
        Draft202012Validator.check_schema(document)
        validators[name] = Draft202012Validator(
            document, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    failures: list[str] = []
    seen: dict[str, int] = {}
    for folder in _folders(built.runs):
        for relpath in _payload(folder):
            artifact = relpath.rsplit("/", 1)[-1]
            for pattern, name, mode in table:
                if not fnmatch.fnmatchcase(artifact, pattern):
                    continue
                seen[pattern] = seen.get(pattern, 0) + 1
                for where, instance in _instances(folder / relpath, mode):
                    failures.extend(
                        f"{folder.name}/{relpath} {where} {error.json_path}: {error.message}"
                        for error in validators[name].iter_errors(instance)
                    )
    return failures, seen


@pytest.mark.reference
def test_v01_artifacts_validate_against_the_seed_schemas(built: Built, reference: Path) -> None:
    failures, seen = _seed_failures(built, reference / "schemas", SEED_SCHEMAS)
    assert not failures, "\n".join(failures[:40])
    # every v0.1 kind was produced and checked: two builds of the built registries, one sealed
    # snapshot of each source (unchanged sources are reused)
    assert seen == {
        "RUN_REGISTRY_v0_1.jsonl": 2,
        "OPERATION_STATUS_TABLE_v0_1.json": 4,  # the array schema and the entry schema, twice
        "DRIFT_SIGNALS_v0_1.json": 2,
        "EXPECTED_VERSIONS_v0_1.json": 1,
        "applied_migrations.json": 1,
    }


@pytest.mark.reference
def test_threshold_packs_validate_against_the_seed_schema(built: Built, reference: Path) -> None:
    """The seed's pack schema is a closed union of its three pack shapes (`oneOf`)."""
    failures, seen = _seed_failures(built, reference / "schemas", SEED_PACK_SCHEMA)
    assert seen == {"*_pack_v[0-9]*.json": 3}
    assert not failures, "\n".join(failures)


def test_every_artifact_validates_against_our_schemas(built: Built) -> None:
    catalog = SchemaCatalog.for_workspace(REPO)
    failures: list[str] = []
    unvalidated: list[str] = []
    checked = 0
    for folder in _folders(built.runs):
        failures += [f"{folder.name}/run.json: {v}" for v in catalog.validate(
            ENVELOPE_ID, _envelope(folder)
        )]  # fmt: skip
        failures += [f"{folder.name}/manifest.json: {v}" for v in catalog.validate(
            MANIFEST_ID, _json(folder / "manifest.json")
        )]  # fmt: skip
        for relpath in _payload(folder):
            schema = catalog.for_artifact(relpath)
            if schema is None:
                if not relpath.endswith((".md", ".html")):
                    unvalidated.append(f"{folder.name}/{relpath}")
                continue
            mode = "lines" if schema.format == "jsonl" else "doc"
            for where, instance in _instances(folder / relpath, mode):
                checked += 1
                failures += [
                    f"{folder.name}/{relpath} {where} {violation}"
                    for violation in catalog.validate(schema.schema_id, instance)
                ]
    assert not failures, "\n".join(failures[:40])
    assert not unvalidated, f"artifacts without a schema of ours: {unvalidated}"
    assert checked > 0


def test_every_sealed_folder_passes_registry_validate_all(built: Built) -> None:
    code, out, err = _registry(
        "validate", "--all", "--json", "--jobs", "1", "--workspace", str(built.root)
    )
    reports = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 0, out + err
    assert {report["run_id"] for report in reports} == {f.name for f in _folders(built.runs)}
    assert all(report["status"] == "PASS" for report in reports), reports
    for folder in _folders(built.runs):
        assert is_valid_run_folder(folder), folder.name


# --- 2. the second build sees the registry operations of the first ------------------------------


def _op_builders(root: Path) -> dict[str, str | None]:
    document = _json(root / "registries" / "allowed_operations" / "ALLOWED_OPERATIONS_v0_1.json")
    return {op["operation_id"]: op["builder"] for op in document["operations"]}


def _op_detail(folder: Path) -> dict[str, dict[str, Any]]:
    detail = _json(folder / "OPERATION_STATUS_DETAIL_v0_2.json")
    return {entry["operation_id"]: entry for entry in detail["operations"]}


def test_first_build_sees_no_operation_run(built: Built) -> None:
    """Observed: the first run registry indexes only source snapshots, which carry no operation."""
    folder = built.folder(0, "op_status_table")
    assert {e["status"] for e in _op_detail(folder).values()} == {"never_run"}
    rows = _json(folder / "OPERATION_STATUS_TABLE_v0_1.json")
    assert all(row["last_run_id"] is None for row in rows)


def test_second_build_shows_the_registry_operations_as_run(built: Built) -> None:
    builders = _op_builders(built.root)
    catalog = _json(built.root / "registries" / "REGISTRY_CATALOG_v0_2.json")
    operation_of = {r["registry_id"]: r["build_operation_id"] for r in catalog["registries"]}
    folder = built.folder(1, "op_status_table")
    detail = _op_detail(folder)
    rows = {row["operation_id"]: row for row in _json(folder / "OPERATION_STATUS_TABLE_v0_1.json")}
    for op_id in REGISTRY_OPS:
        registry_id = str(builders[op_id])
        assert operation_of[registry_id] == op_id
        first = built.folder(0, registry_id)
        assert _envelope(first)["operation_id"] == op_id  # run.json carries the operation
        assert detail[op_id]["status"] == "ok", detail[op_id]
        assert detail[op_id]["status"] != "never_run"
        assert detail[op_id]["run_count"] == 1
        assert detail[op_id]["last_run_id"] == first.name
        assert detail[op_id]["last_seal_status"] == "PASS"
        assert rows[op_id]["last_run_id"] == first.name
        assert rows[op_id]["last_run_created_utc"] == _envelope(first)["created_utc"]
        assert rows[op_id]["run_evidence_state"] == "OBSERVED"
    # OP-QA11 builds registry_delta_log; the two non-registry operations have no run here.
    assert detail["OP-QA11"]["status"] == "ok"
    assert detail["OP-QA11"]["last_run_id"] == built.folder(0, "registry_delta_log").name
    for op_id in ("OP-B07", "OP-D04"):
        assert detail[op_id]["status"] == "never_run"
    assert _json(folder / "OPERATION_STATUS_DETAIL_v0_2.json")["unauthorized"] == []


# --- 3. several run roots -------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_seed_folder(folder: Path, run_id: str, created_utc: str) -> str:
    """A run folder in the seed system's format, written by hand; returns its ROOT_SHA256."""
    files = {
        "RUN.md": b"# p1 evidence run\n\nWritten by hand in the seed system's format.\n",
        "outputs/metrics/path_metrics.json": b'{"path_length": 3, "efficiency": 0.5}\n',
    }
    envelope = {
        "created_utc": created_utc,
        "git_commit": None,
        "inputs": {"date_ny": "2023-10-02", "symbol": "GBPUSD"},
        "operation_id": "OP-D04",
        "option": "D",
        "outputs": [*files, "run.json", "manifest.json", "MANIFEST.sha256"],
        "run_id": run_id,
        "run_type": "op_run",
        "working_tree_state": None,
    }
    files["run.json"] = json.dumps(envelope, indent=2, sort_keys=True).encode() + b"\n"
    manifest = [
        {"relpath": relpath, "bytes": len(data), "sha256": _sha(data)}
        for relpath, data in sorted(files.items())
    ]
    files["manifest.json"] = json.dumps(manifest, indent=2).encode() + b"\n"
    lines = [f"{_sha(data)}  {relpath}\n" for relpath, data in files.items()]  # manifest.json last
    root = _sha("".join(sorted(lines)).encode())
    files["MANIFEST.sha256"] = ("".join(lines) + f"ROOT_SHA256  {root}\n").encode()
    for relpath, data in files.items():
        target = folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def test_every_configured_run_root_is_indexed(demo: Path) -> None:
    catalog_path = demo / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog = _json(catalog_path)
    catalog["run_roots"] = [".codex/RUNS", EVIDENCE_ROOT]
    catalog_path.write_text(json.dumps(catalog, indent=2) + "\n", encoding="utf-8")
    run_id = "p1_20260301_001"
    created = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    evidence = demo / EVIDENCE_ROOT / run_id
    root_sha = _write_seed_folder(evidence, run_id, created)
    code, out, err = _registry("validate", str(evidence))
    assert code == 0, out + err  # our validator accepts the hand-written seed folder

    build = _build(demo)
    assert build.code == 0, build.document
    registry = demo / ".codex" / "RUNS" / build.run_id("run_registry")
    lines = _jsonl(registry / "RUN_REGISTRY_v0_1.jsonl")
    by_key = {line["run_key"]: line for line in lines}
    key = f"{EVIDENCE_ROOT}::{run_id}"
    assert key in by_key, sorted(by_key)
    line = by_key[key]
    assert line["run_root"] == EVIDENCE_ROOT
    assert line["run_id"] == run_id
    assert line["run_path"] == f"{EVIDENCE_ROOT}/{run_id}/"
    assert line["operation_id"] == "OP-D04" and line["created_utc"] == created
    assert line["has_run_json"] and line["has_manifest_json"] and line["has_manifest_sha256"]
    assert line["manifest_root_sha256"] == root_sha
    assert line["warnings"] == []  # the seed's line: the verdict is in the companion
    assert {f["relpath"] for f in line["files"]} >= {"RUN.md", "run.json"}
    # the default root is still indexed, and the roots come in the seed's order (by name)
    roots = [line["run_root"] for line in lines]
    assert ".codex/RUNS" in roots and roots == sorted(roots)
    status = {
        row["run_key"]: row for row in _jsonl(registry / "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl")
    }
    nested = {f["relpath"] for f in status[key]["nested_files"]}
    assert "outputs/metrics/path_metrics.json" in nested
    assert status[key]["status"] == "PASS" and status[key]["verification"] == "hashed"
    # the evidence run is attributed to its operation
    detail = _op_detail(demo / ".codex" / "RUNS" / build.run_id("op_status_table"))
    assert detail["OP-D04"]["last_run_key"] == key
    assert detail["OP-D04"]["status"] == "ok"


# --- 4. tampering: caught by a normal build (the incremental path is sound) and a full audit -----


def _flip_last_byte(path: Path) -> None:
    """Change one byte of a sealed file (size unchanged), then restore the seal's modes."""
    path.parent.chmod(0o755)
    path.chmod(0o644)
    data = path.read_bytes()
    path.write_bytes(data[:-1] + (b" " if data[-1:] != b" " else b"\n"))
    path.chmod(0o444)
    path.parent.chmod(0o555)


def _seal_status(root: Path, build: Build) -> dict[str, dict[str, Any]]:
    folder = root / ".codex" / "RUNS" / build.run_id("run_registry")
    return {row["run_key"]: row for row in _jsonl(folder / "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl")}


def _registry_lines(root: Path, build: Build) -> dict[str, dict[str, Any]]:
    folder = root / ".codex" / "RUNS" / build.run_id("run_registry")
    return {row["run_key"]: row for row in _jsonl(folder / "RUN_REGISTRY_v0_1.jsonl")}


def _signals(root: Path, build: Build) -> dict[str, dict[str, Any]]:
    folder = root / ".codex" / "RUNS" / build.run_id("drift_signals")
    detail = _json(folder / "DRIFT_SIGNALS_DETAIL_v0_2.json")
    return {signal["signal_id"]: signal for signal in detail["signals"]}


def test_a_same_size_edit_is_caught_by_a_normal_build_and_a_full_audit(
    built: Built, tmp_path: Path
) -> None:
    """On a copy of the module's workspace: its first build's folders, hashed again by a forced
    build (a copy's files are new to the verdict cache), then one of them edited."""
    demo = copy_built(built.root, tmp_path)
    first = built.builds[0]
    second = _build(demo, "--force")  # indexes (hashes) every folder of the first build as PASS
    assert first.code == 0 and second.code == 0
    victim = demo / ".codex" / "RUNS" / first.run_id("op_status_table")
    key = f".codex/RUNS::{victim.name}"
    assert _seal_status(demo, second)[key]["status"] == "PASS"
    manifest_before = (victim / "MANIFEST.sha256").read_bytes()
    _flip_last_byte(victim / "OPERATION_STATUS_TABLE_v0_1.json")
    assert (victim / "MANIFEST.sha256").read_bytes() == manifest_before
    assert not is_valid_run_folder(victim)

    normal = _build(demo)  # what `registry validate` reports, a normal build reports too
    assert normal.code == 0, normal.document  # a finding, not a failed build
    status = _seal_status(demo, normal)[key]
    assert status["status"] == "FAIL", status
    assert status["verification"] == "hashed" and status["tampered"] is True
    assert _registry_lines(demo, normal)[key]["warnings"] == []  # the seed's line is unchanged
    assert _signals(demo, normal)["run_folders:tampered"]["value"] is True
    untouched = f".codex/RUNS::{first.run_id('expected_versions')}"
    assert _seal_status(demo, normal)[untouched]["verification"] == "reused"  # still incremental

    audit = _build(demo, "--full-audit")
    assert audit.code == 0, audit.document  # a finding, not a failed build
    status = _seal_status(demo, audit)[key]
    assert status["status"] == "FAIL", status
    assert status["verification"] == "hashed"
    assert status["tampered"] is True
    assert {"path": "OPERATION_STATUS_TABLE_v0_1.json"}.items() <= status["problems"][0].items()
    signal = _signals(demo, audit)["run_folders:tampered"]
    assert signal["value"] is True
    assert signal["severity"] == "critical"
    evidence = {item["run_id"]: item for item in signal["evidence"]}
    assert set(evidence) == {victim.name}
    assert evidence[victim.name]["registry_id"] == "op_status_table"
    root = manifest_before.decode().rsplit("ROOT_SHA256  ", 1)[1].strip()
    assert evidence[victim.name]["manifest_sha256"] == root


# --- 5. the health report's scorecard -------------------------------------------------------------


def _shown(built: Built, build: int, report: Path) -> set[str]:
    """Run folders the report's sealed inputs show: those its run registry indexes, the inputs
    and what they were built from (read from run.json, as a person would check)."""
    lines = _jsonl(built.folder(build, "run_registry") / "RUN_REGISTRY_v0_1.jsonl")
    shown = {line["run_id"] for line in lines if line["run_root"] == ".codex/RUNS"}
    for ref in _envelope(report)["inputs"]:
        shown.add(ref["run_id"])
        shown.update(inner["run_id"] for inner in _envelope(built.runs / ref["run_id"])["inputs"])
    return shown


def _expected_scorecard(built: Built, build: int, report: Path) -> dict[str, dict[str, int]]:
    catalog = _json(built.root / "registries" / "REGISTRY_CATALOG_v0_2.json")["registries"]
    newest: dict[str, Path] = {}
    for name in sorted(_shown(built, build, report)):
        folder = built.runs / name
        envelope = _envelope(folder)
        order = (envelope["created_utc"], folder.name)
        current = newest.get(envelope["registry_id"])
        if current is None or order > (_envelope(current)["created_utc"], current.name):
            newest[envelope["registry_id"]] = folder
    sealed = sum(
        1
        for r in catalog
        if r["registry_id"] == "system_health_report"  # counts itself: this build seals it
        or (r["registry_id"] in newest and is_valid_run_folder(newest[r["registry_id"]]))
    )
    with_builder = {
        r["registry_id"] for r in catalog if r["kind"] != "source" and r["registry_id"] in BUILDERS
    }
    ops = _json(built.root / "registries" / "allowed_operations" / "ALLOWED_OPERATIONS_v0_1.json")
    operations = ops["operations"]
    checked = sum(1 for op in operations if op["enforcement_level"] in ("C3", "C4", "C5"))
    return {
        "sealed_registries": {"count": sealed, "total": len(catalog)},
        "operations_with_builders": {
            "count": sum(1 for op in operations if op["builder"] in with_builder),
            "total": len(operations),
        },
        "enforcement_c3_plus": {"count": checked, "total": len(operations)},
    }


def _counted(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    registries = summary["scorecard"]["sealed_registries"]["registries"]
    return {entry["registry_id"]: entry for entry in registries}


@pytest.mark.parametrize("build", [0, 1])
def test_health_scorecard_matches_the_workspace(built: Built, build: int) -> None:
    report = built.folder(build, "system_health_report")
    expected = _expected_scorecard(built, build, report)
    summary = _json(report / "SYSTEM_HEALTH_SUMMARY_v0_1.json")
    assert {
        key: {
            "count": summary["scorecard"][key]["count"],
            "total": summary["scorecard"][key]["total"],
        }
        for key in expected
    } == expected
    assert summary["scorecard"]["check_coverage"] == {
        key: summary["scorecard"]["enforcement_c3_plus"][key]
        for key in ("count", "total", "percent")
    }
    counted = _counted(summary)
    assert counted["system_health_report"]["basis"] == "this_report"
    log = counted["registry_delta_log"]  # built after the inputs: counted by the next report
    if build == 0:
        assert (log["sealed"], log["basis"]) == (False, "none")
    else:
        assert (log["sealed"], log["run_id"]) == (
            True,
            built.builds[0].run_id("registry_delta_log"),
        )
        assert summary["scorecard"]["sealed_registries"]["count"] == len(counted)
    markdown = (report / "SYSTEM_HEALTH_REPORT_v0_1.md").read_text(encoding="utf-8")
    for figure, key in (
        ("sealed registries", "sealed_registries"),
        ("operations with builders", "operations_with_builders"),
        ("enforcement coverage C3+", "enforcement_c3_plus"),
    ):
        ratio = f"{expected[key]['count']}/{expected[key]['total']}"
        assert f"| {figure} | {ratio} |" in markdown, (figure, ratio)
    catalog = _json(built.root / "registries" / "REGISTRY_CATALOG_v0_2.json")["registries"]
    assert summary["counts"]["registries"] == len(catalog)
    assert summary["counts"]["total_ops"] == len(_op_builders(built.root))
    lines = _jsonl(built.folder(build, "run_registry") / "RUN_REGISTRY_v0_1.jsonl")
    assert summary["counts"]["run_folders"] == len(lines)
