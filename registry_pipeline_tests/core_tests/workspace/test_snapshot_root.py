"""A snapshot's root is the one the seal reads: `Snapshot.root_sha256` equals the inspection's
`FolderReport.root_sha256` however the ROOT line is written."""

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
