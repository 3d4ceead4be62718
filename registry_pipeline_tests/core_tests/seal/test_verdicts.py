"""`verdict_of` explains an old or unsealed folder by its own problems, never hiding others."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.core.errors import Problem
from registry_pipeline.core.seal import verdicts
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.seal.verdicts import (
    FAIL,
    INTACT_OLDER_FORMAT,
    SHA256SUM_LIST,
    UNSEALED,
    verdict_of,
)
from registry_pipeline_tests._helpers import sha256sum_folder


def test_an_intact_plain_list_is_an_older_format(tmp_path: Path) -> None:
    folder = sha256sum_folder(tmp_path / "run", {"a.txt": b"a\n", "sub/b.txt": b"b\n"})
    verdict = verdict_of(inspect_run_folder(folder))
    assert (verdict.status, verdict.older_format, verdict.hashed) == (
        INTACT_OLDER_FORMAT,
        SHA256SUM_LIST,
        True,
    )


@pytest.fixture
def deadline() -> Iterator[None]:
    """Opening a FIFO with no writer blocks forever: turn such a hang into a failure."""

    def hung(*_args: object) -> None:
        raise AssertionError("blocked for 60 s: a FIFO was opened")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.usefixtures("deadline")
def test_a_fifo_listed_in_a_plain_list_fails_and_is_never_opened(tmp_path: Path) -> None:
    folder = sha256sum_folder(tmp_path / "run", {"a.txt": b"a\n"})
    os.mkfifo(folder / "p")
    with (folder / "MANIFEST.sha256").open("a") as manifest:
        manifest.write(f"{'0' * 64}  p\n")
    report = inspect_run_folder(folder)  # the inspector skips the FIFO
    assert verdict_of(report).status == FAIL  # opening it would block forever
    assert "NOT_A_REGULAR_FILE" in {p.code for p in report.problems}


@pytest.mark.parametrize("damage", ["symlink", "empty_folder", "unlisted_file", "missing_file"])
def test_any_problem_an_older_format_does_not_explain_fails(tmp_path: Path, damage: str) -> None:
    folder = sha256sum_folder(tmp_path / "run", {"a.txt": b"a\n"})
    if damage == "symlink":
        (folder / "etc").symlink_to("/etc")
    elif damage == "empty_folder":
        (folder / "empty").mkdir()
    elif damage == "unlisted_file":
        (folder / "b.txt").write_bytes(b"b\n")
    else:
        (folder / "a.txt").unlink()
    report = inspect_run_folder(folder)
    verdict = verdict_of(report)
    assert verdict.status == FAIL
    codes = {problem.code for problem in report.with_problems(verdict.problems).problems}
    expected = {
        "symlink": "NOT_A_REGULAR_FILE",
        "empty_folder": "UNLISTED_FILE",
        "unlisted_file": "UNLISTED_FILE",  # found by the verdict: every FAIL says why
        "missing_file": "MISSING_FILE",
    }
    assert expected[damage] in codes


def test_a_problem_added_to_the_report_is_never_explained_away(tmp_path: Path) -> None:
    folder = sha256sum_folder(tmp_path / "run", {"a.txt": b"a\n"})
    report = inspect_run_folder(folder)
    assert verdict_of(report).status == INTACT_OLDER_FORMAT
    name = Problem(code="UNSAFE_PATH", message="folder name 'run' is the same as 'RUN'")
    assert verdict_of(report.with_problems([name])).status == FAIL


def test_the_verdict_is_read_off_the_report_not_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No second hashing pass: every listed file was verified by the one inspection."""
    folder = sha256sum_folder(tmp_path / "run", {"a.txt": b"a\n", "b.txt": b"b\n"})
    report = inspect_run_folder(folder)

    def no_hashing(*_args: object) -> None:
        raise AssertionError("verdict_of hashed a file again")

    monkeypatch.setattr(verdicts, "sha256_file", no_hashing, raising=False)
    monkeypatch.setattr(hashlib, "sha256", no_hashing)
    assert verdict_of(report).status == INTACT_OLDER_FORMAT
    (folder / "MANIFEST.sha256").unlink()  # nor read again: the inspection's parse is counted
    assert verdict_of(report).status == INTACT_OLDER_FORMAT


def test_fast_inspection_gives_an_older_format_verdict_that_says_it_was_not_hashed(
    tmp_path: Path,
) -> None:
    folder = sha256sum_folder(tmp_path / "run", {"a.txt": b"a\n"})
    (folder / "a.txt").write_bytes(b"b\n")  # same size, other content: only hashing sees it
    verdict = verdict_of(inspect_run_folder(folder, fast=True))
    assert (verdict.status, verdict.hashed) == (INTACT_OLDER_FORMAT, False)
    assert verdict_of(inspect_run_folder(folder)).status == FAIL


def test_a_folder_without_seal_files_is_unsealed_unless_its_name_is_bad(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "RUN.md").write_text("notes\n")
    report = inspect_run_folder(folder)
    assert verdict_of(report).status == UNSEALED
    bad = Problem(code="UNSAFE_PATH", message="folder name 'x\\xff' is not valid UTF-8")
    assert verdict_of(report.with_problems([bad])).status == FAIL


def test_an_empty_or_half_sealed_plain_list_is_not_intact(tmp_path: Path) -> None:
    empty = sha256sum_folder(tmp_path / "empty", {})
    verdict = verdict_of(inspect_run_folder(empty))
    assert verdict.status == FAIL  # claims nothing
    assert [p.code for p in verdict.problems] == ["MALFORMED_MANIFEST"]
    half = sha256sum_folder(tmp_path / "half", {"a.txt": b"a\n"})
    (half / "run.json").write_text("{}")
    assert verdict_of(inspect_run_folder(half)).status == FAIL
    listed = sha256sum_folder(tmp_path / "listed", {"a.txt": b"a\n"})
    with (listed / "MANIFEST.sha256").open("a") as manifest:
        manifest.write(f"{'0' * 64}  manifest.json\n")  # lists a file that is not there
    verdict = verdict_of(inspect_run_folder(listed))
    assert verdict.status == FAIL
    assert [(p.code, p.path) for p in verdict.problems] == [("MISSING_FILE", "manifest.json")]
