"""What `registry build` leaves on disk: valid against the seed's schemas and ours, and sound."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import is_valid_run_folder
from registry_pipeline_tests._helpers import copy_built, environment_kept, registry

SEAL_FILES = ("run.json", "manifest.json", "MANIFEST.sha256")
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
    # a closed union of the seed's three pack shapes (`oneOf`)
    ("*_pack_v[0-9]*.json", "REGISTRY_threshold_packs_file_v0_1.schema.json", "doc"),
)


# --- running the CLI in process ---------------------------------------------------------------


def _registry(*args: str) -> tuple[int, str, str]:
    """`registry ARGS` in process; DAGSTER_HOME (which `build` sets) is restored afterwards."""
    with environment_kept("DAGSTER_HOME"):
        return registry(*args)


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
    """Read-only: the session's built demo (`built_demo_once`) and a second, forced, build of it."""
    root = copy_built(built_demo_once[0], tmp_path_factory.mktemp("artifacts"))
    builds = (Build(0, built_demo_once[1]), _build(root, "--force"))
    for build in builds:
        assert build.code == 0 and build.document["success"], build.document
    return Built(root, builds)


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


def _seed_failures(built: Built, schemas: Path) -> tuple[list[str], dict[str, int]]:
    """Violations of the seed's schemas by every sealed artifact, and what was checked."""
    validators: dict[str, Draft202012Validator] = {}
    for _pattern, name, _mode in SEED_SCHEMAS:
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
            for pattern, name, mode in SEED_SCHEMAS:
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
    failures, seen = _seed_failures(built, reference / "schemas")
    assert not failures, "\n".join(failures[:40])
    # every v0.1 kind was produced and checked: two builds of the built registries, one sealed
    # snapshot of each source (unchanged sources are reused)
    assert seen == {
        "RUN_REGISTRY_v0_1.jsonl": 2,
        "OPERATION_STATUS_TABLE_v0_1.json": 4,  # the array schema and the entry schema, twice
        "DRIFT_SIGNALS_v0_1.json": 2,
        "EXPECTED_VERSIONS_v0_1.json": 1,
        "applied_migrations.json": 1,
        "*_pack_v[0-9]*.json": 3,
    }


def test_every_sealed_folder_passes_registry_validate_all(built: Built) -> None:
    code, out, err = _registry(
        "validate", "--all", "--json", "--jobs", "1", "--workspace", str(built.root)
    )
    reports = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 0, out + err
    assert {report["run_id"] for report in reports} == {f.name for f in _folders(built.runs)}
    assert all(report["status"] == "PASS" for report in reports), reports  # schemas included
    catalog = SchemaCatalog.for_workspace(built.root)
    unvalidated = [
        f"{folder.name}/{relpath}"
        for folder in _folders(built.runs)
        for relpath in _payload(folder)
        if catalog.for_artifact(relpath) is None and not relpath.endswith((".md", ".html"))
    ]
    assert not unvalidated, f"artifacts without a schema of ours: {unvalidated}"


# --- 2. the second build sees the registry operations of the first ------------------------------


def _op_builders(root: Path) -> dict[str, str | None]:
    document = _json(root / "registries" / "allowed_operations" / "ALLOWED_OPERATIONS_v0_1.json")
    return {op["operation_id"]: op["builder"] for op in document["operations"]}


def _op_detail(folder: Path) -> dict[str, dict[str, Any]]:
    detail = _json(folder / "OPERATION_STATUS_DETAIL_v0_2.json")
    return {entry["operation_id"]: entry for entry in detail["operations"]}


def test_second_build_shows_the_registry_operations_of_the_first_as_run(built: Built) -> None:
    unseen = _op_detail(built.folder(0, "op_status_table"))  # its run registry: sources only
    assert {entry["status"] for entry in unseen.values()} == {"never_run"}
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
        seen = (detail[op_id]["status"], detail[op_id]["run_count"], detail[op_id]["last_run_id"])
        assert seen == ("ok", 1, first.name), detail[op_id]
        assert rows[op_id]["last_run_id"] == first.name
    # OP-QA11 builds registry_delta_log; the two non-registry operations have no run here.
    assert detail["OP-QA11"]["status"] == "ok"
    assert detail["OP-QA11"]["last_run_id"] == built.folder(0, "registry_delta_log").name
    for op_id in ("OP-B07", "OP-D04"):
        assert detail[op_id]["status"] == "never_run"
    assert _json(folder / "OPERATION_STATUS_DETAIL_v0_2.json")["unauthorized"] == []


# --- 3. tampering: caught by a normal build (the incremental path is sound) and a full audit -----


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
    """A copy's folders, hashed again by a forced build (new to the verdict cache), one edited."""
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
    assert (status["status"], status["verification"]) == ("FAIL", "hashed") and status["tampered"]
    assert {"path": "OPERATION_STATUS_TABLE_v0_1.json"}.items() <= status["problems"][0].items()
    signal = _signals(demo, audit)["run_folders:tampered"]
    assert signal["value"] is True
    assert signal["severity"] == "critical"
    evidence = {item["run_id"]: item for item in signal["evidence"]}
    assert set(evidence) == {victim.name}
    assert evidence[victim.name]["registry_id"] == "op_status_table"
    root = manifest_before.decode().rsplit("ROOT_SHA256  ", 1)[1].strip()
    assert evidence[victim.name]["manifest_sha256"] == root
