"""A `--no-check` bypass appends its audit record first (issue 27), under real faults and kills."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from registry_pipeline.core import fs
from registry_pipeline_tests._helpers import Run, tmpfs

OPS = "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
OVERRIDES = "registries/WRITE_OVERRIDES_v0_1.jsonl"
NOTES = "registries/WRITE_NOTES_v0_1.jsonl"
RULES = "registries/COORDINATION_v0_1.yaml"
BIN = Path(sys.executable).with_name("registry")
OPERATION = {
    "operation_id": "OP-Z01", "name": "Weekly digest", "option": "Z", "builder": None,
    "enforcement_level": "C2", "threshold_pack": "weekly_pack_v1",
}  # fmt: skip
ARGS = ("--type", "allowed_operations", "--entry-json", json.dumps(OPERATION))
OVERRIDE = (*ARGS, "--no-check", "--reason", "pack lands next")


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`path` made immutable (chattr +i): no process, root included, can write it."""
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _add(cli: Run, root: Path, *args: str) -> tuple[int, str, str]:
    return cli("add-entry", "--workspace", str(root), *args)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_an_override_whose_record_cannot_be_written_changes_nothing(cli: Run, demo: Path) -> None:
    log, ops = demo / OVERRIDES, demo / OPS
    log.write_bytes(b"")
    before = ops.read_bytes()
    with immutable(log):
        code, out, err = _add(cli, demo, *OVERRIDE)
        assert code == 1, out + err
        assert ops.read_bytes() == before
        assert err.startswith(f"error: LOG_UNWRITABLE {log}: "), err
        assert "nothing was written" in err
        code, out, err = _add(cli, demo, *OVERRIDE, "--json")
        error = json.loads(out)["error"]
        assert code == 1 and (error["code"], error["path"]) == ("LOG_UNWRITABLE", str(log))
        assert ops.read_bytes() == before
    assert log.read_bytes() == b""
    code, _out, err = _add(cli, demo, *OVERRIDE)  # writable again: written and recorded
    assert code == 0 and "OVERRIDE" in err
    assert ops.read_bytes() != before and len(_lines(log)) == 1


def test_a_folder_in_place_of_the_override_log_changes_nothing(cli: Run, demo: Path) -> None:
    log, ops = demo / OVERRIDES, demo / OPS
    log.mkdir()
    before = ops.read_bytes()
    code, out, err = _add(cli, demo, *OVERRIDE)
    assert code == 1, out + err
    assert err.startswith(f"error: LOG_UNWRITABLE {log}: "), err
    assert ops.read_bytes() == before and list(log.iterdir()) == []


def test_notes_that_cannot_be_recorded_block_the_write(cli: Run, demo: Path) -> None:
    """A finding of severity record is written to the notes log first, like an override."""
    rules = demo / RULES
    rules.write_text(rules.read_text().replace("severity: error", "severity: record", 1))
    notes, ops = demo / NOTES, demo / OPS
    notes.write_bytes(b"")
    before = ops.read_bytes()
    with immutable(notes):
        code, out, err = _add(cli, demo, *ARGS)
        assert code == 1, out + err
        assert ops.read_bytes() == before
        assert err.startswith(f"error: LOG_UNWRITABLE {notes}: "), err
    code, _out, err = _add(cli, demo, *ARGS)
    assert code == 0 and "note: 1 finding(s) recorded" in err
    assert [note["code"] for note in _lines(notes)] == ["operation-threshold-pack-exists"]


def test_a_registry_write_that_fails_takes_its_override_record_back(cli: Run, demo: Path) -> None:
    log, ops = demo / OVERRIDES, demo / OPS
    log.write_bytes(b'{"earlier": "override"}\n')
    before = ops.read_bytes()
    with tmpfs(ops.parent, full=True):  # a full file system under the registry: no atomic replace
        code, out, err = _add(cli, demo, *OVERRIDE)
        assert ops.read_bytes() == before
    assert code == 1, out + err
    assert err.startswith(f"error: IO_ERROR {ops}: "), err
    assert "nothing was written" in err and "INTERNAL" not in err
    assert log.read_bytes() == b'{"earlier": "override"}\n'  # the record claims nothing


@pytest.mark.parametrize("point", ["audit_recorded", "entry_written"])
def test_a_killed_add_entry_never_leaves_an_unaudited_change(demo: Path, point: str) -> None:
    ops = demo / OPS
    before = ops.read_bytes()
    environment = {**os.environ, "REGISTRY_PIPELINE_CRASH_AT": point}
    environment.pop("REGISTRY_WORKSPACE", None)
    killed = subprocess.run([str(BIN), "add-entry", "--workspace", str(demo), *OVERRIDE],
                            env=environment, capture_output=True, check=False)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    (record,) = _lines(demo / OVERRIDES)  # the record is there in either case
    assert (record["key"], record["reason"]) == ("OP-Z01", "pack lands next")
    changed = ops.read_bytes() != before
    assert changed is (point == "entry_written")
    digest = hashlib.sha256(ops.read_bytes()).hexdigest()
    assert (digest == record["sha256_after"]) is changed  # it says whether the change landed


def test_a_failure_after_the_data_is_written_is_reported_not_internal(
    cli: Run, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry file is renamed into place, then its folder cannot be synced (EIO)."""

    def failing(path: Path) -> None:
        raise OSError(5, "Input/output error", str(path))

    monkeypatch.setattr(fs, "fsync_dir", failing)
    ops = demo / OPS
    before = ops.read_bytes()
    code, out, err = _add(cli, demo, *OVERRIDE)
    assert code == 1, out + err
    assert err.startswith(f"error: WRITE_UNCONFIRMED {ops}: "), err
    assert "INTERNAL" not in err
    assert ops.read_bytes() != before  # it was written, and its override is recorded
    (record,) = _lines(demo / OVERRIDES)
    assert record["sha256_after"] == hashlib.sha256(ops.read_bytes()).hexdigest()


@pytest.mark.parametrize("relpath", [OVERRIDES, NOTES, OPS])
def test_add_entry_never_writes_through_a_symlink(
    cli: Run, demo: Path, tmp_path: Path, relpath: str
) -> None:
    rules = demo / RULES  # a note too, so that the notes log is written as well
    rules.write_text(rules.read_text().replace("severity: error", "severity: record", 1))
    elsewhere = tmp_path / "elsewhere.txt"
    link = demo / relpath
    if link.exists():
        elsewhere.write_bytes(link.read_bytes())
        link.unlink()
    else:
        elsewhere.write_bytes(b"")
    link.symlink_to(elsewhere)
    theirs = elsewhere.read_bytes()
    ops_before = (demo / OPS).read_bytes() if relpath != OPS else None
    code, out, err = _add(cli, demo, *ARGS)
    assert code == 2, out + err
    assert err.startswith(f"error: UNSAFE_PATH {link}: "), err
    assert elsewhere.read_bytes() == theirs
    if ops_before is not None:
        assert (demo / OPS).read_bytes() == ops_before
    for other in {OVERRIDES, NOTES} - {relpath}:
        assert not (demo / other).exists()
