"""examples/drift-history: days with real drift signals, and its script records them again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from registry_pipeline.core.builders.drift_days import DAY_INPUTS, build_drift_for_day
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import REPO, registry

EXAMPLE = REPO / "examples" / "drift-history"
SCRIPT = REPO / "examples" / "make_drift_history.py"
DAYS = [date(2026, 11, 15) + timedelta(days=offset) for offset in range(5)]
STALE = ["operation_stale:OP-QA07", "operation_stale:OP-QA08", "operation_stale:OP-QA09"]


def _days(root: Path) -> dict[str, tuple[dict[str, int], list[str], tuple[str, ...]]]:
    """Per day: the signal counts, the ids of the true signals, the inputs without history."""
    found = {}
    for day in DAYS:
        drift = build_drift_for_day(Workspace(root), day)
        detail = json.loads(drift.result.files["DRIFT_SIGNALS_DETAIL_v0_2.json"])
        true = sorted(s["signal_id"] for s in detail["signals"] if s["value"] is True)
        counts = {key: int(value) for key, value in drift.result.summary.items()}
        found[str(day)] = (counts, true, drift.missing)
    return found


def _journal(root: Path) -> list[tuple[str, str, str, str | None]]:
    """Each move the journal records: action, registry, UTC day, its target's day."""
    lines = (root / ".codex" / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl").read_text()
    records = [json.loads(line) for line in lines.splitlines()]
    return [
        (
            record["action"],
            move["registry_id"],
            record["created_utc"][:10],
            move["to_ref"]["run_id"][:10] if move["to_ref"] else None,
        )
        for record in records
        for move in record.get("moves") or [record]
    ]


def _folders(root: Path) -> list[str]:
    """The run folders' names without their time of day: `2026-11-16 run_registry_build`."""
    return sorted(f"{p.name[:10]} {p.name[20:]}" for p in (root / ".codex" / "RUNS").glob("*__*"))


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "drift-history"
    shutil.copytree(EXAMPLE, root, symlinks=True)
    return root


def test_the_recorded_days_have_real_signals(tmp_path: Path) -> None:
    days = _days(_copy(tmp_path))
    assert days["2026-11-15"][2] == DAY_INPUTS  # before the first build: no history
    assert all(days[str(day)][2] == () for day in DAYS[1:])
    assert {day: true for day, (_counts, true, _missing) in days.items()} == {
        "2026-11-15": [],
        "2026-11-16": [],
        "2026-11-17": STALE,
        "2026-11-18": ["builder_version:op_status_table", *STALE],
        "2026-11-19": ["active_snapshot_behind:expected_versions", *STALE],
    }
    assert all(counts["false"] > 0 for counts, _true, _missing in list(days.values())[1:])


def test_the_example_validates_and_its_journal_verifies(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    code, out, err = registry("validate", "--all", "--workspace", str(root))
    assert code == 0 and "24 PASS, 0 FAIL" in out, out + err
    code, out, err = registry("pointers", "verify", "--workspace", str(root))
    assert code == 0 and "journal OK: 19 record(s)" in out, out + err


def test_the_script_records_the_same_history(tmp_path: Path) -> None:
    """Recorded again: the same sources, journal actions on the same days, signals (ids differ)."""
    again = tmp_path / "again"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(again)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for source in sorted((EXAMPLE / "registries").rglob("*")):
        if source.is_file():
            relpath = source.relative_to(EXAMPLE)
            assert (again / relpath).read_bytes() == source.read_bytes(), relpath
    assert _journal(again) == _journal(EXAMPLE)
    assert _folders(again) == _folders(EXAMPLE)
    assert _days(again) == _days(_copy(tmp_path))


def test_the_examples_schemas_are_the_shipped_ones() -> None:
    """A workspace's own copy of a built-in `$id` decides: stale copies here failed run_registry."""
    shipped = REPO / "registry_pipeline" / "schemas"
    copies = sorted((EXAMPLE / "schemas").glob("*.json"))
    assert copies
    stale = [p.name for p in copies if p.read_bytes() != (shipped / p.name).read_bytes()]
    assert stale == [], f"refresh them from {shipped}: {stale}"
