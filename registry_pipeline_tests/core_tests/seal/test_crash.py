"""`registry seal` killed at each kind of crash point: no run or one valid run, then recovered."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry_pipeline.core import faults
from registry_pipeline.core.seal import run_store
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.hashing import BLOCK_SIZE
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.validate import is_valid_run_folder
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline.core.workspace.sources import plan_sources
from registry_pipeline_tests._helpers import age, run_folders, staging_entries, tree

NAMED_STEPS = (
    "staging_created",
    "copy_block",
    "payload_written",
    "run_json_written",
    "manifest_json_written",
    "manifest_sha256_written",
    "staging_synced",
    "published",
    "runs_synced",
)
POINTS = (*NAMED_STEPS, "the last copy_block")
"""Each named step (at its first pass) and a kill in the middle of the copies."""
SEED = 20260205
BIG_FILE_BYTES = 3 * BLOCK_SIZE + 4321  # four copy blocks
REGISTRY = "crashy"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~20 files: text, binary, an empty file, non-ASCII names, two levels of subfolders, 3 MiB."""
    rng = random.Random(SEED)
    root = tmp_path_factory.mktemp("crash_source") / "src"
    (root / "sub" / "deeper").mkdir(parents=True)
    for index in range(10):
        (root / f"file_{index:02d}.txt").write_bytes(f"line {index}\r\n".encode() * (index + 1))
    for index in range(5):
        (root / "sub" / f"part_{index}.bin").write_bytes(rng.randbytes(rng.randrange(1, 5000)))
    (root / "sub" / "deeper" / "café.csv").write_bytes("id,name\n1,Zoë\n".encode())
    (root / "sub" / "deeper" / "empty.dat").write_bytes(b"")
    (root / "Ünïcode name.txt").write_bytes(b"non-ascii name\n")
    (root / "big.bin").write_bytes(rng.randbytes(BIG_FILE_BYTES))
    return root


def _seal_in_process(workspace: Workspace, source: Path) -> None:
    """What `registry seal SRC --registry-id crashy` does, through the same core calls."""
    pairs = plan_sources([source])
    with RunStore(workspace).stage(RunSpec(registry_id=REGISTRY, run_type="seal")) as staging:
        staging.add_copies(pairs)
        staging.publish()


@pytest.fixture(scope="module")
def crash_steps(source: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The crash points one seal of `source` passes, in order (copy blocks may interleave)."""
    root = tmp_path_factory.mktemp("crash_measure") / "ws"
    root.mkdir()
    init_workspace(root)
    steps: list[str] = []
    original = run_store.crash_point

    def recording(step: str) -> None:
        steps.append(step)
        original(step)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(faults, "_TARGET", "#999999")
        patch.setattr(run_store, "crash_point", recording)  # the copies' blocks too
        before = faults.crash_points_reached()
        _seal_in_process(Workspace(root), source)
        counted = faults.crash_points_reached() - before
    assert counted == len(steps)
    return steps


def test_a_seal_passes_every_named_step_and_several_copy_blocks(
    crash_steps: list[str], source: Path
) -> None:
    assert set(crash_steps) == set(NAMED_STEPS)
    nonempty = sum(1 for path in source.rglob("*") if path.is_file() and path.stat().st_size)
    assert crash_steps.count("copy_block") >= nonempty + 3  # the big file takes 4 blocks
    assert crash_steps[-2:] == ["published", "runs_synced"]


def _env(crash_at: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_PIPELINE_CRASH_AT"}
    if crash_at is not None:
        env["REGISTRY_PIPELINE_CRASH_AT"] = crash_at
    return env


def _argv(workspace: Workspace, source: Path) -> list[str]:
    """`registry seal SOURCE --registry-id crashy --json` in a child process."""
    return [sys.executable, "-m", "registry_pipeline", "seal", str(source), "--registry-id",
            REGISTRY, "--workspace", str(workspace.root), "--json"]  # fmt: skip


def _seal_cli(
    workspace: Workspace, source: Path, crash_at: str | None
) -> subprocess.CompletedProcess[str]:
    argv = _argv(workspace, source)
    return subprocess.run(argv, env=_env(crash_at), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("point", POINTS)
def test_a_killed_seal_leaves_valid_runs_and_is_recovered(
    workspace: Workspace, source: Path, crash_steps: list[str], point: str
) -> None:
    """Killed before `published`: a staging leftover only; at or after it: one valid run."""
    if point in NAMED_STEPS:
        index, crash_at = crash_steps.index(point), point
    else:  # `#n`: the n-th crash point passed
        index = max(i for i, step in enumerate(crash_steps) if step == "copy_block")
        crash_at = f"#{index + 1}"
    leaves_run = index >= crash_steps.index("published")
    earlier = seal_files(RunStore(workspace), RunSpec(registry_id="earlier"), {"a.txt": b"kept\n"})
    earlier_tree = tree(earlier.path)

    killed = _seal_cli(workspace, source, crash_at)
    assert killed.returncode == -signal.SIGKILL, (crash_at, killed.returncode, killed.stderr)

    folders = set(run_folders(workspace.root))
    new = folders - {earlier.run_id}
    for name in sorted(folders):
        assert is_valid_run_folder(workspace.runs_dir / name), (crash_at, name)
    assert len(new) == (1 if leaves_run else 0), (crash_at, sorted(new))
    if new:
        (published,) = new
        manifest = json.loads((workspace.runs_dir / published / "manifest.json").read_bytes())
        listed = {row["relpath"] for row in manifest} - {"run.json"}
        assert listed == {
            p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()
        }
    leftovers = staging_entries(workspace.staging_dir)
    assert len(leftovers) == (0 if leaves_run else 1), (crash_at, leftovers)
    assert tree(earlier.path) == earlier_tree

    age(*(workspace.staging_dir / name for name in leftovers))
    done = _seal_cli(workspace, source, None)
    assert done.returncode == 0, done.stderr
    sealed = json.loads(done.stdout)
    assert is_valid_run_folder(sealed["path"])
    assert set(run_folders(workspace.root)) == folders | {sealed["run_id"]}
    assert sealed["run_id"] not in folders
    assert staging_entries(workspace.staging_dir) == []
    for name in sorted(folders):
        assert is_valid_run_folder(workspace.runs_dir / name), (crash_at, name)
    assert tree(earlier.path) == earlier_tree


def test_a_held_seal_waits_at_its_step_until_the_hold_file_is_gone(
    workspace: Workspace, source: Path, tmp_path: Path
) -> None:
    """`REGISTRY_PIPELINE_HOLD_AT` (the door races' hold) stops a seal at its step until then."""
    hold = tmp_path / "hold"
    hold.touch()
    env = {**_env(None), "REGISTRY_PIPELINE_HOLD_AT": f"staging_created:{hold}"}
    held = subprocess.Popen(_argv(workspace, source), env=env, stdout=subprocess.PIPE, text=True)
    try:
        while not staging_entries(workspace.staging_dir):  # it has reached its first step
            assert held.poll() is None, "the held seal ended before it staged anything"
            time.sleep(0.05)  # polling an observable condition
        while not (tmp_path / "hold.reached").exists():  # it says it stopped at the step
            assert held.poll() is None, "the held seal ended without stopping"
            time.sleep(0.05)  # polling an observable condition
        assert held.poll() is None and run_folders(workspace.root) == []
        hold.unlink()
        out, _err = held.communicate(timeout=120)
    finally:
        if held.poll() is None:
            held.kill()
            held.communicate()
    assert held.returncode == 0
    assert run_folders(workspace.root) == [json.loads(out)["run_id"]]
