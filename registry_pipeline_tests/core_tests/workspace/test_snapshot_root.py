"""`Snapshot.root_sha256` is the inspection's root however the ROOT line is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import manifest_root, read_snapshot
from registry_pipeline_tests._helpers import unseal

ROOTS: dict[str, tuple[Callable[[str], str], bool]] = {  # the ROOT line, and is it well formed
    "well-formed": (lambda root: f"ROOT_SHA256  {root}\n", True),
    "crlf": (lambda root: f"ROOT_SHA256  {root}\r\n", True),
    "uppercase": (lambda root: f"ROOT_SHA256  {root.upper()}\n", False),
    "one-space": (lambda root: f"ROOT_SHA256 {root}\n", False),
    "padded": (lambda root: f"ROOT_SHA256   {root}  \n", False),
    "two-lines": (lambda root: f"ROOT_SHA256  {root.upper()}\nROOT_SHA256  {root}\n", False),
    "empty": (lambda root: "ROOT_SHA256\n", False),
    "none": (lambda root: "", False),
}


@pytest.mark.parametrize(("write", "well_formed"), ROOTS.values(), ids=ROOTS.keys())
def test_the_snapshot_root_is_the_seals_reading(
    workspace: Workspace, write: Callable[[str], str], well_formed: bool
) -> None:
    folder = seal_files(RunStore(workspace), RunSpec("alpha"), {"ALPHA.json": b"{}"}).path
    unseal(folder)
    manifest = folder / "MANIFEST.sha256"
    head, root = manifest.read_text().rsplit("ROOT_SHA256  ", 1)
    manifest.write_bytes((head + write(root.strip())).encode())
    report = inspect_run_folder(Path(folder))
    assert read_snapshot(folder, "alpha").root_sha256 == report.root_sha256
    assert manifest_root(folder) == report.root_sha256
    assert manifest_root(folder, well_formed=True) == (root.strip() if well_formed else None)


@pytest.mark.parametrize("stand_in", ["fifo", "symlink"])
@pytest.mark.parametrize("name", ["MANIFEST.sha256", "run.json"])
def test_a_fifo_or_symlink_in_a_run_folder_is_never_waited_on_or_followed(
    workspace: Workspace, tmp_path: Path, stand_in: str, name: str
) -> None:
    """A seal file that is a FIFO or a link out: the snapshot reads nothing from it, at once."""
    import os
    import subprocess
    import sys

    folder = seal_files(RunStore(workspace), RunSpec("alpha"), {"ALPHA.json": b"{}"}).path
    unseal(folder)
    target = folder / name
    outside = tmp_path / "outside"
    outside.write_bytes(target.read_bytes())  # what a followed link would find: a good file
    target.unlink()
    if stand_in == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to(outside)
    probe = (
        "import sys; from pathlib import Path\n"
        "from registry_pipeline.core.workspace.snapshots import read_snapshot\n"
        "s = read_snapshot(Path(sys.argv[1]), 'alpha')\n"
        "print(repr(s.root_sha256)); print(repr(s.created_utc))\n"
    )
    done = subprocess.run(  # its own process: a blocked open cannot hang the test
        [sys.executable, "-c", probe, str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    root, created = done.stdout.splitlines()
    if name == "MANIFEST.sha256":
        assert root == "None" and created.startswith("'20"), done.stdout
    else:
        assert created == "''" and len(root) == 66, done.stdout  # the root still read
