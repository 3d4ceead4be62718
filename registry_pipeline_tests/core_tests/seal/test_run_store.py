"""The run store: read-only sealed folders, run ids, no-replace publishing, concurrency, staging."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry_pipeline.core import fs
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_id import RUN_ID
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.validate import inspect_run_folder, is_valid_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import plan_sources
from registry_pipeline_tests._helpers import age, run_folders, staging_entries, tree

FIXED = datetime(2026, 2, 5, 21, 36, 1, 250_000, tzinfo=UTC)
PAYLOAD = {
    "REPORT.json": b'{"ok": true}\n',
    "data/rows.csv": b"id,value\r\n1,a\r\n",
    "data/deep/er/notes.txt": b"deep\n",
}


# --- read-only run folders -------------------------------------------------------------------


def test_sealed_files_are_0444_and_folders_0555(make_run: Callable[..., SealedRun]) -> None:
    sealed = make_run(PAYLOAD)
    assert stat.S_IMODE(sealed.path.stat().st_mode) == 0o555
    seen_dirs, seen_files = 0, 0
    for item in sealed.path.rglob("*"):
        mode = stat.S_IMODE(item.lstat().st_mode)
        if item.is_dir():
            seen_dirs += 1
            assert mode == 0o555, item
        else:
            seen_files += 1
            assert mode == 0o444, item
    assert seen_dirs == 3  # data/, data/deep/, data/deep/er/
    assert seen_files == len(PAYLOAD) + 3  # + run.json, manifest.json, MANIFEST.sha256


# --- run ids ---------------------------------------------------------------------------------


def test_same_second_runs_get_001_002_suffixes(workspace: Workspace) -> None:
    store = RunStore(workspace, clock=lambda: FIXED)
    ids = [
        seal_files(store, RunSpec(registry_id="demo"), {"a.txt": b"%d" % i}).run_id
        for i in range(3)
    ]
    base = "2026-02-05__213601__demo_build"
    assert ids == [base, f"{base}__001", f"{base}__002"]
    for run_id in ids:
        match = RUN_ID.fullmatch(run_id)
        assert match is not None and match["registry_id"] == "demo"
        report = inspect_run_folder(workspace.runs_dir / run_id)
        assert report.ok, report.problems
        assert report.run_id == run_id
        envelope = json.loads((workspace.runs_dir / run_id / "run.json").read_bytes())
        assert envelope["created_utc"] == "2026-02-05T21:36:01Z"


def test_run_ids_of_one_registry_sort_by_creation(workspace: Workspace) -> None:
    moments = [
        FIXED,
        FIXED,
        FIXED + timedelta(milliseconds=500),  # same second: __002
        FIXED + timedelta(seconds=1),
        FIXED + timedelta(seconds=1),
        FIXED + timedelta(minutes=59),
        FIXED + timedelta(hours=3),
        FIXED + timedelta(days=1),
        FIXED + timedelta(days=400),
    ]
    ticks = iter(moments)
    store = RunStore(workspace, clock=lambda: next(ticks))
    created = [
        seal_files(store, RunSpec(registry_id="demo"), {"a.txt": b"%d" % i}).run_id
        for i in range(len(moments))
    ]
    other = RunStore(workspace, clock=lambda: FIXED)
    seal_files(other, RunSpec(registry_id="demo_other"), {"a.txt": b"x"})  # another registry
    assert len(set(created)) == len(created)
    assert sorted(created) == created
    ours = [
        name
        for name in run_folders(workspace.root)
        if RUN_ID.fullmatch(name)["registry_id"] == "demo"
    ]
    assert ours == created


# --- rename that never replaces --------------------------------------------------------------


@pytest.mark.parametrize("rename", [fs.rename_noreplace, fs._rename_via_exclusive_mkdir])
@pytest.mark.parametrize("taken", ["empty folder", "folder", "file", None])
def test_rename_noreplace_never_replaces(
    tmp_path: Path, rename: Callable[[bytes, bytes], None], taken: str | None
) -> None:
    """The fallback for systems without renameat2/renamex_np keeps the same promise."""
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    (source / "payload.txt").write_bytes(b"payload\n")
    if taken == "file":
        target.write_bytes(b"file\n")
    elif taken is not None:
        target.mkdir()
        if taken == "folder":
            (target / "other.txt").write_bytes(b"other\n")
    before = tree(target) if taken else None
    if taken is None:
        rename(os.fsencode(source), os.fsencode(target))
        assert not source.exists() and (target / "payload.txt").read_bytes() == b"payload\n"
        return
    with pytest.raises(FileExistsError):
        rename(os.fsencode(source), os.fsencode(target))
    assert (source / "payload.txt").read_bytes() == b"payload\n"
    assert tree(target) == before


# --- concurrency -----------------------------------------------------------------------------


def _seal_at_fixed_time(root: str, index: int, barrier: object, results: object) -> None:
    """Child process: wait for the others, then seal one run at the same fixed clock."""
    store = RunStore(Workspace(Path(root)), clock=lambda: FIXED)
    barrier.wait(timeout=60)  # type: ignore[attr-defined]
    sealed = seal_files(store, RunSpec(registry_id="race"), {"who.txt": b"writer %d\n" % index})
    results.put((index, sealed.run_id))  # type: ignore[attr-defined]


def test_four_processes_sealing_one_registry_at_once(workspace: Workspace) -> None:
    context = multiprocessing.get_context("spawn")  # never a fork of a process with threads
    barrier = context.Barrier(4)
    results = context.Queue()
    workers = [
        context.Process(
            target=_seal_at_fixed_time, args=(str(workspace.root), index, barrier, results)
        )
        for index in range(4)
    ]
    for worker in workers:
        worker.start()
    outcome = dict(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    base = "2026-02-05__213601__race_build"
    assert sorted(outcome.values()) == [base, f"{base}__001", f"{base}__002", f"{base}__003"]
    assert run_folders(workspace.root) == sorted(outcome.values())
    for index, run_id in outcome.items():
        folder = workspace.runs_dir / run_id
        report = inspect_run_folder(folder)
        assert report.ok, report.problems
        assert (folder / "who.txt").read_bytes() == b"writer %d\n" % index
        assert json.loads((folder / "run.json").read_bytes())["run_id"] == run_id
    assert staging_entries(workspace.staging_dir) == []


# --- failing builds and staging leftovers ----------------------------------------------------


@pytest.mark.parametrize("copies", [False, True])
def test_failing_build_leaves_nothing(
    workspace: Workspace, store: RunStore, tmp_path: Path, copies: bool
) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "b.txt").write_bytes(b"b\n")
    with (
        pytest.raises(RuntimeError, match="builder failed"),
        store.stage(RunSpec(registry_id="demo")) as staging,
    ):
        if copies:
            staging.add_copies(plan_sources([source]))
        else:
            staging.add_bytes("a.txt", b"a\n")
            staging.add_bytes("sub/b.txt", b"b\n")
        assert staging_entries(workspace.staging_dir) != []
        raise RuntimeError("builder failed")
    assert run_folders(workspace.root) == []
    assert staging_entries(workspace.staging_dir) == []


def test_live_staging_is_kept_even_when_aged(workspace: Workspace, store: RunStore) -> None:
    with store.stage(RunSpec(registry_id="demo")) as live:
        live.add_bytes("sub/a.txt", b"a\n")
        age(live.path)
        assert store.clean_staging() == []
        assert live.path.is_dir()
        # Another build starting now cleans staging too, and must not take the live one either.
        sealed = seal_files(store, RunSpec(registry_id="demo"), {"b.txt": b"b\n"})
        assert live.path.is_dir() and (live.path / "sub" / "a.txt").read_bytes() == b"a\n"
        published = live.publish()
    assert is_valid_run_folder(published.path)
    assert is_valid_run_folder(sealed.path)
    assert staging_entries(workspace.staging_dir) == []


def _dead_staging(workspace: Workspace, name: str) -> Path:
    """What a killed build leaves: a staging folder with read-only files and folders, no lock."""
    path = workspace.staging_dir / name
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "a.txt").write_bytes(b"a\n")
    os.chmod(path / "sub" / "a.txt", 0o444)
    os.chmod(path / "sub", 0o555)
    (path / "run.json").write_bytes(b"{}")
    os.chmod(path / "run.json", 0o444)
    return path


def test_dead_staging_is_removed_once_aged(workspace: Workspace, store: RunStore) -> None:
    workspace.staging_dir.mkdir(exist_ok=True)
    old = _dead_staging(workspace, "demo.99999.deadbeef")
    young = _dead_staging(workspace, "demo.99998.cafebabe")
    stray = workspace.staging_dir / "stray-file"
    stray.write_bytes(b"x")
    age(old)
    age(stray)
    assert sorted(store.clean_staging()) == ["demo.99999.deadbeef", "stray-file"]
    assert not old.exists() and not stray.exists()
    assert young.is_dir()  # within the grace period its owner may not hold the lock yet
    age(young)
    seal_files(store, RunSpec(registry_id="demo"), {"a.txt": b"a\n"})  # stage() cleans up too
    assert staging_entries(workspace.staging_dir) == []


# --- published folders are never modified ----------------------------------------------------


def test_later_seals_never_modify_existing_folders(workspace: Workspace, tmp_path: Path) -> None:
    store = RunStore(workspace, clock=lambda: FIXED)
    first = seal_files(store, RunSpec(registry_id="demo"), PAYLOAD)
    other = seal_files(store, RunSpec(registry_id="other"), {"x.txt": b"x\n"})
    before = {run.run_id: tree(run.path) for run in (first, other)}

    seal_files(store, RunSpec(registry_id="demo"), PAYLOAD)  # same registry, same second
    seal_files(store, RunSpec(registry_id="demo"), {"data/rows.csv": b"changed\n"})
    source = tmp_path / "src"
    (source / "data").mkdir(parents=True)
    (source / "data" / "rows.csv").write_bytes(b"copied\n")
    with store.stage(RunSpec(registry_id="demo")) as staging:
        staging.add_copies(plan_sources([source]))
        staging.publish()
    with pytest.raises(RuntimeError), store.stage(RunSpec(registry_id="demo")) as staging:
        staging.add_bytes("REPORT.json", b"{}\n")
        raise RuntimeError("failed build")

    assert {run_id: tree(workspace.runs_dir / run_id) for run_id in before} == before
    assert len(run_folders(workspace.root)) == 5
    assert all(
        is_valid_run_folder(workspace.runs_dir / name) for name in run_folders(workspace.root)
    )
