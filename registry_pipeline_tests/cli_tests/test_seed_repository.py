"""The seed's whole repository adopted, built and checked, its own builders run as the oracle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import child_env, commit_all, seed_repository

pytestmark = pytest.mark.reference

SEED_BUILDERS = (
    "tools/run_registry/build_run_registry_v0_1.py",
    "tools/run_registry/build_op_status_table_v0_1.py",
    "tools/run_registry/build_drift_signals_v0_1.py",
    "tools/run_registry/render_system_health_v0_1.py",
    "docs/phase_2_2/builders/build_registry_delta_log_v0_1.py",
)
V02_ONLY = {"OP-QA07", "OP-QA08", "OP-QA09", "OP-QA10", "OP-QA11"}
"""Defined in the v0.2 catalog only, which the seed's status builder never reads."""
SEED_DELTA_COVERAGE = {
    "run_registry", "op_status_table", "drift_signals", "migration_ledger", "expected_versions",
    "threshold_packs_file", "derived_validation_reports", "fingerprint_index",
}  # fmt: skip
"""The registries the seed's own delta log covers (its Phase 2.2.3 report, seed 001)."""


@dataclass(frozen=True)
class Seed:
    """The two copies: ours adopted and built, theirs built by the seed's own scripts."""

    ours: Path
    theirs: Path
    adopt: subprocess.CompletedProcess[str]
    build: subprocess.CompletedProcess[str]

    def newest(self, root: Path, suffix: str, name: str) -> Any:
        folders = sorted((root / ".codex" / "RUNS").glob(f"*__{suffix}"))
        assert folders, f"no {suffix} folder under {root}"
        return json.loads((folders[-1] / name).read_text(encoding="utf-8"))

    def ours_table(self) -> dict[str, dict[str, Any]]:
        rows = self.newest(self.ours, "op_status_table_build", "OPERATION_STATUS_TABLE_v0_1.json")
        return {row["operation_id"]: row for row in rows}

    def ours_detail(self) -> dict[str, Any]:
        return self.newest(self.ours, "op_status_table_build", "OPERATION_STATUS_DETAIL_v0_2.json")

    def theirs_table(self) -> dict[str, dict[str, Any]]:
        rows = self.newest(self.theirs, "op_status_table_build", "OPERATION_STATUS_TABLE_v0_1.json")
        return {row["operation_id"]: row for row in rows}


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def registry(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`registry ARGS...` as a user runs it, in `cwd`; never a traceback."""
    done = _run(cwd, str(Path(sys.executable).with_name("registry")), *args)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    base = tmp_path_factory.mktemp("seed")
    extracted = seed_repository(base)
    theirs = base / "theirs"
    ours = base / "ours"
    shutil.copytree(extracted, theirs, symlinks=True)
    shutil.copytree(extracted, ours, symlinks=True)
    (theirs / ".codex" / "RUNS").mkdir(parents=True)  # their builders need it (it is ignored)
    for script in SEED_BUILDERS:
        done = _run(theirs, sys.executable, script)
        assert done.returncode == 0, f"{script}: {done.stderr}"
    adopt = registry(ours, "adopt")
    assert adopt.returncode == 0, adopt.stderr
    commit_all(ours, "adopt registry-pipeline", force=True)
    build = registry(ours, "build")
    return Seed(ours, theirs, adopt, build)


def test_the_whole_repository_adopts_and_builds_green(seed: Seed) -> None:
    assert seed.build.returncode == 0, seed.build.stdout + seed.build.stderr
    assert "FAILED" not in seed.build.stdout
    assert "all registries built and checked" in seed.build.stdout + seed.build.stderr
    rows = [line for line in seed.build.stdout.splitlines() if line.startswith("BUILT")]
    assert len({line.index(" 2026-") for line in rows}) == 1  # one column, long ids included


@pytest.mark.parametrize(
    "command",
    [("validate", "--all"), ("pointers", "verify"), ("delta", "verify")],
    ids=lambda command: " ".join(command),
)
def test_every_check_of_the_built_repository_exits_0(seed: Seed, command: tuple[str, ...]) -> None:
    done = registry(seed.ours, *command)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_the_canonical_operations_are_theirs_plus_the_v02_catalogs(seed: Seed) -> None:
    ours, theirs = seed.ours_table(), seed.theirs_table()
    assert len(theirs) == 31
    assert set(ours) - set(theirs) == V02_ONLY
    assert set(theirs) <= set(ours)
    detail = {op["operation_id"]: op for op in seed.ours_detail()["operations"]}
    for operation_id in V02_ONLY:  # the extra rows say where they come from
        assert "OVC_ALLOWED_OPERATIONS_CATALOG_v0.2.md" in detail[operation_id]["defined_in"]


def test_options_and_coverage_levels_are_the_seeds(seed: Seed) -> None:
    ours, theirs = seed.ours_table(), seed.theirs_table()
    assert {op: (row["option"], row["coverage_level"]) for op, row in theirs.items()} == {
        op: (ours[op]["option"], ours[op]["coverage_level"]) for op in theirs
    }
    assert {ours[op]["coverage_level"] for op in V02_ONLY} == {"C3"}  # the v0.2 matrix's rows
    below = [op for op, row in ours.items() if row["coverage_level"] in ("C0", "C1", "C2")]
    assert sorted(below) == ["OP-D06", "OP-D07", "OP-D10", "OP-QA05", "OP-QA06"]


def test_non_canonical_operations_are_listed_never_an_error(seed: Seed) -> None:
    detail = seed.ours_detail()
    expected = [f"OP-NC{number:02d}" for number in range(1, 30)]
    assert detail["non_canonical"] == {"count": 29, "operation_ids": expected}
    assert not set(expected) & set(seed.ours_table())
    assert detail["catalog_warnings"] == []


def test_evidence_last_run_and_drift_are_the_seeds_or_say_why_not(seed: Seed) -> None:
    ours, theirs = seed.ours_table(), seed.theirs_table()
    for operation_id, their in theirs.items():
        our = ours[operation_id]
        for key in ("run_evidence_state", "last_run_id", "last_run_created_utc",
                    "manifest_state", "run_json_state"):  # fmt: skip
            assert our[key] == their[key], (operation_id, key)
        if None not in (our["staleness_days"], their["staleness_days"]):
            assert abs(our["staleness_days"] - their["staleness_days"]) <= 1  # run seconds apart
        if our["op_drift"] == their["op_drift"]:
            continue
        assert our["op_drift"] is None, (operation_id, our["op_drift"], their["op_drift"])
        notes = [w for w in our["warnings"] if w.startswith("op_drift unknown: ")]
        assert notes, f"{operation_id}: a stricter verdict must say why in words"
    d07 = ours["OP-D07"]
    assert theirs["OP-D07"]["op_drift_reasons"] == ["op_drift_commit_mismatch"]
    assert any("git line-ending normalization" in w and "restore-line-endings" in w
               for w in d07["warnings"])  # fmt: skip


def test_the_health_counts_are_the_seeds_or_differ_by_what_the_rows_explain(seed: Seed) -> None:
    theirs = seed.newest(seed.theirs, "system_health_render", "SYSTEM_HEALTH_SUMMARY_v0_1.json")
    ours = seed.newest(seed.ours, "system_health_report_build", "SYSTEM_HEALTH_SUMMARY_v0_1.json")
    t, o = theirs["counts"], ours["counts"]
    table = seed.ours_table()
    unknown = {op for op, row in seed.theirs_table().items()
               if row["op_drift"] is True and table[op]["op_drift"] is None}  # fmt: skip
    assert o["total_ops"] == t["total_ops"] + len(V02_ONLY)
    assert o["legacy_only"] == t["legacy_only"] + len(V02_ONLY)  # their runs carry no op id
    assert o["drifting"] == t["drifting"] - len(unknown)
    for key in ("observed", "unobserved", "coverage_below_c3"):
        assert o[key] == t[key], key
    # Stale: theirs is any run two days old; ours is a run older than its threshold pack allows,
    # and a last run whose seal fails is `failing` before it is stale: stricter, and said so.
    detail = {op["operation_id"]: op for op in seed.ours_detail()["operations"]}
    their_stale = {row["operation_id"] for row in theirs["stale"]}
    our_stale = {op for op, entry in detail.items() if entry["status"] == "stale"}
    for operation_id in their_stale - our_stale:
        assert detail[operation_id]["status"] == "failing", operation_id
        assert detail[operation_id]["notes"], operation_id
    assert o["stale"] == len(our_stale) == t["stale"] - len(their_stale - our_stale)


def test_the_scorecard_is_the_seeds_and_sealed_with_the_report(seed: Seed) -> None:
    summary = seed.newest(
        seed.ours, "system_health_report_build", "SYSTEM_HEALTH_SUMMARY_v0_1.json"
    )
    scorecard = summary["scorecard"]
    c3_plus = scorecard["enforcement_c3_plus"]
    assert (c3_plus["count"], c3_plus["total"], c3_plus["percent"]) == (31, 36, 86.1)
    sealed = scorecard["sealed_registries"]
    assert sealed["total"] == 13  # the seed's count: its 12 and the delta log, none of ours
    reasons = {r["registry_id"]: r["reason"] for r in sealed["registries"] if not r["sealed"]}
    assert set(reasons) == {"threshold_registry_db", "validation_range_results",
                            "registry_delta_log"}  # fmt: skip
    assert reasons["threshold_registry_db"].startswith("excluded: external database")
    assert reasons["validation_range_results"].startswith("excluded: collection: no file")
    assert sealed["count"] == 10  # theirs, hand-kept: 9; both collections are sealed here
    assert scorecard["executables"]["count"] > 100  # the catalog binds its scripts and SQL
    markdown = (
        sorted((seed.ours / ".codex" / "RUNS").glob("*__system_health_report_build"))[-1]
        / "SYSTEM_HEALTH_REPORT_v0_1.md"
    ).read_text(encoding="utf-8")
    assert "| enforcement coverage C3+ | 31/36 | 86.1% |" in markdown
    assert "- non-canonical operations: 29 (OP-NC01, OP-NC02," in markdown


def test_a_committed_adoption_builds_from_a_clean_tree_as_theirs_does(seed: Seed) -> None:
    """Nothing a build writes before sealing dirties the tree: we say `clean`, as they do."""
    states = {
        json.loads(path.read_text())["working_tree_state"]
        for path in (seed.ours / ".codex" / "RUNS").glob("*/run.json")
    }
    assert states == {"clean"}
    ours = seed.newest(seed.ours, "drift_signals_build", "DRIFT_SIGNALS_v0_1.json")
    theirs = seed.newest(seed.theirs, "drift_signals_build", "DRIFT_SIGNALS_v0_1.json")
    assert list(ours) == list(theirs)  # the same keys, in the same order
    assert ours["system_drift"]["canon_dirty"] is theirs["system_drift"]["canon_dirty"] is False


def test_the_delta_log_covers_every_registry_the_seeds_does(seed: Seed) -> None:
    folders = sorted((seed.ours / ".codex" / "RUNS").glob("*__registry_delta_log_build"))
    log = (folders[-1] / "REGISTRY_DELTA_LOG_v0_1.jsonl").read_text(encoding="utf-8")
    covered = {json.loads(line)["registry_id"] for line in log.splitlines()}
    assert covered >= SEED_DELTA_COVERAGE
