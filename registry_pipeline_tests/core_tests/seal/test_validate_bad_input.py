"""Empty folders in a run folder are unlisted; a folder with no seal file is refused unwalked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.seal import validate
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.validate import (
    FolderReport,
    inspect_many,
    inspect_run_folder,
    verify_run_folder,
)
from registry_pipeline_tests.core_tests.seal.tampering import pairs

MakeRun = Callable[..., SealedRun]
SEAL_FILES = ("run.json", "manifest.json", "MANIFEST.sha256")


# --------------------------------------------------------------------------------------------
# 1. empty folders inside a sealed run folder
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [False, True])
def test_empty_folder_at_the_top_fails_as_unlisted(run: SealedRun, fast: bool) -> None:
    (run.path / "empty").mkdir()
    report = inspect_run_folder(run.path, fast=fast)
    assert pairs(report) == {("UNLISTED_FILE", "empty")}
    with pytest.raises(RegistryError) as caught:
        verify_run_folder(run.path, fast=fast)
    assert caught.value.code == "SEAL_INVALID"
    assert caught.value.problems == report.problems


def test_nested_empty_folders_name_the_innermost(run: SealedRun) -> None:
    """`outer` holds `inner`, so only `inner` is empty; removing it leaves `outer` empty next."""
    (run.path / "outer" / "inner").mkdir(parents=True)
    assert pairs(inspect_run_folder(run.path)) == {("UNLISTED_FILE", "outer/inner")}
    (run.path / "outer" / "inner").rmdir()
    assert pairs(inspect_run_folder(run.path)) == {("UNLISTED_FILE", "outer")}
    (run.path / "outer").rmdir()
    assert inspect_run_folder(run.path).ok


def test_every_empty_folder_is_reported_in_relpath_order(run: SealedRun) -> None:
    for relpath in ("z", "data/b", "data/a", "Upper"):
        (run.path / relpath).mkdir()
    paths = [p.path for p in inspect_run_folder(run.path).problems]
    assert paths == ["Upper", "data/a", "data/b", "z"]


def test_empty_folder_is_reported_even_when_manifest_json_is_unusable(run: SealedRun) -> None:
    (run.path / "manifest.json").write_bytes(b"not json")
    (run.path / "empty").mkdir()
    assert ("UNLISTED_FILE", "empty") in pairs(inspect_run_folder(run.path))


def test_a_folder_that_holds_a_file_is_not_empty(run: SealedRun) -> None:
    (run.path / "new").mkdir()
    (run.path / "new" / "x.txt").write_bytes(b"x\n")
    assert pairs(inspect_run_folder(run.path)) == {("UNLISTED_FILE", "new/x.txt")}


# --------------------------------------------------------------------------------------------
# 3. folders that are not run folders: refused quickly, without walking them
# --------------------------------------------------------------------------------------------


def _not_a_run_folder(report: FolderReport) -> Problem:
    assert not report.ok
    (problem,) = [p for p in report.problems if p.code == "NOT_A_RUN_FOLDER"]
    assert problem.path is None  # the folder itself (the report names it in run_folder)
    assert {(p.code, p.path) for p in report.problems} == {
        ("NOT_A_RUN_FOLDER", None),
        *(("MISSING_REQUIRED_FILE", name) for name in SEAL_FILES),
    }
    assert report.run_id is None and report.root_sha256 is None and report.files == 0
    return problem


@pytest.fixture
def no_walking(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fails the test if anything lists a directory (scandir, listdir or walk)."""
    listed: list[str] = []

    def refuse(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
        listed.append(os.fspath(path))
        raise AssertionError(f"listed {path!r}")

    monkeypatch.setattr(os, "scandir", refuse)
    monkeypatch.setattr(os, "listdir", refuse)
    monkeypatch.setattr(os, "walk", refuse)
    yield listed
    assert listed == []


def test_folder_without_seal_files_is_refused_without_listing_it(
    tmp_path: Path, no_walking: list[str]
) -> None:
    folder = tmp_path / "home"
    (folder / "deep" / "deeper").mkdir(parents=True)
    (folder / "deep" / "deeper" / "file.txt").write_bytes(b"x")
    for fast in (False, True):
        report = inspect_run_folder(folder, fast=fast)
        _not_a_run_folder(report)
        assert report.run_folder == str(folder)
        assert report.fast is fast


def test_not_a_run_folder_is_refused_before_the_cache_fingerprints_it(
    tmp_path: Path, no_walking: list[str]
) -> None:
    with validate.inspection_cache():
        _not_a_run_folder(inspect_run_folder(tmp_path))


def test_verify_raises_for_a_folder_that_is_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as caught:
        verify_run_folder(tmp_path)
    assert caught.value.code == "SEAL_INVALID"
    assert "NOT_A_RUN_FOLDER" in {p.code for p in caught.value.problems}
    assert caught.value.path == str(tmp_path)


def test_empty_folder_is_not_a_run_folder(tmp_path: Path) -> None:
    folder = tmp_path / "2026-01-01__000000__demo"
    folder.mkdir()
    _not_a_run_folder(inspect_run_folder(folder))


READS = """
import json, sys
from pathlib import Path
from registry_pipeline.core.seal.validate import inspect_run_folder
seen = []
sys.addaudithook(lambda event, args: seen.append([event, str(args[0])])
                 if event in ("open", "os.listdir", "os.scandir") else None)
report = inspect_run_folder(Path(sys.argv[1]))
print(json.dumps({"seen": seen, "problems": [[p.code, p.path] for p in report.problems]}))
"""
"""Inspect the folder given, in a process of its own: what it opened or listed (Python's audit
events) and its problems' codes and paths."""


def test_filesystem_root_is_refused_without_reading_it() -> None:
    """`registry validate /` used to hash its way through the whole filesystem: a folder without
    the seal files is refused having opened and listed nothing."""
    root = Path(os.sep)
    if any(os.path.lexists(root / name) for name in SEAL_FILES):
        pytest.skip("this machine has a seal file at /")
    done = subprocess.run(
        [sys.executable, "-c", READS, str(root)], capture_output=True, text=True, check=True
    )
    answer = json.loads(done.stdout)
    assert answer["seen"] == []
    assert {tuple(problem) for problem in answer["problems"]} == {
        ("NOT_A_RUN_FOLDER", None),
        *(("MISSING_REQUIRED_FILE", name) for name in SEAL_FILES),
    }


def test_inspect_many_reports_a_non_run_folder_as_one_failing_folder(
    tmp_path: Path, make_run: MakeRun
) -> None:
    good = make_run().path
    results = list(inspect_many([tmp_path, good]))
    assert [type(r) for r in results] == [FolderReport, FolderReport]
    first, second = results
    assert isinstance(first, FolderReport) and isinstance(second, FolderReport)
    _not_a_run_folder(first)
    assert second.ok


@pytest.mark.parametrize("kept", SEAL_FILES)
def test_one_seal_file_makes_it_a_damaged_run_folder_that_is_read(
    run: SealedRun, kept: str
) -> None:
    """A seed evidence folder has only MANIFEST.sha256: still a run folder, checked in full."""
    for name in SEAL_FILES:
        if name != kept:
            (run.path / name).unlink()
    (run.path / "stray.txt").write_bytes(b"x\n")
    report = inspect_run_folder(run.path)
    codes = {p.code for p in report.problems}
    assert "NOT_A_RUN_FOLDER" not in codes
    assert {("MISSING_REQUIRED_FILE", n) for n in SEAL_FILES if n != kept} <= pairs(report)
    assert report.files > 0  # the folder was read


def test_a_seal_file_that_is_a_symlink_still_marks_a_run_folder(run: SealedRun) -> None:
    for name in SEAL_FILES:
        (run.path / name).unlink()
    (run.path / "run.json").symlink_to("notes.txt")
    codes = {p.code for p in inspect_run_folder(run.path).problems}
    assert "NOT_A_RUN_FOLDER" not in codes
    assert "NOT_A_REGULAR_FILE" in codes


def test_folder_of_a_sealed_run_with_every_seal_file_deleted(run: SealedRun) -> None:
    for name in SEAL_FILES:
        (run.path / name).unlink()
    _not_a_run_folder(inspect_run_folder(run.path))


def test_folder_emptied_by_deleting_its_listed_file_is_only_missing_file(run: SealedRun) -> None:
    """`data/` held the listed `data/rows.csv`: its emptiness is the deletion, said once."""
    (run.path / "data" / "rows.csv").unlink()
    assert pairs(inspect_run_folder(run.path)) == {("MISSING_FILE", "data/rows.csv")}
    (run.path / "data" / "sub").mkdir()  # but a new empty folder inside it is still reported
    assert pairs(inspect_run_folder(run.path)) == {
        ("MISSING_FILE", "data/rows.csv"),
        ("UNLISTED_FILE", "data/sub"),
    }


def test_a_pass_stored_by_the_laxer_validator_is_not_reused(run: SealedRun, tmp_path: Path) -> None:
    """Verdict files of version 1 passed folders holding an empty folder: they are not trusted."""
    from registry_pipeline.core.seal.schemas import SchemaCatalog
    from registry_pipeline.core.verified import Verified

    (run.path / "empty").mkdir()
    schemas = SchemaCatalog.for_workspace(None)
    stale = Verified(tmp_path, validate.VERDICTS_RELPATH, version="seal-1")  # a laxer one's
    payload = {"fingerprint": validate._fingerprint(str(run.path)), "schemas": schemas.fingerprint,
               "run_id": run.run_id, "root_sha256": run.root_sha256, "files": 6,
               "created_utc": None}  # fmt: skip
    stale.put(str(run.path), [validate.PASSED], payload)
    stale.save()
    with validate.inspection_cache(tmp_path):
        report = inspect_run_folder(run.path, schemas=schemas)
    assert pairs(report) == {("UNLISTED_FILE", "empty")}
    assert stale.version != validate.VERDICT_STORE_VERSION


@pytest.mark.reference
def test_every_reference_folder_is_still_read_as_a_run_folder(reference: Path) -> None:
    """The seed system's folders, old formats included, pass the new checks as before."""
    for parent in (
        "sealed_by_reference",
        "sealed_by_seal_promotion",
        "evidence_runs_crlf_converted",
    ):
        for entry in sorted(os.scandir(reference / parent), key=lambda e: e.name):
            report = inspect_run_folder(entry.path)
            assert "NOT_A_RUN_FOLDER" not in {p.code for p in report.problems}
            assert report.files > 0
            if parent != "evidence_runs_crlf_converted":
                assert report.problems == (), entry.name
