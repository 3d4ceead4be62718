"""`registry build` on real temporary workspaces, through a real Dagster instance."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.cli import main
from registry_pipeline.core.validate import is_valid_run_folder
from registry_pipeline.core.workspace import init_workspace

REPO = Path(__file__).resolve().parents[2]
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo workspace (catalog, sources, schemas) with no runs yet."""
    root = tmp_path / "demo"
    root.mkdir()
    shutil.copytree(REPO / "registries", root / "registries")
    shutil.copytree(REPO / "schemas", root / "schemas")
    init_workspace(root)
    return root


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err + captured.out
        return code, captured.out, captured.err

    return run


def _runs(root: Path) -> list[str]:
    return sorted(
        p.name for p in (root / ".codex" / "RUNS").iterdir() if not p.name.startswith(".")
    )


def _build_json(cli: Run, root: Path, *extra: str) -> tuple[int, dict[str, dict[str, object]]]:
    code, out, _ = cli("build", "--workspace", str(root), "--json", *extra)
    document = json.loads(out)
    return code, {entry["registry_id"]: entry for entry in document["registries"]}


def test_build_seals_every_source_and_checks_it(cli: Run, demo: Path) -> None:
    code, entries = _build_json(cli, demo)
    assert code == 0
    sources = {"expected_versions", "migration_ledger", "threshold_packs", "allowed_operations"}
    assert sources <= set(entries)
    for registry_id in sources:
        entry = entries[registry_id]
        assert entry["status"] == "built"
        assert entry["checks"] == {"seal_valid": True, "schema_valid": True}
        assert entry["promoted"] is False
        folder = demo / ".codex" / "RUNS" / str(entry["run_id"])
        assert is_valid_run_folder(folder)
        envelope = json.loads((folder / "run.json").read_text())
        assert envelope["registry_id"] == registry_id and envelope["dagster_run_id"]
    assert entries["allowed_operations"]["record_count"] == 7
    assert (demo / ".codex" / "dagster_home" / "dagster.yaml").is_file()


def test_unchanged_sources_are_reused_and_changed_ones_sealed(cli: Run, demo: Path) -> None:
    assert _build_json(cli, demo)[0] == 0
    before = _runs(demo)
    code, entries = _build_json(cli, demo)
    assert code == 0
    assert _runs(demo) == before
    assert {e["status"] for r, e in entries.items() if r != "run_registry"} <= {"reused", "built"}
    assert entries["migration_ledger"]["status"] == "reused"
    ledger = demo / "registries" / "migration_ledger" / "applied_migrations.json"
    document = json.loads(ledger.read_text())
    document["migrations"][0]["status"] = "FAILED"
    ledger.write_text(json.dumps(document, indent=2))
    code, entries = _build_json(cli, demo)
    assert code == 0
    new = sorted(set(_runs(demo)) - set(before))
    assert any(
        name.endswith("__migration_ledger_build") or "migration_ledger_build__" in name
        for name in new
    )
    assert entries["migration_ledger"]["status"] == "built"
    assert entries["expected_versions"]["status"] == "reused"


def test_schema_violating_source_fails_its_check_with_the_field(cli: Run, demo: Path) -> None:
    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text('{"version": 3, "expected": {"schema_version": "0.1"}}\n')
    code, out, err = cli("build", "--workspace", str(demo))
    assert code == 1
    line = next(row for row in out.splitlines() if "expected_versions" in row and "FAILED" in row)
    assert "schema_valid=FAIL" in line and "seal_valid=PASS" in line
    assert "/version" in out and "EXPECTED_VERSIONS_v0_1.json" in out
    assert "FAILED" in err


def test_malformed_source_reports_the_line(cli: Run, demo: Path) -> None:
    source = demo / "registries" / "migration_ledger" / "applied_migrations.json"
    source.write_text('{\n  "_version": "1.0",\n  "migrations": [,]\n}\n')
    code, out, _ = cli("build", "--workspace", str(demo))
    assert code == 1
    assert "applied_migrations.json" in out and "line 3" in out


def test_select_builds_only_what_was_asked(cli: Run, demo: Path) -> None:
    code, entries = _build_json(cli, demo, "--select", "expected_versions")
    assert code == 0
    assert list(entries) == ["expected_versions"]
    assert len(_runs(demo)) == 1


def test_unknown_selection_is_bad_usage(cli: Run, demo: Path) -> None:
    code, _out, err = cli("build", "--workspace", str(demo), "--select", "nope")
    assert code == 2
    assert "UNKNOWN_REGISTRY" in err


def test_build_outside_a_workspace(cli: Run, tmp_path: Path) -> None:
    code, _out, err = cli("build", "--workspace", str(tmp_path))
    assert code == 2
    assert "NOT_A_WORKSPACE" in err
