"""The inspection cache: one inspection per unchanged folder, PASS carried over, any write seen."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.seal import validate
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.schemas import SchemaCatalog, builtin_schema_dir
from registry_pipeline_tests._helpers import unseal


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every real inspection."""
    seen: list[str] = []
    real = validate._inspect

    def counting(folder: Any, *args: Any) -> validate.FolderReport:
        seen.append(str(folder))
        return real(folder, *args)

    monkeypatch.setattr(validate, "_inspect", counting)
    return seen


def test_unchanged_folder_is_inspected_once(
    make_run: Callable[..., SealedRun], calls: list[str]
) -> None:
    run = make_run()
    with validate.inspection_cache():
        first = validate.inspect_run_folder(run.path)
        second = validate.inspect_run_folder(run.path)
    assert first.ok and second is first
    assert calls == [str(run.path)]


def test_a_write_inside_the_block_is_seen(
    make_run: Callable[..., SealedRun], calls: list[str]
) -> None:
    run = make_run()
    with validate.inspection_cache():
        assert validate.inspect_run_folder(run.path).ok
        unseal(run.path)
        with (run.path / "notes.txt").open("ab") as handle:
            handle.write(b"appended\n")
        report = validate.inspect_run_folder(run.path)
    assert "SIZE_MISMATCH" in {p.code for p in report.problems}
    assert len(calls) == 2


def test_no_cache_outside_the_block(make_run: Callable[..., SealedRun], calls: list[str]) -> None:
    run = make_run()
    validate.inspect_run_folder(run.path)
    validate.inspect_run_folder(run.path)
    assert len(calls) == 2
    with validate.inspection_cache():
        validate.inspect_run_folder(run.path)
    with validate.inspection_cache():
        validate.inspect_run_folder(run.path)
    assert len(calls) == 4  # every block starts empty: its first inspection is real


# ----------------------------------------------------------------------------------------------
# verdicts carried between blocks (between builds)
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The workspace whose verdict cache a block opens."""
    return tmp_path / "ws"


@pytest.fixture
def verdicts(root: Path) -> Path:
    """Where the workspace keeps its verdict cache."""
    return root / validate.VERDICTS_RELPATH


def test_a_pass_verdict_is_carried_to_the_next_block(
    make_run: Callable[..., SealedRun], calls: list[str], root: Path, verdicts: Path
) -> None:
    run = make_run()
    with validate.inspection_cache(root):
        first = validate.inspect_run_folder(run.path)
    with validate.inspection_cache(root):
        second = validate.inspect_run_folder(run.path)
    assert calls == [str(run.path)]
    assert second.ok and (second.run_id, second.root_sha256, second.files) == (
        first.run_id,
        first.root_sha256,
        first.files,
    )
    assert json.loads(verdicts.read_bytes())["version"] == validate.VERDICT_STORE_VERSION


def test_a_rewrite_that_keeps_size_and_mtime_is_still_seen(
    make_run: Callable[..., SealedRun], calls: list[str], root: Path, verdicts: Path
) -> None:
    run = make_run()
    with validate.inspection_cache(root):
        assert validate.inspect_run_folder(run.path).ok
    target = run.path / "notes.txt"
    before = target.stat()
    unseal(run.path)
    target.write_bytes(b"line 0ne\nline two\n")  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
    os.chmod(target, 0o444)
    with validate.inspection_cache(root):
        report = validate.inspect_run_folder(run.path)
    assert "HASH_MISMATCH" in {p.code for p in report.problems}
    assert len(calls) == 2


def test_a_full_audit_reads_no_stored_verdict_but_records_fresh_ones(
    make_run: Callable[..., SealedRun], calls: list[str], root: Path, verdicts: Path
) -> None:
    run = make_run()
    with validate.inspection_cache(root):
        validate.inspect_run_folder(run.path)
    with validate.inspection_cache(root, trust_stored=False):
        assert validate.inspect_run_folder(run.path).ok
    assert len(calls) == 2
    with validate.inspection_cache(root):
        validate.inspect_run_folder(run.path)
    assert len(calls) == 2


def test_other_schemas_mean_a_new_inspection(
    make_run: Callable[..., SealedRun], calls: list[str], root: Path, verdicts: Path, tmp_path: Path
) -> None:
    run = make_run()
    with validate.inspection_cache(root):
        validate.inspect_run_folder(run.path)
    extra = tmp_path / "more_schemas"
    extra.mkdir()
    (extra / "notes.schema.json").write_text(
        json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "urn:test:report",
                "x-registry-artifacts": ["REPORT.json"],
                "type": "object",
                "required": ["missing_field"],
            }
        )
    )
    schemas = SchemaCatalog.load([builtin_schema_dir(), extra])
    with validate.inspection_cache(root):
        report = validate.inspect_run_folder(run.path, schemas=schemas)
    assert "SCHEMA_VIOLATION" in {p.code for p in report.problems}
    assert len(calls) == 2


def test_failures_and_fast_checks_are_never_stored(
    make_run: Callable[..., SealedRun], calls: list[str], root: Path, verdicts: Path
) -> None:
    good, bad = make_run(), make_run()
    unseal(bad.path)
    (bad.path / "notes.txt").write_bytes(b"tampered\n")
    for _ in range(2):
        with validate.inspection_cache(root):
            assert not validate.inspect_run_folder(bad.path).ok
            assert validate.inspect_run_folder(good.path, fast=True).ok
    assert len(calls) == 4
    assert not verdicts.exists()  # nothing worth keeping was found


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"version": 99, "entries": {}}', b"[]"])
def test_an_unreadable_store_counts_as_empty_and_is_replaced(
    make_run: Callable[..., SealedRun], calls: list[str], root: Path, verdicts: Path, content: bytes
) -> None:
    run = make_run()
    verdicts.parent.mkdir(parents=True)
    verdicts.write_bytes(content)
    with validate.inspection_cache(root):
        assert validate.inspect_run_folder(run.path).ok
    with validate.inspection_cache(root):
        assert validate.inspect_run_folder(run.path).ok
    assert len(calls) == 1
    assert str(run.path) in json.loads(verdicts.read_bytes())["entries"]
