"""`registry validate --all` over many folders: worker processes and one process give the same
verdicts, and each tampered folder among intact ones fails with its own reason codes. Killed
mid-way, it leaves no process behind: its workers die with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, group_left, process_group, unseal


def _wrong_hash(folder: Path) -> None:
    (folder / "a.txt").write_bytes(b"A" + (folder / "a.txt").read_bytes()[1:])


def _missing_file(folder: Path) -> None:
    (folder / "sub" / "b.csv").unlink()


def _extra_file(folder: Path) -> None:
    (folder / "sub" / "c.txt").write_bytes(b"not sealed\n")


def _bad_manifest(folder: Path) -> None:
    (folder / "manifest.json").write_bytes((folder / "manifest.json").read_bytes()[:-4])


TAMPERED = {
    5: (_wrong_hash, {("HASH_MISMATCH", "a.txt")}),
    17: (_missing_file, {("MISSING_FILE", "sub/b.csv")}),
    23: (_extra_file, {("UNLISTED_FILE", "sub/c.txt")}),
    38: (_bad_manifest, {("MALFORMED_MANIFEST", "manifest.json")}),
}


def test_tampered_folders_among_many_fail_alike_in_workers_and_in_one_process(
    cli: Run, workspace: Workspace, make_run: Callable[..., SealedRun]
) -> None:
    runs = [
        make_run({"a.txt": b"a%d\n" % i, "sub/b.csv": b"x,y\n%d,1\n" % i}, registry_id=f"r{i % 4}")
        for i in range(48)
    ]
    for index, (tamper, _codes) in TAMPERED.items():
        unseal(runs[index].path)
        tamper(runs[index].path)
    args = ("validate", "--all", "--json", "--workspace", str(workspace.root))
    code_parallel, parallel, _ = cli(*args, "--jobs", "2")
    code_serial, serial, _ = cli(*args, "--jobs", "1")
    assert code_parallel == code_serial == 1
    assert parallel == serial
    rows = {row["run_id"]: row for row in map(json.loads, parallel.splitlines())}
    assert len(rows) == len(runs)
    for index, run in enumerate(runs):
        row = rows[run.run_id]
        if index in TAMPERED:
            found = {(error["code"], error["path"]) for error in row["errors"]}
            assert row["verdict"] == "FAIL" and found == TAMPERED[index][1], row
        else:
            assert row["verdict"] == "PASS" and row["errors"] == [], row
            assert row["root_sha256"] == run.root_sha256 and row["files"] == 5


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="lists a group through /proc")
def test_a_killed_validate_leaves_no_process(workspace: Workspace, tmp_path: Path) -> None:
    """SIGKILL of a real `registry validate --all --jobs 2` once its workers' first folders are
    reported: nothing it started outlives it (it runs in a session of its own, whose group is
    then empty: the workers, the fork server and its resource tracker end with it)."""
    big = tmp_path / "big.bin"  # hashed in every folder (a hard link each): work that lasts
    big.write_bytes(b"x" * (4 << 20))
    for number in range(1500):
        folder = workspace.runs_dir / f"folder_{number:04d}"
        folder.mkdir(parents=True)
        (folder / "MANIFEST.sha256").write_text(f"{'0' * 64}  big.bin\nROOT_SHA256  {'0' * 64}\n")
        os.link(big, folder / "big.bin")
    argv = [str(Path(sys.executable).with_name("registry")), "validate", "--all", "--json",
            "--jobs", "2", "--workspace", str(workspace.root)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    validating = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  env=env, start_new_session=True)  # fmt: skip
    try:
        first = validating.stdout.readline()  # type: ignore[union-attr]  # its workers' first
        assert json.loads(first)["status"] == "FAIL", first
        started = process_group(validating.pid)
        os.kill(validating.pid, signal.SIGKILL)
        assert validating.wait(timeout=60) == -signal.SIGKILL  # killed mid-way, not done
    finally:
        validating.kill()
        validating.wait()
        validating.stdout.close()  # type: ignore[union-attr]
    assert len(started) >= 3, started  # itself and its two workers at least
    left = group_left(validating.pid)
    assert not left, f"outlived the killed command: {left}"
    with pytest.raises(ProcessLookupError):
        os.killpg(validating.pid, 0)  # no process of its group is left


def test_workers_read_no_module_from_the_working_directory(
    workspace: Workspace, make_run: Callable[..., SealedRun], tmp_path: Path
) -> None:
    """`registry validate --all --jobs 2` run from a folder holding a module named as one its
    workers' start imports (the workspace itself, say) does not run it: Python started with
    `-c` puts the working directory first on its path unless told not to."""
    runs = [make_run({"a.txt": b"a%d\n" % i}, registry_id="r0") for i in range(40)]  # workers
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "multiprocessing.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('ran').write_text('ran')\n"
        "raise ImportError('planted')\n"
    )
    argv = [str(Path(sys.executable).with_name("registry")), "validate", "--all", "--json",
            "--jobs", "2", "--workspace", str(workspace.root)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    done = subprocess.run(argv, cwd=planted, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert not (planted / "ran").exists()  # the planted module never ran
    assert done.returncode == 0, done.stderr
    assert {json.loads(row)["run_id"] for row in done.stdout.splitlines()} == {
        run.run_id for run in runs
    }
