"""Clocks do not decide freshness (issue 62): a snapshot's generation does; the offsets are real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.store import Move, PointerStore, pointer_relpath
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import list_snapshots, read_snapshot
from registry_pipeline_tests._clock import clock_offset_env
from registry_pipeline_tests._helpers import (
    REPO,
    active_runs,
    build_demo,
    copy_built,
    registry,
)

SOURCE = "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"
ACTOR = {"kind": "person", "id": "test"}


def _edit(root: Path, marker: str) -> bytes:
    """An edit of expected_versions' source, as `registry add-entry` or an editor leaves it."""
    source = root / SOURCE
    field = '"threshold_pack_version": "v1"'
    text = source.read_text().replace(field, f'{field}, "note": "{marker}"')
    assert marker in text
    source.write_text(text)
    return source.read_bytes()


def _registry_at(offset: str, *args: str) -> tuple[int, str, str]:
    """`registry ARGS` in a process of its own whose clock is `offset` away."""
    done = subprocess.run(
        [sys.executable, "-m", "registry_pipeline", *args],
        env=clock_offset_env(offset),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def _entries(out: str) -> dict[str, dict[str, Any]]:
    return {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("clocks"))[0]


@pytest.fixture
def built(built_once: Path, tmp_path: Path) -> Path:
    return copy_built(built_once, tmp_path)


def test_a_slow_clock_never_strands_an_edit(built: Path) -> None:
    """Built on a clock 3 minutes behind: promoted, and the next build (right clock) is current;
    promote and rollback go by generation too, though the folder is dated before the last."""
    edited = _edit(built, "three minutes slow")
    code, out, err = _registry_at("-3m", "build", "--workspace", str(built), "--json")
    assert code == 0, out + err
    entries = _entries(out)
    assert entries["expected_versions"]["promoted"] is True, entries["expected_versions"]
    workspace = Workspace(built)
    active = active_runs(built)["expected_versions"]
    assert active == entries["expected_versions"]["run_id"]
    snapshots = list_snapshots(workspace, "expected_versions")
    assert snapshots[-1].run_id == active  # the newest, though dated before the one it follows
    assert snapshots[-1].second < snapshots[-2].second
    assert snapshots[-1].generation == snapshots[-2].generation + 1
    artifact = built / ".codex" / "RUNS" / active / "EXPECTED_VERSIONS_v0_1.json"
    assert artifact.read_bytes() == edited
    for derived in ("run_registry", "op_status_table", "drift_signals"):
        assert entries[derived]["promoted"] is True, entries[derived]
    # the delta log keeps its date order: the edit dated before its last record is said, late
    said = json.dumps(entries["registry_delta_log"])
    assert "expected_versions: 1 snapshot(s) of a later generation" in said, said

    code, out, err = registry("build", "--workspace", str(built))
    assert code == 0 and "up to date" in out + err, out + err
    assert registry("validate", "--active", "--workspace", str(built))[0] == 0

    # manual moves ask the generation as a build does, not the clock
    older, newer = snapshots[-2:]
    code, _out, err = registry("pointers", "promote", "expected_versions", older.run_id,
                               "--workspace", str(built))  # fmt: skip
    assert code == 1 and "NOT_NEWER" in err and "generation 1" in err, err
    code, _out, err = registry("pointers", "rollback", "expected_versions", "--to", older.run_id,
                               "--reason", "r", "--workspace", str(built))  # fmt: skip
    assert code == 0, err
    code, _out, err = registry("pointers", "rollback", "expected_versions", "--to", newer.run_id,
                               "--reason", "r", "--workspace", str(built))  # fmt: skip
    assert code == 1 and "NOT_OLDER" in err, err
    code, _out, err = registry("pointers", "promote", "expected_versions", newer.run_id,
                               "--workspace", str(built))  # fmt: skip
    assert code == 0, err
    assert active_runs(built)["expected_versions"] == newer.run_id


def test_an_hour_back_clock_is_future_dated_at_every_door_and_moves_nothing(built: Path) -> None:
    codex = built / ".codex"
    pointers = (codex / "ACTIVE_REGISTRY_POINTERS_v0_1.json").read_bytes()
    journal = (codex / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl").read_bytes()
    _edit(built, "an hour back")

    code, out, err = _registry_at("-1h", "build", "--workspace", str(built), "--json")
    assert code == 1, out + err
    entries = _entries(out)
    assert not any(entry.get("promoted") for entry in entries.values())
    said = json.dumps(entries)
    assert "FUTURE_DATED" in said and "BASELINE_INVALID" not in said and "NOT_NEWER" not in said

    code, out, err = _registry_at("-1h", "pointers", "verify", "--workspace", str(built), "--json")
    assert code == 1, out + err
    assert "FUTURE_DATED" in out
    code, out, err = _registry_at(
        "-1h", "validate", "--active", "--workspace", str(built), "--json"
    )
    assert code == 1 and "FUTURE_DATED" in out, out + err
    code, out, err = _registry_at("-1h", "pointers", "show", "--workspace", str(built), "--json")
    assert code == 0, err
    targets = {row["registry_id"]: row["target"] for row in json.loads(out)["pointers"]}
    assert targets["expected_versions"] == "invalid: FUTURE_DATED", targets

    assert (codex / "ACTIVE_REGISTRY_POINTERS_v0_1.json").read_bytes() == pointers
    assert (codex / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl").read_bytes() == journal
    assert registry("pointers", "verify", "--workspace", str(built))[0] == 0  # the right clock


def test_a_derived_snapshot_is_promoted_only_with_the_inputs_it_was_built_from(
    built: Path,
) -> None:
    """Drift signals of an inactive op_status_table are INPUT_NOT_ACTIVE; in one set both move."""
    _edit(built, "derived")
    code, out, err = registry("build", "--workspace", str(built), "--json")
    assert code == 0, out + err
    workspace = Workspace(built)
    store = PointerStore(workspace)
    table_old, table_new = (s.run_id for s in list_snapshots(workspace, "op_status_table")[-2:])
    drift_old, drift_new = (s.run_id for s in list_snapshots(workspace, "drift_signals")[-2:])
    catalog = load_catalog(workspace)
    relpath = {rid: pointer_relpath(catalog.get(rid).kind, catalog.get(rid).artifacts)
               for rid in ("op_status_table", "drift_signals")}  # fmt: skip
    for registry_id, run_id in (("drift_signals", drift_old), ("op_status_table", table_old)):
        args = ("pointers", "rollback", registry_id, "--to", run_id, "--reason", "r")
        assert registry(*args, "--workspace", str(built))[0] == 0
        args = ("pointers", "release", registry_id, "--reason", "r")
        assert registry(*args, "--workspace", str(built))[0] == 0
    code, _out, err = registry("pointers", "promote", "drift_signals", drift_new,
                               "--workspace", str(built))  # fmt: skip
    assert code == 1 and "INPUT_NOT_ACTIVE" in err and table_new in err, err
    alone_move = Move("drift_signals", drift_new, relpath["drift_signals"])
    (alone,) = store.promote_set([alone_move], reason="r", actor=ACTOR, admit=admission)
    assert alone.refusal is not None and alone.refusal.code == "INPUT_NOT_ACTIVE"
    journal = store.journal_path.read_bytes()
    assert active_runs(built)["drift_signals"] == drift_old

    pairs = (("op_status_table", table_new), ("drift_signals", drift_new))
    moves = [Move(rid, run_id, relpath[rid]) for rid, run_id in pairs]
    outcomes = store.promote_set(moves, reason="r", actor=ACTOR, admit=admission)
    assert [o.refusal for o in outcomes] == [None, None]
    assert active_runs(built)["op_status_table"] == table_new
    assert active_runs(built)["drift_signals"] == drift_new
    assert store.journal_path.read_bytes().startswith(journal)  # one set entry after: both moves
    assert len(store.journal_path.read_bytes().splitlines()) == len(journal.splitlines()) + 1


def test_a_folder_with_no_seal_never_sets_the_next_generation(built: Path) -> None:
    """A folder only claiming a generation (no seal) is no snapshot: the next follows the sealed."""
    forged = built / ".codex" / "RUNS" / "2026-01-01__000000__expected_versions_build"
    forged.mkdir()
    (forged / "run.json").write_text(json.dumps({"generation": 2**53 - 1}))
    _edit(built, "after a forged folder")
    code, out, err = registry("build", "--workspace", str(built), "--json")
    assert code == 0, out + err
    active = active_runs(built)["expected_versions"]
    snapshot = read_snapshot(built / ".codex" / "RUNS" / str(active), "expected_versions")
    assert snapshot.generation == 2
