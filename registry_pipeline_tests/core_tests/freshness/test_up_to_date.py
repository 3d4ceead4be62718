"""The up-to-date decision on the demo catalog, without Dagster: what is an input, what is not."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.freshness import STATE_RELPATH, build_inputs, record_build, up_to_date
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import copy_demo


@pytest.fixture
def recorded(tmp_path: Path) -> Workspace:
    """The demo catalog with a successful build recorded (no Dagster: the record alone)."""
    workspace = Workspace(copy_demo(tmp_path))
    record_build(workspace, build_inputs(workspace), {}, "run-1")
    return workspace


def test_nothing_changed_is_up_to_date(recorded: Workspace) -> None:
    freshness = up_to_date(recorded)
    assert freshness.up_to_date and freshness.changed == ()
    assert freshness.last_build["dagster_run_id"] == "run-1"
    assert freshness.summary().startswith("up to date: nothing changed")


def test_without_a_record_a_build_is_needed(tmp_path: Path) -> None:
    workspace = Workspace(copy_demo(tmp_path))
    assert up_to_date(workspace).changed == ("no successful build recorded",)


@pytest.mark.parametrize("text", ["", "{", "[]", '{"format": "other"}', '{"format": 1}'])
def test_an_unreadable_record_means_build(recorded: Workspace, text: str) -> None:
    (recorded.root / STATE_RELPATH).write_text(text)
    assert not up_to_date(recorded).up_to_date


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _touch(path: Path) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


CHANGES: dict[str, Callable[[Path], object]] = {
    "source:expected_versions": lambda root: _append(
        root / "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json", "\n"
    ),
    "source:run_index": lambda root: _touch(root / "registries/run_index/RUN_INDEX_v0_1.jsonl"),
    "catalog": lambda root: _touch(root / "registries/REGISTRY_CATALOG_v0_2.json"),
    "schemas": lambda root: _touch(sorted((root / "schemas").glob("*.json"))[0]),
    "runs:.codex/RUNS": lambda root: (root / ".codex/RUNS/2026-01-01__000000__qa_evidence").mkdir(),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_change_to_an_input_is_named(recorded: Workspace, name: str) -> None:
    CHANGES[name](recorded.root)
    freshness = up_to_date(recorded)
    assert not freshness.up_to_date
    assert name in freshness.changed


def test_a_file_a_glob_leaves_out_is_a_change(recorded: Workspace) -> None:
    """A stray file beside a glob's matches is reported by the build: so it is an input."""
    catalog = json.loads((recorded.root / "registries/REGISTRY_CATALOG_v0_2.json").read_text())
    globbed = [
        spec["registry_id"]
        for spec in catalog["registries"]
        if any(ch in "".join(spec.get("sources", [])) for ch in "*?[")
    ]
    assert globbed, "the demo has a registry whose sources are a glob"
    spec = next(s for s in catalog["registries"] if s["registry_id"] == globbed[0])
    base = spec["sources"][0].rsplit("/", 1)[0]
    (recorded.root / base / "README.txt").write_text("stray")
    assert f"source:{globbed[0]}" in up_to_date(recorded).changed


def test_the_registries_own_snapshots_are_outputs_not_inputs(recorded: Workspace) -> None:
    """A folder named as a snapshot of a catalog registry (what a build seals) changes nothing;
    the same folder under another registry id is a new run to index."""
    runs = recorded.runs_dir
    (runs / "2026-01-01__000000__op_status_table_build").mkdir()
    shutil.copytree(
        runs / "2026-01-01__000000__op_status_table_build",
        runs / "2026-01-02__000000__rolepack_build",
    )
    assert up_to_date(recorded).up_to_date
    (runs / "2026-01-01__000000__qa_gate_build").mkdir()
    assert up_to_date(recorded).changed == ("runs:.codex/RUNS",)


def test_a_hand_edited_pointer_file_is_never_up_to_date(recorded: Workspace) -> None:
    """The check a build starts with (`require_intact`) runs here too: no shortcut past it."""
    pointers = recorded.root / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
    pointers.write_text('{"pointers": [}')
    freshness = up_to_date(recorded)
    assert not freshness.up_to_date
    assert any(item.startswith("pointers (") for item in freshness.changed)
