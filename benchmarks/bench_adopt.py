"""(g) An adopted seed-system repository: `registry build` next to the seed's own scripts.

Usage: `.venv/bin/python benchmarks/bench_adopt.py --seed-scripts DIR [--repeat 3] [--json]`.

A git repository in the seed system's layout (see ../shared/reference/ovc-infra/LAYOUT.md) is
generated once: about 250 run folders (23-26 in `.codex/RUNS`: builder outputs of several
earlier runbook passes, seal-promotion folders, CI runs, one seed delta log; 226 in
`reports/path1/evidence/runs`: mostly unsealed evidence folders, a few sealed, one plain sha256sum
list), the sources in their places, the catalog, addendum, pointer file, schemas and operations
catalog in `docs/phase_2_2/`, and `.gitignore` ignoring `.codex/RUNS/`. The documents, sources,
ten sealed folders and two evidence folders are those of the seed's reference data when it is
present (`--reference`, default ../shared/reference/ovc-infra); otherwise, or with `--own-data`,
they are written from this repository's demo data (`registries/`, `schemas/`). The seed's
op-status builder reads a v0.1 operations catalog and a coverage matrix at the repository root,
which the reference does not hold: parse-equivalent stand-ins are written from the same
operations.

Then, for each repetition (rotating which side goes first), each side works on a fresh copy:
- the seed side runs, in its runbook's order, its run-registry builder, op-status builder, drift
  builder, health render and delta-log builder (their scripts, found under `--seed-scripts`; never
  part of this repository) and the whole sequence is timed: wall and CPU (user + sys) summed,
  peak RSS the largest of the five;
- our side runs `registry adopt .` (timed on its own), then `registry build --workspace . --json`
  (a full first build) and once more with nothing changed.

Every command runs under GNU time (`/usr/bin/time -f "%U %S %M"`) as a child process; before
each timed unit: `sync`, drop the page cache, import both sides' programs once, read the copy's
files once (see docs/benchmarks.md, Method). Every command must exit 0; the seed's run registry
must index every folder, its table every operation; our builds must report `success` with every
registry built or reused. Without `--seed-scripts` (or when its scripts are absent) the seed side
is skipped with a message and only our side is measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    GNU_TIME,
    PYTHON,
    REGISTRY,
    ROOT,
    BenchError,
    files_under,
    machine_info,
    ready,
    remove_tree,
    rotate,
    run_quiet,
    settle_caches,
)

REFERENCE = ROOT.parent / "shared" / "reference" / "ovc-infra"
PHASE = Path("docs/phase_2_2")
RUNS = Path(".codex/RUNS")
EVIDENCE = Path("reports/path1/evidence/runs")
EVIDENCE_TOTAL = 226
SEED_STEPS: tuple[tuple[str, str], ...] = (
    ("run registry", "tools/run_registry/build_run_registry_v0_1.py"),
    ("op status table", "tools/run_registry/build_op_status_table_v0_1.py"),
    ("drift signals", "tools/run_registry/build_drift_signals_v0_1.py"),
    ("health render", "tools/run_registry/render_system_health_v0_1.py"),
    ("delta log", "docs/phase_2_2/builders/build_registry_delta_log_v0_1.py"),
)
SEED_IMPORTS = "import argparse, datetime, hashlib, json, math, os, pathlib, re, subprocess, typing"
OUR_IMPORTS = (
    "import registry_pipeline.cli.main, registry_pipeline.lib.build, "
    "registry_pipeline.definitions, registry_pipeline.core.builders.registry"
)
OK_STATUSES = {"built", "reused"}
PROFILE_BUCKETS = {  # label -> (file suffix, function): cumulative seconds in the profile
    "imports (all, incl. lazy ones)": ("<frozen importlib._bootstrap>", "_find_and_load"),
    "Dagster instance set-up": ("registry_pipeline/lib/instance.py", "dagster_home"),
    "Dagster execute_in_process": ("_core/definitions/job_definition.py", "execute_in_process"),
    "of which the event log (store_event)": ("sqlite_event_log.py", "store_event"),
    "of which our asset bodies (builders, seal)": ("registry_pipeline/defs/assets.py", "_build"),
    "of which our blocking checks": ("registry_pipeline/defs/checks.py", "_run"),
    "promotion after the job": ("registry_pipeline/lib/build.py", "_promote"),
}
SQLITE_METHODS = ("'commit'", "'close'", "'execute'", "_sqlite3.connect")
ZERO_SHA = "0" * 64
EPOCH = datetime(2026, 1, 21, 6, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# the fixture: a repository in the seed system's layout
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One canonical operation of the operations catalog (what the root stand-ins list)."""

    operation_id: str
    name: str
    option: str
    coverage: str


@dataclass
class Fixture:
    """The generated repository and what the checks need to know about it."""

    root: Path
    data: str
    operations: list[Operation]
    runs: int = 0
    evidence: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def folders(self) -> int:
        """Run folders in both run roots (what a run registry indexes)."""
        return self.runs + self.evidence


def _write(path: Path, data: bytes | str | Any) -> None:
    """Write bytes, text, or a JSON document (indented, trailing newline) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    elif isinstance(data, str):
        path.write_bytes(data.encode())
    else:
        path.write_bytes(json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n")


def _stamp(moment: datetime) -> str:
    """A run id's time prefix, `YYYY-MM-DD__HHMMSS`."""
    return moment.strftime("%Y-%m-%d__%H%M%S")


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fake_commit(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def seed_seal(folder: Path) -> str:
    """Seal `folder` as the seed's scripts do (manifest.json lists every file but itself and
    MANIFEST.sha256; MANIFEST.sha256 lists manifest.json too, ROOT_SHA256 last); the formats are
    ours too, so our renderers write them. Returns the root."""
    from registry_pipeline.core.seal.manifest import (
        ManifestEntry,
        render_manifest_json,
        render_manifest_sha256,
    )

    for name in ("manifest.json", "MANIFEST.sha256"):
        (folder / name).unlink(missing_ok=True)
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        relpath = path.relative_to(folder).as_posix()
        entries.append(ManifestEntry(relpath, len(data), hashlib.sha256(data).hexdigest()))
    manifest = render_manifest_json(entries)
    (folder / "manifest.json").write_bytes(manifest)
    own = ManifestEntry("manifest.json", len(manifest), hashlib.sha256(manifest).hexdigest())
    text, root = render_manifest_sha256([*entries, own])
    (folder / "MANIFEST.sha256").write_bytes(text)
    return root


def make_fixture(dest: Path, reference: Path | None) -> Fixture:
    """Write the whole repository at `dest` (tracked files, one commit, then `.codex/RUNS`)."""
    remove_tree(dest)
    dest.mkdir(parents=True)
    if reference is not None:
        operations = _documents_from_reference(dest, reference)
        data = f"the seed's reference data ({reference})"
    else:
        operations = _documents_from_own_data(dest)
        data = "this repository's demo data (registries/, schemas/)"
    fixture = Fixture(dest, data, operations)
    _write_root_standins(dest, operations)
    _write(dest / ".gitignore", ".codex/RUNS/\n")
    _write(dest / ".gitattributes", "* text=auto eol=lf\n*.sha256 text eol=lf\n")
    fixture.evidence = _evidence_folders(dest, reference, operations)
    head = _git_commit(dest)
    fixture.runs = _run_folders(dest, reference, operations, head)
    return fixture


def _git_commit(root: Path) -> str:
    """`git init` + one commit of everything not ignored; returns HEAD."""
    git = ["git", "-C", str(root), "-c", "user.email=bench@example.invalid", "-c", "user.name=b"]
    run_quiet([*git, "init", "-q", "-b", "main"])
    run_quiet([*git, "add", "-A"])
    run_quiet([*git, "commit", "-q", "-m", "fixture: the seed system's layout"])
    return run_quiet([*git, "rev-parse", "HEAD"]).strip()


# -- the documents and sources -----------------------------------------------------------------


def _documents_from_reference(root: Path, ref: Path) -> list[Operation]:
    """Catalog, addendum, pointer file, schemas, operations catalog and sources, as LAYOUT.md
    places them; the operations of the reference's sealed status table."""
    for name in ("REGISTRY_CATALOG_v0_1.json", "ACTIVE_REGISTRY_POINTERS_v0_1.json"):
        _write(root / PHASE / name, (ref / name).read_bytes())
    for path in sorted(ref.glob("REGISTRY_CATALOG_ADDENDUM_*.json")):
        _write(root / PHASE / path.name, path.read_bytes())
    for path in sorted((ref / "schemas").glob("*.json")):
        _write(root / PHASE / "schemas" / path.name, path.read_bytes())
    catalog = ref / "docs" / "OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md"
    _write(root / PHASE / catalog.name, catalog.read_bytes())
    envelope = (ref / "docs" / "RUN_ENVELOPE_STANDARD_v0_1.md").read_bytes()
    _write(root / "docs/governance/RUN_ENVELOPE_STANDARD_v0_1.md", envelope)
    sources = ref / "sources"
    expected = (sources / "EXPECTED_VERSIONS_v0_1.json").read_bytes()
    _write(root / "docs/governance/EXPECTED_VERSIONS_v0_1.json", expected)
    _write(
        root / "schema/applied_migrations.json", (sources / "applied_migrations.json").read_bytes()
    )
    for path in sorted((sources / "threshold_packs").glob("*.json")):
        _write(root / "configs/threshold_packs" / path.name, path.read_bytes())
    table = next(ref.glob("sealed_by_reference/*__op_status_table_build"))
    rows = json.loads((table / "OPERATION_STATUS_TABLE_v0_1.json").read_text())
    return [
        Operation(r["operation_id"], r["operation_name"], r["option"], r["coverage_level"])
        for r in rows
    ]


def _v01_entry(
    registry_id: str,
    artifact_type: str,
    paths: Sequence[str],
    operation: str = "unknown — no operation builds it",
) -> dict[str, Any]:
    """One registry of a v0.1 catalog, in the seed's shape."""
    return {
        "registry_id": registry_id,
        "schema_id": f"REGISTRY_{registry_id}_v0_1",
        "schema_version": "0.1",
        "artifact_type": artifact_type,
        "description": f"The {registry_id} registry (benchmark fixture).",
        "authoritative_sources": [{"path": p, "authority_class": "primary"} for p in paths],
        "build_operation_id": operation,
        "write_policy": "append_new_snapshot" if "RUNS" in str(paths) else "append_only",
    }


OWN_SCHEMAS = {  # the seed's schema file name -> ours (its `$id` dropped: theirs have none)
    "REGISTRY_run_registry_v0_1": "run_registry_v0_1",
    "REGISTRY_op_status_table_v0_1": "op_status_table_v0_1",
    "REGISTRY_drift_signals_v0_1": "drift_signals_v0_1",
    "REGISTRY_registry_delta_log_v0_1": "registry_delta_log_v0_1",
    "REGISTRY_system_health_report_v0_1": "system_health_summary_v0_1",
    "REGISTRY_expected_versions_v0_1": "expected_versions",
    "REGISTRY_migration_ledger_v0_1": "migration_ledger",
    "REGISTRY_threshold_packs_file_v0_1": "threshold_pack",
}
POINTED = (  # registry id, folder tag, relpath: the pointer file names folders this clone lacks
    ("run_registry", "run_registry_build", "RUN_REGISTRY_v0_1.jsonl"),
    ("op_status_table", "op_status_table_build", "OPERATION_STATUS_TABLE_v0_1.json"),
    ("drift_signals", "drift_signals_build", "DRIFT_SIGNALS_v0_1.json"),
    ("migration_ledger", "seal_migration_ledger", "applied_migrations_snapshot.json"),
    ("expected_versions", "seal_expected_versions", "EXPECTED_VERSIONS_v0_1_snapshot.json"),
    ("threshold_packs_file", "seal_threshold_packs", None),
)


def _documents_from_own_data(root: Path) -> list[Operation]:
    """The same documents written from our demo data: a v0.1 catalog of the seed's twelve
    registries and its addendum, a pointer file naming absent snapshots, our schemas under their
    names, a v0.2 operations catalog in Markdown, our sources in the seed's places."""
    packs = sorted((ROOT / "registries" / "threshold_packs").glob("*.json"))
    runs = ".codex/RUNS/<run_id>/"
    catalog = {
        "catalog_version": "0.1",
        "generated_utc": "2026-02-05T00:00:00Z",
        "description": "Registry catalog of the benchmark fixture (seed layout).",
        "registries": [
            _v01_entry("run_registry", "jsonl_registry", [runs + "RUN_REGISTRY_v0_1.jsonl"]),
            _v01_entry(
                "op_status_table", "json_snapshot", [runs + "OPERATION_STATUS_TABLE_v0_1.json"]
            ),
            _v01_entry("drift_signals", "json_snapshot", [runs + "DRIFT_SIGNALS_v0_1.json"]),
            _v01_entry("migration_ledger", "json_snapshot", ["schema/applied_migrations.json"]),
            _v01_entry(
                "expected_versions",
                "json_snapshot",
                ["docs/governance/EXPECTED_VERSIONS_v0_1.json"],
            ),
            _v01_entry(
                "threshold_packs_file",
                "json_snapshot",
                [f"configs/threshold_packs/{p.name}" for p in packs],
                "OP-B07 (Threshold Registry Management)",
            ),
            _v01_entry("threshold_registry_db", "external_database", ["sql/04_thresholds.sql"]),
            _v01_entry(
                "validation_range_results",
                "jsonl_registry",
                ["reports/validation/validate_range_<uuid>_days.jsonl"],
            ),
            _v01_entry(
                "derived_validation_reports",
                "json_snapshot",
                ["artifacts/derived_validation/<uuid>/derived_validation_report.json"],
            ),
            _v01_entry(
                "evidence_pack_registry",
                "run_folder",
                [f"{EVIDENCE}/<run_id>/outputs/evidence_pack_v0_2/"],
            ),
            _v01_entry(
                "fingerprint_index",
                "index",
                ["reports/path1/trajectory_families/v0.1/fingerprints/index.csv"],
            ),
            _v01_entry("system_health_report", "run_folder", [runs + "SYSTEM_HEALTH_v0_1.md"]),
        ],
    }
    addendum = {
        "addendum_version": "0.1",
        "phase": "2.2.3",
        "registries": [
            _v01_entry(
                "registry_delta_log",
                "jsonl_registry",
                [runs + "REGISTRY_DELTA_LOG_v0_1.jsonl"],
                "OP-QA11",
            ),
        ],
    }
    _write(root / PHASE / "REGISTRY_CATALOG_v0_1.json", catalog)
    _write(root / PHASE / "REGISTRY_CATALOG_ADDENDUM_v0_1__phase_2_2_3.json", addendum)
    _write(root / PHASE / "ACTIVE_REGISTRY_POINTERS_v0_1.json", _own_pointers())
    for theirs, ours in OWN_SCHEMAS.items():
        schema = json.loads((ROOT / "schemas" / f"{ours}.schema.json").read_text())
        schema.pop("$id", None)
        _write(root / PHASE / "schemas" / f"{theirs}.schema.json", schema)
    document = json.loads(
        (ROOT / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json").read_text()
    )
    operations = [
        Operation(o["operation_id"], o["name"], o["option"], o["enforcement_level"])
        for o in document["operations"]
    ]
    _write(root / PHASE / "OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md", _v02_markdown(operations))
    _write(
        root / "docs/governance/RUN_ENVELOPE_STANDARD_v0_1.md",
        "# Run envelope standard v0.1\n\nrun.json: run_id, created_utc (benchmark stand-in).\n",
    )
    registries = ROOT / "registries"
    expected = (registries / "expected_versions/EXPECTED_VERSIONS_v0_1.json").read_bytes()
    _write(root / "docs/governance/EXPECTED_VERSIONS_v0_1.json", expected)
    ledger = (registries / "migration_ledger/applied_migrations.json").read_bytes()
    _write(root / "schema/applied_migrations.json", ledger)
    for path in packs:
        _write(root / "configs/threshold_packs" / path.name, path.read_bytes())
    return operations


def _own_pointers() -> dict[str, Any]:
    """A pointer file as the seed commits it: known pointers to folders sealed on the author's
    machine (absent here), and `unknown` ones."""
    pointers: list[dict[str, Any]] = []
    for index, (registry_id, tag, relpath) in enumerate(POINTED):
        run_id = f"2026-02-05__0001{index:02d}__{tag}"
        ref = {
            "run_id": run_id,
            "run_root": str(RUNS),
            "relpath": relpath,
            "manifest_sha256": hashlib.sha256(run_id.encode()).hexdigest(),
        }
        pointers.append(
            {
                "registry_id": registry_id,
                "active_ref": ref,
                "active_ref_known": True,
                "active_asof_utc": "2026-02-05T00:01:00Z",
                "notes": "sealed on the author's machine",
            }
        )
    for registry_id in (
        "threshold_registry_db",
        "validation_range_results",
        "system_health_report",
    ):
        ref = {"run_id": None, "run_root": None, "relpath": None, "manifest_sha256": None}
        pointers.append(
            {
                "registry_id": registry_id,
                "active_ref": ref,
                "active_ref_known": "unknown",
                "active_asof_utc": "unknown",
                "notes": "no sealed snapshot",
            }
        )
    return {
        "pointer_contract_version": "0.1",
        "mutation_policy": "Pointers are the only mutable artifacts.",
        "last_updated_utc": "2026-02-05T01:56:05Z",
        "pointers": pointers,
    }


def _v02_markdown(operations: Sequence[Operation]) -> str:
    """The v0.2 operations catalog: inherited operations in a table, the registry builders as
    `### OP-QA07 — Name` sections with a field table (the seed's v0.2 form)."""
    lines = [
        "# Allowed Operations Catalog v0.2 (benchmark fixture)",
        "",
        "| Operation | Name | Option |",
        "|---|---|---|",
    ]
    sections: list[str] = []
    for op in operations:
        if op.option != "QA":
            lines.append(f"| {op.operation_id} | {op.name} | {op.option} |")
            continue
        sections += [
            f"### {op.operation_id} — {op.name}",
            "",
            "| Field | Value |",
            "|---|---|",
            f"| **Operation ID** | {op.operation_id} |",
            f"| **Option** | {op.option} |",
            "",
        ]
    return "\n".join([*lines, "", *sections])


def _write_root_standins(root: Path, operations: Sequence[Operation]) -> None:
    """The v0.1 operations catalog and coverage matrix the seed's op-status builder reads at the
    repository root: stand-ins holding only the lines its parser reads (`## Option X`,
    `### OP-XX: Name`, `Option:`, a NON_CANONICAL heading, matrix rows)."""
    catalog = ["# Allowed Operations Catalog v0.1 (stand-in, benchmark fixture)", ""]
    current = None
    for op in operations:
        if op.option != current:
            current = op.option
            catalog += ["---", "", f"## Option {current} — operations of option {current}", ""]
        catalog += [
            f"### {op.operation_id}: {op.name}",
            "",
            f"Operation ID: {op.operation_id}",
            f"Option: {op.option}",
            "",
        ]
    catalog += ["## NON_CANONICAL Operations", "", "### OP-NC01: (not listed here)", ""]
    _write(root / "OVC_ALLOWED_OPERATIONS_CATALOG_v0.1.md", "\n".join(catalog))
    matrix = [
        "# Enforcement Coverage Matrix v0.1 (stand-in, benchmark fixture)",
        "",
        "| Operation ID | Option | Enforcement Surfaces | Coverage Level | Justification |",
        "|---|---|---|---|---|",
    ]
    matrix += [
        f"| {op.operation_id} | {op.option} | - | {op.coverage} | stand-in |" for op in operations
    ]
    _write(root / "OVC_ENFORCEMENT_COVERAGE_MATRIX_v0.1.md", "\n".join(matrix) + "\n")


# -- reports/path1/evidence/runs -------------------------------------------------------------


def _evidence_operation(operations: Sequence[Operation]) -> Operation:
    return next((op for op in operations if op.option == "D"), operations[0])


def _evidence_folders(root: Path, ref: Path | None, operations: Sequence[Operation]) -> int:
    """226 evidence folders: the reference's two real ones when present (a full seal broken by
    line-ending conversion, a plain sha256sum list) or our own two of the same kinds, and
    generated ones: RUN.md and three evidence notes each, most with an unsealed run.json and
    meta.json, some with neither (like most of the seed's), three sealed with nested outputs."""
    base = root / EVIDENCE
    base.mkdir(parents=True)
    special = 0
    if ref is not None:
        for folder in sorted((ref / "evidence_runs_crlf_converted").iterdir()):
            shutil.copytree(folder, base / folder.name)
            special += 1
    else:
        special = _own_special_evidence(base)
    op = _evidence_operation(operations)
    symbols = ("GBPUSD", "EURUSD", "USDJPY")
    for index in range(EVIDENCE_TOTAL - special):
        moment = EPOCH + timedelta(days=index, minutes=index)
        day, previous = moment.strftime("%Y%m%d"), (moment - timedelta(days=1)).strftime("%Y%m%d")
        symbol = symbols[index % 3]
        tail = hashlib.sha256(f"{index}".encode()).hexdigest()[:8]
        run_id = f"p1_{day}_{symbol}_{previous}_len5d_{tail}"
        folder = base / run_id
        files = _evidence_files(run_id, symbol, index)
        if index % 8 != 7:
            files["meta.json"] = json.dumps({"symbol": symbol, "date": day, "len": "5d"}) + "\n"
            envelope = {
                "run_id": run_id,
                "created_utc": _utc(moment),
                "run_type": "op_run",
                "option": op.option,
                "operation_id": op.operation_id,
                "git_commit": _fake_commit(run_id),
                "working_tree_state": "dirty" if index % 5 == 0 else "clean",
                "inputs": {"symbol": symbol, "date_ny": day},
                "outputs": sorted(files),
            }
            files["run.json"] = json.dumps(envelope, indent=2) + "\n"
        if index % 75 == 10:
            files["outputs/summary.json"] = json.dumps({"ok": True, "index": index}) + "\n"
        for relpath, text in files.items():
            _write(folder / relpath, text)
        if index % 75 == 10:
            seed_seal(folder)
    return EVIDENCE_TOTAL


def _evidence_files(run_id: str, symbol: str, index: int) -> dict[str, str]:
    """RUN.md (~1.4 KB) and three evidence notes (~2.3 KB each), deterministic text."""
    rows = "".join(f"| {k} | {(index * 7919 + k * 104729) % 1000003} | ok |\n" for k in range(48))
    notes = {
        f"{kind}_evidence.md": f"# {kind} evidence for {run_id}\n\n| k | value | state |\n"
        f"|---|---|---|\n{rows}"
        for kind in ("DIS_v1_1", "LID_v1_0", "RES_v1_0")
    }
    steps = "".join(f"- step {k}: {symbol} window {k} checked\n" for k in range(40))
    return {"RUN.md": f"# Run {run_id}\n\n{steps}", **notes}


def _own_special_evidence(base: Path) -> int:
    """Without the reference: a folder with only a plain sha256sum list (no run.json, no
    manifest.json, no ROOT line), and a sealed one whose text files gained CRLF afterwards."""
    listed = base / "p1_20260120_001"
    files = _evidence_files(listed.name, "GBPUSD", 0)
    for relpath, text in files.items():
        _write(listed / relpath, text)
    lines = [f"{hashlib.sha256(text.encode()).hexdigest()}  {name}" for name, text in files.items()]
    _write(listed / "MANIFEST.sha256", "\n".join(sorted(lines)) + "\n")
    broken = base / "p1_20260204_001"
    envelope = {
        "run_id": broken.name,
        "created_utc": "2026-02-04T22:45:58Z",
        "run_type": "op_run",
        "option": "D",
        "operation_id": "OP-D04",
        "git_commit": _fake_commit(broken.name),
        "working_tree_state": "dirty",
    }
    _write(broken / "run.json", json.dumps(envelope, indent=2) + "\n")
    _write(broken / "RUN.md", "# Run p1_20260204_001\n\nline one\nline two\n")
    _write(broken / "outputs/path_metrics.json", '{\n  "length": 5\n}\n')
    seed_seal(broken)
    for relpath in ("RUN.md", "outputs/path_metrics.json"):
        path = broken / relpath
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return 2


# -- .codex/RUNS -------------------------------------------------------------------------------


def _run_folders(root: Path, ref: Path | None, operations: Sequence[Operation], head: str) -> int:
    """`.codex/RUNS`, oldest first: three CI runs, earlier runbook passes (run registry, status
    table, drift signals, health render: three with the reference's newest pass copied after
    them, or four), the seal-promotion folders, then one delta log over all of them."""
    runs = root / RUNS
    runs.mkdir(parents=True)
    _ci_runs(runs, head)
    passes = 3 if ref is not None else 4
    for index in range(passes):
        moment = datetime(2026, 11, 18, 12, 0, tzinfo=UTC) + timedelta(days=index)
        if index == 3:
            moment = datetime(2026, 11, 21, 12, 14, 3, tzinfo=UTC)
        _runbook_pass(root, moment, operations, head)
    promotion = datetime(2026, 11, 22, 8, 11, 18, tzinfo=UTC)
    if ref is not None:
        for folder in sorted(ref.glob("sealed_by_*/*__*")):
            shutil.copytree(folder, runs / folder.name)
    else:
        _seal_promotions(root, promotion, head)
    _seed_delta_log(runs, promotion + timedelta(minutes=50), head)
    return sum(1 for entry in runs.iterdir() if entry.is_dir())


def _ci_runs(runs: Path, head: str) -> None:
    """Two sealed CI runs (typed, OP-QA02 / OP-QA03) and one unsealed legacy one."""
    for index, (tag, operation) in enumerate((("ci_pytest", "OP-QA02"), ("ci_lint", "OP-QA03"))):
        moment = datetime(2026, 11, 17, 8 + index, 0, tzinfo=UTC)
        run_id = f"{_stamp(moment)}__{tag}"
        envelope = {
            "run_id": run_id,
            "created_utc": _utc(moment),
            "run_type": "op_run",
            "option": "QA",
            "operation_id": operation,
            "git_commit": head,
            "working_tree_state": "clean",
        }
        _write(runs / run_id / "run.json", json.dumps(envelope, indent=2) + "\n")
        _write(runs / run_id / f"{tag}.log", "".join(f"check {k} passed\n" for k in range(60)))
        seed_seal(runs / run_id)
    legacy = runs / "2026-11-17__100000__ci_smoke"
    _write(
        legacy / "run.json",
        {
            "run_id": legacy.name,
            "created_at": "2026-11-17T10:00:00+00:00",
            "run_type": "",
            "option": "",
            "working_tree_state": "dirty",
        },
    )
    _write(legacy / "smoke.log", "smoke ok\n")


def _seed_envelope(run_id: str, moment: datetime, head: str, **extra: Any) -> bytes:
    envelope = {
        "run_id": run_id,
        "created_utc": _utc(moment),
        **extra,
        "git_commit": head,
        "working_tree_state": "clean",
    }
    return json.dumps(envelope, indent=2).encode() + b"\n"


def _dump(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode() + b"\n"


def _runbook_pass(root: Path, moment: datetime, operations: Sequence[Operation], head: str) -> None:
    """One pass of the seed's runbook, as its builders would have left it: four sealed folders."""
    runs, schemas, stamp = root / RUNS, root / PHASE / "schemas", _stamp(moment)

    def folder(tag: str, files: dict[str, bytes], **extra: Any) -> Path:
        path = runs / f"{stamp}__{tag}"
        for name, data in files.items():
            _write(path / name, data)
        _write(path / "run.json", _seed_envelope(path.name, moment, head, run_type=tag, **extra))
        seed_seal(path)
        return path

    def schema(name: str) -> bytes:
        path = schemas / f"REGISTRY_{name}_v0_1.schema.json"
        return path.read_bytes() if path.exists() else b"{}\n"

    lines = _registry_lines(root)
    registry = folder(
        "run_registry_build",
        {
            "RUN_REGISTRY_v0_1.jsonl": b"".join(lines),
            "RUN_REGISTRY_v0_1.schema.json": schema("run_registry"),
        },
        registry_version="0.1",
    )
    table = _status_rows(root, operations)
    meta = {
        "generated_utc": _utc(moment),
        "git_commit": head,
        "working_tree_state": "clean",
        "system_drift": {"canon_dirty": None, "schema_drift": None, "threshold_drift": None},
        "drift_signals_run": None,
    }
    inputs = {"registry_jsonl": f"{RUNS}/{registry.name}/RUN_REGISTRY_v0_1.jsonl"}
    status = folder(
        "op_status_table_build",
        {
            "OPERATION_STATUS_TABLE_v0_1.json": _dump(table),
            "OPERATION_STATUS_TABLE_v0_1.meta.json": _dump(meta),
            "OPERATION_STATUS_TABLE_v0_1.schema.json": schema("op_status_table"),
        },
        status_version="0.1",
        input_sources=inputs,
    )
    drift = folder(
        "drift_signals_build",
        {
            "DRIFT_SIGNALS_v0_1.json": _dump(_drift(root, moment, head)),
            "DRIFT_SIGNALS_v0_1.schema.json": schema("drift_signals"),
        },
        option="QA",
        operation_id=None,
    )
    observed = [row for row in table if row["run_evidence_state"] == "OBSERVED"]
    summary = {
        "generated_utc": _utc(moment),
        "stale_threshold_days": 2,
        "max_list": 20,
        "counts": {
            "total_ops": len(table),
            "observed": len(observed),
            "stale": len(observed),
            "drifting": 0,
            "legacy_only": len(table) - len(observed),
            "unobserved": 0,
            "coverage_below_c3": 0,
        },
        "observed": observed,
    }
    report = f"# System health {_utc(moment)}\n\n" + "".join(
        f"- {row['operation_id']}: {row['run_evidence_state']}\n" for row in table
    )
    health_inputs = {
        "status_table": f"{RUNS}/{status.name}/OPERATION_STATUS_TABLE_v0_1.json",
        "drift_signals": f"{RUNS}/{drift.name}/DRIFT_SIGNALS_v0_1.json",
    }
    folder(
        "system_health_render",
        {
            "SYSTEM_HEALTH_REPORT_v0_1.md": report.encode(),
            "SYSTEM_HEALTH_SUMMARY_v0_1.json": _dump(summary),
        },
        option="QA",
        operation_id=None,
        input_sources=health_inputs,
    )


def _registry_lines(root: Path) -> list[bytes]:
    """RUN_REGISTRY_v0_1.jsonl over both run roots as the seed's builder writes it: top-level
    files only, no hash verified, sorted by (run root, dated first, created_utc, run id)."""
    records = []
    for run_root in (RUNS, EVIDENCE):
        for folder in sorted(p for p in (root / run_root).iterdir() if p.is_dir()):
            records.append(_registry_record(run_root, folder))
    records.sort(
        key=lambda r: (r["run_root"], r["created_utc"] is None, r["created_utc"] or "", r["run_id"])
    )
    return [json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records]


def _registry_record(run_root: Path, folder: Path) -> dict[str, Any]:
    envelope: dict[str, Any] = {}
    warnings = []
    has = {
        name: (folder / name).is_file() for name in ("run.json", "MANIFEST.sha256", "manifest.json")
    }
    if has["run.json"]:
        envelope = json.loads((folder / "run.json").read_text())
    for name, present in has.items():
        if not present:
            warnings.append(f"missing {name}")
    root_sha = None
    if has["MANIFEST.sha256"]:
        last = (folder / "MANIFEST.sha256").read_text().splitlines()[-1]
        root_sha = last.split()[-1] if last.startswith("ROOT_SHA256") else None
    return {
        "registry_version": "0.1",
        "run_id": folder.name,
        "run_root": str(run_root),
        "run_key": f"{run_root}::{folder.name}",
        "run_path": f"{run_root}/{folder.name}/",
        "created_utc": envelope.get("created_utc") or envelope.get("created_at"),
        "run_type": envelope.get("run_type") or None,
        "option": envelope.get("option") or None,
        "operation_id": envelope.get("operation_id"),
        "git_commit": envelope.get("git_commit"),
        "working_tree_state": envelope.get("working_tree_state") or None,
        "has_run_json": has["run.json"],
        "has_manifest_sha256": has["MANIFEST.sha256"],
        "has_manifest_json": has["manifest.json"],
        "manifest_root_sha256": root_sha,
        "files": [
            {"relpath": p.name, "bytes": p.stat().st_size}
            for p in sorted(folder.iterdir())
            if p.is_file()
        ],
        "warnings": warnings,
    }


def _status_rows(root: Path, operations: Sequence[Operation]) -> list[dict[str, Any]]:
    """OPERATION_STATUS_TABLE_v0_1.json: the evidence operation observed, the rest legacy."""
    evidence_op = _evidence_operation(operations).operation_id
    newest = max(
        (p for p in (root / EVIDENCE).iterdir() if (p / "run.json").is_file()),
        key=lambda p: json.loads((p / "run.json").read_text())["created_utc"],
    )
    created = json.loads((newest / "run.json").read_text())["created_utc"]
    rows = []
    for op in operations:
        seen = op.operation_id == evidence_op
        rows.append(
            {
                "status_version": "0.1",
                "option": op.option,
                "operation_id": op.operation_id,
                "operation_name": op.name,
                "coverage_level": op.coverage,
                "last_run_id": newest.name if seen else None,
                "last_run_created_utc": created if seen else None,
                "run_evidence_state": "OBSERVED" if seen else "LEGACY_ONLY",
                "manifest_state": "MISSING" if seen else "UNKNOWN",
                "run_json_state": "PRESENT" if seen else "UNKNOWN",
                "staleness_days": 90 if seen else None,
                "op_drift": False if seen else None,
                "op_drift_reasons": [],
                "warnings": [] if seen else ["runs exist but are legacy/untyped"],
            }
        )
    return rows


def _drift(root: Path, moment: datetime, head: str) -> dict[str, Any]:
    """DRIFT_SIGNALS_v0_1.json with the expected versions of the fixture's source."""
    expected = json.loads((root / "docs/governance/EXPECTED_VERSIONS_v0_1.json").read_text())
    source = "docs/governance/EXPECTED_VERSIONS_v0_1.json"
    versions = expected.get("expected", {})
    return {
        "drift_version": "0.1",
        "expected_versions_source": source,
        "generated_utc": _utc(moment),
        "git_commit": head,
        "working_tree_state": "clean",
        "canon_tree_hash": hashlib.sha256(head.encode()).hexdigest(),
        "expected": {
            "schema_version": {
                "expected": versions.get("schema_version"),
                "computed": True,
                "observed": {
                    "run_registry": "0.1",
                    "op_status_table": "0.1",
                    "run_envelope": "0.1",
                },
                "drift": False,
                "source_path": source,
            },
            "threshold_pack": {
                "expected": versions.get("threshold_pack_version"),
                "computed": False,
                "observed": None,
                "drift": None,
                "source_path": source,
            },
        },
        "system_drift": {
            "canon_dirty": False,
            "schema_drift": False,
            "threshold_drift": None,
            "threshold_drift_computed": False,
        },
        "op_drift_policy": {"op_drift_requires_evidence": True, "rules": []},
        "warnings": ["threshold_drift_unknown"],
    }


def _seal_promotions(root: Path, moment: datetime, head: str) -> None:
    """The seed's seal-promotion folders of our three sources (`<stem>_snapshot.<ext>`, packs
    under their own names; run.json with sorted keys and no trailing newline)."""
    runs = root / RUNS
    packs = sorted((root / "configs/threshold_packs").glob("*.json"))
    sources = {
        "migration_ledger": ("schema/applied_migrations.json", "seal_migration_ledger"),
        "expected_versions": (
            "docs/governance/EXPECTED_VERSIONS_v0_1.json",
            "seal_expected_versions",
        ),
        "threshold_packs_file": ("configs/threshold_packs/", "seal_threshold_packs"),
    }
    for registry_id, (source, tag) in sources.items():
        folder = runs / f"{_stamp(moment)}__{tag}"
        if registry_id == "threshold_packs_file":
            files = {p.name: p.read_bytes() for p in packs}
        else:
            path = root / source
            files = {f"{path.stem}_snapshot{path.suffix}": path.read_bytes()}
        for name, data in files.items():
            _write(folder / name, data)
        envelope = {
            "run_id": folder.name,
            "created_utc": _utc(moment),
            "git_commit": head,
            "outputs": sorted([*files, "run.json", "manifest.json", "MANIFEST.sha256"]),
            "run_type": "seal_promotion",
            "seal_promotion": True,
            "source_path": source,
            "source_registry": registry_id,
            "working_tree_state": "clean",
        }
        _write(folder / "run.json", json.dumps(envelope, indent=2, sort_keys=True))
        seed_seal(folder)


SEED_ARTIFACTS = {  # what the seed's delta-log builder recognizes a registry's snapshot by
    "RUN_REGISTRY_v0_1.jsonl": "run_registry",
    "OPERATION_STATUS_TABLE_v0_1.json": "op_status_table",
    "DRIFT_SIGNALS_v0_1.json": "drift_signals",
    "applied_migrations_snapshot.json": "migration_ledger",
    "EXPECTED_VERSIONS_v0_1_snapshot.json": "expected_versions",
    "derived_validation_report.json": "derived_validation_reports",
    "fingerprint_index_snapshot.csv": "fingerprint_index",
}
SEED_TAGS = {
    "seal_migration_ledger": "migration_ledger",
    "seal_expected_versions": "expected_versions",
    "seal_threshold_packs": "threshold_packs_file",
    "seal_derived_validation": "derived_validation_reports",
    "seal_fingerprint_index": "fingerprint_index",
}


def _seed_snapshot(folder: Path) -> tuple[str, str | None, list[dict[str, Any]], str] | None:
    """(registry id, artifact relpath, manifest rows, root) of a sealed snapshot the seed's log
    covers, else None."""
    manifest, sums = folder / "manifest.json", folder / "MANIFEST.sha256"
    if not (manifest.is_file() and sums.is_file()):
        return None
    rows = json.loads(manifest.read_text())
    root = next(
        (
            line.split()[-1]
            for line in sums.read_text().splitlines()
            if line.startswith("ROOT_SHA256")
        ),
        None,
    )
    names = {row["relpath"] for row in rows}
    found = [(registry, name) for name, registry in SEED_ARTIFACTS.items() if name in names]
    if found:
        registry_id, relpath = found[0]
        return registry_id, relpath, rows, str(root)
    tag = next((t for t in SEED_TAGS if t in folder.name), None)
    return (SEED_TAGS[tag], None, rows, str(root)) if tag and root else None


def _seed_delta_log(runs: Path, moment: datetime, head: str) -> None:
    """A delta log as the seed's builder writes one: every covered snapshot from scratch, per
    registry in run-id order, all stamped with the build's time and folder."""
    run_id = f"{_stamp(moment)}__registry_delta_log_build"
    snapshots: dict[str, list[tuple[str, str | None, dict[str, str], str]]] = {}
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        found = _seed_snapshot(folder)
        if found:
            registry_id, relpath, rows, root = found
            listing = {row["relpath"]: row["sha256"] for row in rows}
            snapshots.setdefault(registry_id, []).append((folder.name, relpath, listing, root))
    lines = []
    for registry_id in sorted(snapshots):
        before: tuple[str, str | None, dict[str, str], str] | None = None
        for snapshot in snapshots[registry_id]:
            old = before[2] if before else {}
            new = snapshot[2]
            added = sorted(set(new) - set(old))
            removed = sorted(set(old) - set(new))
            modified = sorted(p for p in set(old) & set(new) if old[p] != new[p])
            record = {
                "delta_version": "0.1",
                "registry_id": registry_id,
                "from_ref": _delta_ref(before) if before else None,
                "to_ref": _delta_ref(snapshot),
                "delta_basis": "manifest_diff",
                "added_paths": added,
                "removed_paths": removed,
                "modified_paths": modified,
                "counts": {"added": len(added), "removed": len(removed), "modified": len(modified)},
                "created_utc": _utc(moment),
                "derivation_run_id": run_id,
            }
            lines.append(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            before = snapshot
    folder = runs / run_id
    _write(folder / "REGISTRY_DELTA_LOG_v0_1.jsonl", b"".join(lines))
    _write(
        folder / "run.json",
        _seed_envelope(
            run_id,
            moment,
            head,
            run_type="registry_delta_log_build",
            operation_id="OP-QA11",
            option="QA",
            inputs={
                "runs_root": str(RUNS),
                "pointers_file": f"{PHASE}/ACTIVE_REGISTRY_POINTERS_v0_1.json",
            },
        ),
    )
    seed_seal(folder)


def _delta_ref(snapshot: tuple[str, str | None, dict[str, str], str]) -> dict[str, Any]:
    run_id, relpath, _listing, root = snapshot
    return {"run_id": run_id, "run_root": str(RUNS), "relpath": relpath, "manifest_sha256": root}


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------


@dataclass
class Timed:
    """One command or sequence: wall seconds, CPU seconds (user + sys), peak RSS in KiB."""

    wall: float
    cpu: float
    rss_kb: int

    @staticmethod
    def total(parts: Sequence[Timed]) -> Timed:
        """A sequence run one after the other: wall and CPU add up, the peak is the largest."""
        return Timed(
            sum(p.wall for p in parts), sum(p.cpu for p in parts), max(p.rss_kb for p in parts)
        )


@dataclass
class Row:
    """The repeated runs of one contender."""

    label: str
    what: str
    ours: bool
    runs: list[Timed] = field(default_factory=list)

    def median(self, key: Callable[[Timed], float]) -> float:
        """Median of one figure over the runs."""
        return statistics.median(key(run) for run in self.runs)

    def as_json(self) -> dict[str, Any]:
        """Machine-readable form."""
        return {
            "label": self.label,
            "what": self.what,
            "ours": self.ours,
            "wall_s": [round(r.wall, 3) for r in self.runs],
            "cpu_s": [round(r.cpu, 3) for r in self.runs],
            "max_rss_kb": [r.rss_kb for r in self.runs],
            "median_wall_s": round(self.median(lambda r: r.wall), 3),
            "median_cpu_s": round(self.median(lambda r: r.cpu), 3),
            "median_max_rss_kb": int(self.median(lambda r: r.rss_kb)),
        }


def run_measured(argv: Sequence[str], cwd: Path, stdout_path: Path | None = None) -> Timed:
    """Run `argv` in `cwd` under GNU time: wall (perf_counter), user + sys and peak RSS of the
    command and every child it waited for. Raises BenchError unless it exits 0."""
    if GNU_TIME is None:
        raise BenchError("/usr/bin/time (GNU time) is needed for CPU time and peak RSS")
    with (
        open(stdout_path or os.devnull, "wb") as out,
        tempfile.TemporaryFile() as errors,
        tempfile.NamedTemporaryFile("r") as stats,
    ):
        wrapped = [GNU_TIME, "-f", "%U %S %M", "-o", stats.name, *argv]
        start = time.perf_counter()
        code = subprocess.run(
            wrapped, cwd=cwd, stdout=out, stderr=errors, stdin=subprocess.DEVNULL, check=False
        ).returncode
        wall = time.perf_counter() - start
        if code != 0:
            errors.seek(0)
            tail = errors.read()[-2000:].decode("utf-8", "replace")
            raise BenchError(f"{' '.join(map(str, argv[:3]))}... in {cwd} exited {code}: {tail}")
        user, system, rss = stats.read().strip().splitlines()[-1].split()
    return Timed(wall, float(user) + float(system), int(rss))


def copy_fixture(fixture: Fixture, dest: Path) -> Path:
    """A fresh copy of the repository (modes and the git folder kept; the copy is not timed)."""
    remove_tree(dest)
    run_quiet(["cp", "-a", str(fixture.root), str(dest)])
    return dest


class Bench:
    """One benchmark run: the fixture, the two sides, their rows."""

    def __init__(self, args: argparse.Namespace, work: Path, fixture: Fixture) -> None:
        """Resolve the seed's scripts (or say why the seed side is skipped)."""
        self.args = args
        self.work = work
        self.fixture = fixture
        self.seed_python = args.seed_python or getattr(sys, "_base_executable", PYTHON)
        self.seed_scripts: list[tuple[str, Path]] = []
        self.skip_reason = ""
        if args.seed_scripts is None:
            self.skip_reason = "no --seed-scripts given"
        else:
            folder = Path(args.seed_scripts)
            missing = [rel for _name, rel in SEED_STEPS if not (folder / rel).is_file()]
            if not folder.is_dir():
                self.skip_reason = f"{folder} does not exist"
            elif missing:
                self.skip_reason = f"{folder} lacks {', '.join(missing)}"
            else:
                self.seed_scripts = [(name, folder / rel) for name, rel in SEED_STEPS]
        self.rows = {
            "seed": Row(
                "seed scripts, 5 in runbook order",
                "their run registry, op status, "
                "drift, health render, delta log (sum of 5 processes)",
                ours=False,
            ),
            "adopt": Row("registry adopt .", "once per copy, before the first build", ours=True),
            "first": Row(
                "registry build (first, full)", "registry build --workspace . --json", ours=True
            ),
            "again": Row(
                "registry build (no change)", "the same, right after the first", ours=True
            ),
        }
        self.steps: dict[str, list[Timed]] = {name: [] for name, _rel in SEED_STEPS}
        self.statuses: dict[str, dict[str, str]] = {}
        self.kept: Path | None = None

    def warm_programs(self) -> None:
        """Untimed: both sides' interpreters, modules and scripts into the page cache."""
        run_quiet(["git", "--version"])
        if self.seed_scripts:
            run_quiet([self.seed_python, "-c", SEED_IMPORTS])
            for _name, script in self.seed_scripts:
                script.read_bytes()
        run_quiet([PYTHON, "-c", OUR_IMPORTS])

    def prepare(self, copy: Path) -> None:
        """Equal cache state before a timed unit (see _common.ready)."""
        ready(files_under(copy), self.warm_programs)

    def seed_side(self, repetition: int) -> None:
        """Their five scripts in sequence on a fresh copy; checks their outputs."""
        copy = copy_fixture(self.fixture, self.work / f"seed_{repetition}")
        self.prepare(copy)
        parts = []
        for name, script in self.seed_scripts:
            part = run_measured([self.seed_python, str(script)], copy)
            self.steps[name].append(part)
            parts.append(part)
        total = Timed.total(parts)
        self.rows["seed"].runs.append(total)
        self.check_seed(copy)
        print(
            f"[adopt] seed scripts: {total.wall:.2f} s wall, {total.cpu:.2f} s CPU, "
            f"{total.rss_kb / 1024:.0f} MiB",
            flush=True,
        )
        remove_tree(copy)

    def check_seed(self, copy: Path) -> None:
        """Their run registry indexes every folder; their table lists every operation; the
        drift, health and delta-log folders hold their artifacts."""
        runs = copy / RUNS

        def newest(tag: str, artifact: str) -> Path:
            found = sorted(runs.glob(f"*__{tag}"))
            if not found or not (found[-1] / artifact).is_file():
                raise BenchError(f"seed side: no {tag} folder with {artifact}")
            return found[-1] / artifact

        lines = newest("run_registry_build", "RUN_REGISTRY_v0_1.jsonl").read_bytes().splitlines()
        if len(lines) != self.fixture.folders:
            raise BenchError(
                f"seed run registry: {len(lines)} lines, {self.fixture.folders} folders"
            )
        rows = json.loads(
            newest("op_status_table_build", "OPERATION_STATUS_TABLE_v0_1.json").read_text()
        )
        if len(rows) != len(self.fixture.operations):
            raise BenchError(f"seed status table: {len(rows)} rows")
        newest("drift_signals_build", "DRIFT_SIGNALS_v0_1.json")
        newest("system_health_render", "SYSTEM_HEALTH_SUMMARY_v0_1.json")
        log = newest("registry_delta_log_build", "REGISTRY_DELTA_LOG_v0_1.jsonl")
        if not log.read_bytes().strip():
            raise BenchError("seed delta log is empty")

    def our_side(self, repetition: int) -> None:
        """`registry adopt .`, then two builds, each timed on its own; checks each build."""
        copy = copy_fixture(self.fixture, self.work / f"ours_{repetition}")
        self.prepare(copy)
        adopt = run_measured([REGISTRY, "adopt", "."], copy, self.work / "adopt.out")
        self.rows["adopt"].runs.append(adopt)
        for key in ("first", "again"):
            before = self.count_folders(copy)
            output = self.work / f"build_{key}.json"
            self.prepare(copy)
            sample = run_measured([REGISTRY, "build", "--workspace", ".", "--json"], copy, output)
            self.statuses[key] = self.check_build(output, before, key)
            self.rows[key].runs.append(sample)
            print(
                f"[adopt] ours {key}: {sample.wall:.2f} s wall, {sample.cpu:.2f} s CPU, "
                f"{sample.rss_kb / 1024:.0f} MiB",
                flush=True,
            )
        if self.kept is None:
            self.kept = copy
        else:
            remove_tree(copy)

    @staticmethod
    def count_folders(copy: Path) -> int:
        """Run folders in both run roots right now."""
        return sum(1 for r in (RUNS, EVIDENCE) for p in (copy / r).iterdir() if p.is_dir())

    @staticmethod
    def check_build(output: Path, before: int, key: str) -> dict[str, str]:
        """success, every registry built or reused, the run registry over every folder."""
        summary = json.loads(output.read_text())
        registries = summary.get("registries", [])
        statuses = {r["registry_id"]: r["status"] for r in registries}
        if not summary.get("success") or not registries or set(statuses.values()) - OK_STATUSES:
            raise BenchError(f"registry build ({key}) failed: {statuses}")
        count = next(r["record_count"] for r in registries if r["registry_id"] == "run_registry")
        if not before <= count <= before + len(registries):
            raise BenchError(f"our run registry ({key}): {count} records, {before} folders")
        return statuses

    def breakdown(self) -> dict[str, Any]:
        """Untimed in the table: where our first build's time goes. Import costs (median of 3
        after a warm-up), the four builders alone on the adopted copy (the build benchmark's
        worker, full audit), and a cProfile of one more first build on a fresh copy."""
        if self.kept is None:
            return {}
        imports = {
            "python -c pass": [PYTHON, "-c", "pass"],
            "import dagster": [PYTHON, "-c", "import dagster"],
            "import the build path (CLI, Dagster, definitions, builders)": [
                PYTHON,
                "-c",
                OUR_IMPORTS,
            ],
            "registry --help": [REGISTRY, "--help"],
        }
        result: dict[str, Any] = {"imports_s": {}}
        for label, argv in imports.items():
            self.warm_programs()
            runs = [run_measured(argv, self.work) for _ in range(3)]
            result["imports_s"][label] = round(statistics.median(r.wall for r in runs), 3)
        worker = [PYTHON, str(ROOT / "benchmarks" / "bench_build.py"), "builders", str(self.kept)]
        output = self.work / "builders.json"
        self.prepare(self.kept)
        run_measured([*worker, "--full-audit"], self.work, output)
        result["builders_alone_full_audit_s"] = {
            k: round(v, 3) for k, v in json.loads(output.read_text())["seconds"].items()
        }
        result["profile"] = self.profile()
        return result

    def profile(self) -> dict[str, float]:
        """One first build under cProfile (inflated by the profiler; read as shares)."""
        import pstats

        copy = copy_fixture(self.fixture, self.work / "ours_profile")
        run_measured([REGISTRY, "adopt", "."], copy)
        stats_path = self.work / "build.prof"
        argv = [
            PYTHON,
            "-m",
            "cProfile",
            "-o",
            str(stats_path),
            REGISTRY,
            "build",
            "--workspace",
            ".",
            "--json",
        ]
        total = run_measured(argv, copy, self.work / "profile.json").wall
        table: dict[tuple[str, int, str], tuple[Any, ...]] = getattr(
            pstats.Stats(str(stats_path)), "stats", {}
        )
        shares: dict[str, float] = {"profiled build, wall": round(total, 3)}
        for label, (suffix, function) in PROFILE_BUCKETS.items():
            cumulative = sum(
                figures[3]
                for (path, _line, name), figures in table.items()
                if path.endswith(suffix) and name == function
            )
            shares[label] = round(cumulative, 3)
        shares["of which SQLite calls (commit, close, execute, connect)"] = round(
            sum(
                figures[2]
                for (_path, _line, name), figures in table.items()
                if "sqlite3" in name and any(m in name for m in SQLITE_METHODS)
            ),
            3,
        )
        remove_tree(copy)
        return shares

    def run(self) -> None:
        """The repetitions, rotating which side starts."""
        sides: list[str] = ["seed", "ours"] if self.seed_scripts else ["ours"]
        if self.skip_reason:
            print(f"[adopt] seed side skipped: {self.skip_reason}; measuring ours only", flush=True)
        for repetition in range(self.args.repeat):
            for side in rotate(sides, repetition):
                if side == "seed":
                    self.seed_side(repetition)
                else:
                    self.our_side(repetition)


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


def _ratio(ours: float, seed: float | None) -> str:
    return f"{ours / seed:.1f}x" if seed else "-"


def markdown(bench: Bench) -> str:
    """The figures as a Markdown table (medians), with ratios to the seed's sequence."""
    seed = bench.rows["seed"] if bench.rows["seed"].runs else None

    def med(row: Row, key: Callable[[Timed], float]) -> float:
        return row.median(key)

    lines = [
        "| Contender | Wall runs (s) | Median wall (s) | Median CPU (s) | Peak RSS (MiB) "
        "| Wall ours/seed | CPU ours/seed | RSS ours/seed |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in bench.rows.values():
        if not row.runs:
            continue
        wall, cpu = med(row, lambda r: r.wall), med(row, lambda r: r.cpu)
        rss = med(row, lambda r: r.rss_kb)
        ratios = ["-", "-", "-"]
        if row.ours and seed is not None and row is not bench.rows["adopt"]:
            ratios = [
                _ratio(wall, med(seed, lambda r: r.wall)),
                _ratio(cpu, med(seed, lambda r: r.cpu)),
                _ratio(rss, med(seed, lambda r: r.rss_kb)),
            ]
        name = f"**{row.label}** (ours)" if row.ours else row.label
        runs = ", ".join(f"{r.wall:.2f}" for r in row.runs)
        lines.append(
            f"| {name} | {runs} | {wall:.2f} | {cpu:.2f} | {rss / 1024:.0f} | "
            + " | ".join(ratios)
            + " |"
        )
    if any(bench.steps.values()) and seed is not None:
        lines += [
            "",
            "| Seed step | Median wall (s) | Median CPU (s) | Peak RSS (MiB) |",
            "|---|---:|---:|---:|",
        ]
        for name, parts in bench.steps.items():
            step = Row(name, "", ours=False, runs=parts)
            lines.append(
                f"| {name} | {med(step, lambda r: r.wall):.3f} | {med(step, lambda r: r.cpu):.3f} "
                f"| {med(step, lambda r: r.rss_kb) / 1024:.0f} |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed-scripts", help="folder holding the seed's tools/ and docs/ scripts")
    parser.add_argument(
        "--seed-python",
        help="interpreter for their scripts (default: the base "
        "interpreter of this venv, without its packages)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per contender")
    parser.add_argument(
        "--reference",
        type=Path,
        default=REFERENCE,
        help="the seed's reference data (used when present)",
    )
    parser.add_argument(
        "--own-data",
        action="store_true",
        help="write the fixture from our demo data even if the reference exists",
    )
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new one in $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the untimed breakdown")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the fixture, run both sides, print the table (and JSON)."""
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_adopt_"))
    work.mkdir(parents=True, exist_ok=True)
    reference = None if args.own_data or not args.reference.is_dir() else args.reference
    started = time.perf_counter()
    try:
        fixture = make_fixture(work / "fixture", reference)
        print(
            f"[adopt] fixture from {fixture.data}: {fixture.runs} folders in {RUNS}, "
            f"{fixture.evidence} in {EVIDENCE}, {len(fixture.operations)} operations",
            flush=True,
        )
        bench = Bench(args, work, fixture)
        machine = machine_info(cache_dropped=settle_caches())
        bench.run()
        breakdown = {} if args.no_breakdown else bench.breakdown()
    finally:
        if not args.keep:
            remove_tree(work)
    table = markdown(bench)
    print()
    print(table)
    if breakdown and not args.json:
        print("breakdown:", json.dumps(breakdown, indent=2))
    if args.json:
        results = {
            "command": "python benchmarks/bench_adopt.py " + " ".join(argv or sys.argv[1:]),
            "machine": machine,
            "fixture": {
                "data": fixture.data,
                "runs": fixture.runs,
                "evidence": fixture.evidence,
                "operations": len(fixture.operations),
            },
            "seed_python": bench.seed_python if bench.seed_scripts else None,
            "seed_skipped": bench.skip_reason,
            "repeat": args.repeat,
            "total_seconds": round(time.perf_counter() - started, 1),
            "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
            "rows": [row.as_json() for row in bench.rows.values() if row.runs],
            "seed_steps": {k: [round(p.wall, 3) for p in v] for k, v in bench.steps.items()},
            "build_statuses": bench.statuses,
            "breakdown": breakdown,
        }
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
