"""`registry validate --all` over many folders: worker processes and one process give the same
verdicts, and each tampered folder among intact ones fails with its own reason codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, unseal


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
