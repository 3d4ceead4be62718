"""The up-to-date decision on the demo catalog, without Dagster: what is an input, what is not."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.freshness import (
    STATE_RELPATH,
    active_snapshots,
    build_inputs,
    record_build,
    state,
    up_to_date,
)
from registry_pipeline.core.verified import Verified
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import copy_demo


@pytest.fixture
def recorded(tmp_path: Path) -> Workspace:
    """The demo catalog with a successful build recorded (no Dagster: the record alone)."""
    workspace = Workspace(copy_demo(tmp_path))
    _record(workspace, build_inputs(workspace))
    return workspace


def _record(workspace: Workspace, read: dict[str, object]) -> None:
    active = {rid: [run_id] for rid, run_id in active_snapshots(workspace).items()}
    record_build(workspace, read, active, "run-1")


def _edit_record(workspace: Workspace, change: Callable[[dict[str, Any]], object]) -> None:
    """Change the recorded build in its cache file (one entry: the latest build)."""
    path = workspace.root / STATE_RELPATH
    document = json.loads(path.read_text())
    (entry,) = document["entries"].values()
    change(entry["payload"])
    path.write_text(json.dumps(document))


def test_nothing_changed_is_up_to_date(recorded: Workspace) -> None:
    freshness = up_to_date(recorded)
    assert freshness.up_to_date and freshness.changed == ()
    assert freshness.last_build["dagster_run_id"] == "run-1"
    assert freshness.summary().startswith("up to date: nothing changed")


def test_without_a_record_a_build_is_needed(tmp_path: Path) -> None:
    workspace = Workspace(copy_demo(tmp_path))
    assert up_to_date(workspace).changed == ("no successful build recorded",)


@pytest.mark.parametrize(
    "text",
    ["", "{", "[]", '{"format": "other"}', '{"format": 1}', '{"format": "registry-verified-1"}'],
)
def test_an_unreadable_record_means_build(recorded: Workspace, text: str) -> None:
    (recorded.root / STATE_RELPATH).write_text(text)
    assert not up_to_date(recorded).up_to_date


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _touch(path: Path) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


def _retitle(path: Path) -> None:
    document = json.loads(path.read_text())
    document["title"] = "another title"
    path.write_text(json.dumps(document))


CHANGES: dict[str, Callable[[Path], object]] = {
    "source:expected_versions": lambda root: _append(
        root / "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json", "\n"
    ),
    "source:run_index": lambda root: _touch(root / "registries/run_index/RUN_INDEX_v0_1.jsonl"),
    "catalog": lambda root: _touch(root / "registries/REGISTRY_CATALOG_v0_2.json"),
    "schemas": lambda root: _retitle(sorted((root / "schemas").glob("*.json"))[0]),
    "runs:.codex/RUNS (1 new)": lambda root: (root / ".codex/RUNS/2026-01-01__000000__qa").mkdir(),
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


def test_the_registries_own_snapshots_are_outputs_not_inputs(tmp_path: Path) -> None:
    """A build's own snapshots are its outputs; another new folder or an edit is a change."""
    workspace = Workspace(copy_demo(tmp_path))
    read = build_inputs(workspace)  # before the build
    runs = workspace.runs_dir
    (runs / "2026-01-01__000000__op_status_table_build").mkdir()  # the build's own
    (runs / "2026-01-01__000000__op_status_table_build" / "run.json").write_text("{}")
    (runs / "2026-01-01__000001__qa_gate_build").mkdir()  # evidence arriving during the build
    _record(workspace, read)
    assert up_to_date(workspace).changed == ("runs:.codex/RUNS (1 new)",)
    _record(workspace, build_inputs(workspace))
    assert up_to_date(workspace).up_to_date
    (runs / "2026-01-02__000000__rolepack_build").mkdir()  # a hand seal of a catalog registry
    assert up_to_date(workspace).changed == ("runs:.codex/RUNS (1 new)",)
    shutil.rmtree(runs / "2026-01-02__000000__rolepack_build")
    with (runs / "2026-01-01__000000__op_status_table_build" / "run.json").open("a") as handle:
        handle.write(" ")  # an edit of an old snapshot the run registry indexes
    assert up_to_date(workspace).changed == ("runs:.codex/RUNS (1 changed)",)


def test_a_hold_placed_or_released_is_a_change(recorded: Workspace) -> None:
    """A release can make a held snapshot promotable: the next build must run."""
    from registry_pipeline.core.pointers.store import PointerStore

    _edit_record(recorded, lambda record: record["held"].update(rolepack=True))
    # as if recorded while held, and released since
    assert up_to_date(recorded).changed == ("held:rolepack",)
    assert PointerStore(recorded).held("rolepack") is None


def test_a_record_without_the_registries_is_never_up_to_date(recorded: Workspace) -> None:
    _edit_record(recorded, lambda record: record.update(active={}))
    assert "active:rolepack" in up_to_date(recorded).changed


def test_a_symlinked_record_is_not_read(recorded: Workspace, tmp_path: Path) -> None:
    record = recorded.root / STATE_RELPATH
    elsewhere = tmp_path / "record.json"
    elsewhere.write_bytes(record.read_bytes())
    record.unlink()
    record.symlink_to(elsewhere)
    assert up_to_date(recorded).changed == ("no successful build recorded",)


def test_a_hand_edited_pointer_file_is_never_up_to_date(recorded: Workspace) -> None:
    """The check a build starts with (`require_intact`) runs here too: no shortcut past it."""
    pointers = recorded.root / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
    pointers.write_text('{"pointers": [}')
    freshness = up_to_date(recorded)
    assert not freshness.up_to_date
    assert any(item.startswith("pointers (") for item in freshness.changed)


def test_a_last_build_record_of_the_wrong_shape_is_no_record(tmp_path: Path) -> None:
    """A record of another shape, or garbage, is no record (was INTERNAL, or RecursionError)."""
    workspace = Workspace(tmp_path)
    record_: dict[str, Any] = {name: {} for name in state.RECORDED} | {"folders": {"runs": ["x"]}}
    cache = Verified(tmp_path, state.STATE_RELPATH, version=state.VERSION, latest=True)
    cache.put("key", [state.BUILT], record_)
    cache.save()
    assert state._load(workspace) is None
    (tmp_path / state.STATE_RELPATH).write_bytes(b"[" * 200_000)
    assert state._load(workspace) is None
