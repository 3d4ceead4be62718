"""A real full disk (a small tmpfs) at each write: IO_ERROR, exit 1, nothing half-written."""

from __future__ import annotations

import errno
import gc
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.pointers.journal import verify_journal
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import (
    BUILD_ENV,
    PAGE,
    Disk,
    Run,
    build_demo,
    copy_built,
    environment_kept,
    promote_as_the_sensor,
    stored_active_runs,
    tmpfs,
)

DISK_SIZE = "64m"
RUNS_LOG = "registries/run_index/RUN_INDEX_v0_1.jsonl"
JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
OPS = "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
OVERRIDES = "registries/WRITE_OVERRIDES_v0_1.jsonl"
OPERATION = {
    "operation_id": "OP-Z01", "name": "Weekly digest", "option": "Z", "builder": None,
    "enforcement_level": "C2", "threshold_pack": "weekly_pack_v1",
}  # fmt: skip
BIG = "x" * (2 * PAGE)
"""Text that makes a line longer than any page's slack: its append needs a page of its own."""


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Disk]:
    """A DISK_SIZE tmpfs mounted for this module (root only), unmounted at its end."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mounted by the test: run as root")
    with tmpfs(tmp_path_factory.mktemp("full_disk"), size=DISK_SIZE) as mounted:
        yield mounted


@pytest.fixture(scope="module")
def origin(disk: Disk) -> Path:
    """The demo after one green build, on the disk (built once; tests take a copy)."""
    from registry_pipeline.lib.instance import POSTGRES_URL_ENV

    parent = disk.path / "origin"
    parent.mkdir()
    with environment_kept(*BUILD_ENV, POSTGRES_URL_ENV):
        root, _document = build_demo(parent)
    return root


@pytest.fixture
def ws(disk: Disk, origin: Path) -> Iterator[Path]:
    """A copy of `origin` on the disk, removed after the test (the disk freed first)."""
    parent = disk.path / uuid.uuid4().hex
    parent.mkdir()
    try:
        yield copy_built(origin, parent)
    finally:
        disk.free()
        shutil.rmtree(parent)
        # the SQLite connections a failed command left to the collector hold the pages of
        # files removed here: freed now, not in the middle of the next test's full disk
        gc.collect()


def _intact(root: Path) -> list[bytes]:
    """The journal's chain is whole and agrees with the pointer file; its lines."""
    store = PointerStore(Workspace(root))
    report = verify_journal(store.journal_path, store.read())
    assert report.ok, report.problems
    return store.journal_path.read_bytes().splitlines()


def _last_line(out: str, err: str) -> str:
    """The command's last word: its summary's last line, else its error."""
    lines = out.strip().splitlines() or err.strip().splitlines()
    return lines[-1]


def _says_io_error(line: str, path: Path | str) -> None:
    """`line` names IO_ERROR, the file, ENOSPC and what to do."""
    assert "IO_ERROR" in line and str(path) in line, line
    assert "No space left on device" in line and "free space" in line, line


def _quiet(err: str) -> None:
    """No traceback, no bug, none of Dagster's own pages about its storage."""
    for noise in ("Traceback", "INTERNAL", "Exception while writing logger call", "[SQL:"):
        assert noise not in err, err


def _fill_at(monkeypatch: pytest.MonkeyPatch, disk: Disk, module: Any, step: str) -> list[str]:
    """Fill the disk when `module`'s code reaches crash point `step` (once); the steps seen."""
    seen: list[str] = []

    def reached(name: str) -> None:
        seen.append(name)
        if name == step and seen.count(step) == 1:
            disk.fill()

    monkeypatch.setattr(module, "crash_point", reached)
    return seen


def _free_after_failure(
    monkeypatch: pytest.MonkeyPatch, disk: Disk, owner: Any, name: str
) -> list[OSError]:
    """Free the disk as soon as `owner.name` fails with an OSError (re-raised); the errors."""
    failed: list[OSError] = []
    original: Callable[..., Any] = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except OSError as exc:
            failed.append(exc)
            disk.free()
            raise

    monkeypatch.setattr(owner, name, wrapped)
    return failed


# -- the promotion ----------------------------------------------------------------------------


def test_a_journal_append_on_a_full_disk_fails_the_promotion_and_promotes_later(
    cli: Run, disk: Disk, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's defect: only the journal's append meets the full disk; promoted once freed."""
    from registry_pipeline.core.pointers import journal, store

    before, actions = stored_active_runs(ws), _intact(ws)
    _fill_at(monkeypatch, disk, store, "set_judged")  # the receipts written, nothing journaled
    failed = _free_after_failure(monkeypatch, disk, journal, "append_record")
    code, out, err = cli("build", "--force", "--workspace", str(ws))
    assert [exc.errno for exc in failed] == [errno.ENOSPC]
    assert code == 1, out + err
    _quiet(err)
    last = _last_line(out, err)
    assert "FAILED" in last and "nothing promoted" in last, last
    _says_io_error(last, ws / JOURNAL)
    assert "not promoted (IO_ERROR)" in out
    assert stored_active_runs(ws) == before and _intact(ws) == actions  # nothing half-written

    from registry_pipeline.definitions import build_definitions
    from registry_pipeline.lib.instance import open_instance
    from registry_pipeline.lib.promotion import PROMOTION_JOB, pending_builds

    defs = build_definitions(ws)
    with open_instance(ws) as instance:  # given back: the sensor requests it again
        (pending,) = pending_builds(instance)
        failed.clear()
        _fill_at(monkeypatch, disk, store, "set_judged")
        (first,) = promote_as_the_sensor(defs, instance)
        assert [exc.errno for exc in failed] == [errno.ENOSPC]
        run = instance.get_run_by_id(first)
        assert run is not None and run.job_name == PROMOTION_JOB
        assert run.status.value == "FAILURE"  # as strict as the command's own promotion
        assert stored_active_runs(ws) == before and _intact(ws) == actions
        assert [b.run_id for b in pending_builds(instance)] == [pending.run_id]
        (second,) = promote_as_the_sensor(defs, instance)  # space again: promoted
        assert instance.get_run_by_id(second).status.value == "SUCCESS"  # type: ignore[union-attr]
    assert stored_active_runs(ws) != before and _intact(ws)[:-1] == actions
    code, out, err = cli("build", "--workspace", str(ws))
    assert code == 0, out + err


def _build_stopped_by_a_full_disk(
    cli: Run, disk: Disk, ws: Path, monkeypatch: pytest.MonkeyPatch, module: object, point: str
) -> list[bytes]:
    """`registry build --force`, the disk full from `module`'s `point` on: the journal's actions."""
    before, actions = stored_active_runs(ws), _intact(ws)
    _fill_at(monkeypatch, disk, module, point)
    code, out, err = cli("build", "--force", "--workspace", str(ws))
    assert code == 1, out + err
    _quiet(err)
    last = _last_line(out, err)
    assert re.search(rf"IO_ERROR {re.escape(str(ws))}/\S+", last), last
    assert "No space left on device" in last and "free space" in last, last
    disk.free()
    assert stored_active_runs(ws) == before and _intact(ws) == actions
    return actions


def test_a_disk_that_stays_full_from_the_promotion_on(
    cli: Run, disk: Disk, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's storage full too: the last line is IO_ERROR naming a workspace file."""
    from registry_pipeline.core.pointers import store

    actions = _build_stopped_by_a_full_disk(cli, disk, ws, monkeypatch, store, "set_judged")
    code, out, err = cli("build", "--workspace", str(ws))  # promotes the build it left, if any
    assert code == 0, out + err
    assert _intact(ws)[: len(actions)] == actions


def test_a_receipt_on_a_full_disk_fails_its_registry_and_the_build(
    cli: Run, disk: Disk, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its step fails with IO_ERROR naming the receipts file; the next build promotes it."""
    from registry_pipeline.core.gate import receipts

    original = receipts.ReceiptStore.write
    failed: list[OSError] = []

    def write(self: Any, receipt: Any) -> Any:
        if not failed:
            disk.fill()
        try:
            return original(self, receipt)
        except OSError as exc:
            failed.append(exc)
            disk.free()
            raise

    monkeypatch.setattr(receipts.ReceiptStore, "write", write)
    code, out, err = cli("build", "--force", "--workspace", str(ws))
    assert [exc.errno for exc in failed] == [errno.ENOSPC]
    assert code == 1, out + err
    _quiet(err)
    stopped = [line.split()[1] for line in out.splitlines() if line.startswith("FAILED ")]
    assert len(stopped) == 1, out + err  # the one whose receipt met the full disk
    last = _last_line(out, err)
    assert "FAILED, " in last and " promoted: " in last, out + err
    _says_io_error(last, ws / ".codex" / "RECEIPTS")
    _intact(ws)
    monkeypatch.setattr(receipts.ReceiptStore, "write", original)
    code, out, err = cli("build", "--workspace", str(ws))
    assert code == 0, out + err
    (row,) = [line for line in out.splitlines() if line.split()[1:2] == stopped]
    assert row.split()[0] in ("BUILT", "REUSED"), row  # sealed, checked, its receipt written


# -- Dagster's storage and the build ------------------------------------------------------------


def test_a_full_disk_under_dagsters_storage_is_one_io_error_line(
    cli: Run, disk: Disk, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's "disk is full" as the promotion starts: one IO_ERROR line, no pages of logs."""
    from registry_pipeline.lib import build

    original = build.promote_here

    def promote_here(*args: Any, **kwargs: Any) -> str:
        disk.fill()
        return original(*args, **kwargs)

    monkeypatch.setattr(build, "promote_here", promote_here)
    before, actions = stored_active_runs(ws), _intact(ws)
    code, out, err = cli("build", "--force", "--workspace", str(ws))
    assert code == 1, out + err
    _quiet(err)
    assert len(err.strip().splitlines()) == 1, err
    home = ws / ".codex" / "dagster_home"
    assert re.match(rf"error: IO_ERROR {re.escape(str(home))}/\S+: ", err), err
    assert "free space" in err
    monkeypatch.setattr(build, "promote_here", original)
    disk.free()
    assert stored_active_runs(ws) == before and _intact(ws) == actions
    code, out, err = cli("build", "--workspace", str(ws))
    assert code == 0, out + err
    assert "a build whose promotion was pending" in err


def test_a_disk_full_while_sealing_fails_the_build_and_leaves_no_half_folder(
    cli: Run, disk: Disk, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1, IO_ERROR with a path, nothing promoted, every run folder valid; then all works."""
    from registry_pipeline.core.seal import run_store

    _build_stopped_by_a_full_disk(cli, disk, ws, monkeypatch, run_store, "staging_created")
    code, out, err = cli("validate", "--all", "--workspace", str(ws))
    assert code == 0, out + err
    code, out, err = cli("build", "--workspace", str(ws))
    assert code == 0, out + err


# -- the other write paths ----------------------------------------------------------------------


def _run_record(notes: str) -> dict[str, object]:
    stamp = "20260902-0800"
    return {
        "record_type": "RUN", "run_id": f"RUN-{stamp}-FULL", "created_utc": "2026-09-02T08:00Z",
        "created_by": "claude", "machine_id": "C1", "artist_id": "ART-neon-mirror",
        "genre_id": "GEN-classical-crossover", "scripture_packet_id": f"SCR-{stamp}-FUL1",
        "story_id": f"SF-{stamp}-FUL2", "song_frame_id": f"SFR-{stamp}-FUL3",
        "work_id": f"WORK-{stamp}-FUL4", "version_ids": [f"VER-{stamp}-FUL5"],
        "qa_gate0": "PASS", "qa_gate1": "PASS", "qa_gate2": "PASS", "qa_gate3": "PASS",
        "uniqueness_hook": "PASS", "uniqueness_scene": "PASS", "uniqueness_scripture": "PASS",
        "run_log_filepath_abs": f"/srv/c1/runs/2026/09/RUN-{stamp}-FULL/RUN_LOG.md",
        "notes": notes,
    }  # fmt: skip


WRITES: dict[str, tuple[tuple[str, ...], str]] = {
    "hold": (("pointers", "hold", "rolepack", "--reason", BIG[:3900]), JOURNAL),
    "runs-append": (("runs", "append", "--record-json", json.dumps(_run_record(BIG))), RUNS_LOG),
    "add-entry": (("add-entry", "--type", "allowed_operations", "--entry-json",
                   json.dumps(OPERATION), "--no-check", "--reason", "pack lands next"), OVERRIDES),
}  # fmt: skip
"""A write of each other path (its line needs a page of its own), and the file it appends to."""


def _written(root: Path) -> dict[str, bytes]:
    """What the write paths write (an absent file: no bytes)."""
    paths = (JOURNAL, POINTERS, RUNS_LOG, OPS, OVERRIDES)
    return {p: (root / p).read_bytes() if (root / p).exists() else b"" for p in paths}


@pytest.mark.parametrize("write", WRITES)
def test_a_write_on_a_full_disk_writes_nothing_and_works_once_freed(
    cli: Run, disk: Disk, ws: Path, write: str
) -> None:
    args, appended = WRITES[write]
    before, actions = _written(ws), _intact(ws)
    disk.fill()
    code, out, err = cli(*args, "--workspace", str(ws))
    assert code == 1, out + err
    _quiet(err)
    _says_io_error(_last_line(out, err), ws / appended)
    disk.free()
    assert _written(ws) == before and _intact(ws) == actions
    code, out, err = cli(*args, "--workspace", str(ws))
    assert code == 0, out + err
    after = _written(ws)
    assert after[appended].startswith(before[appended]) and after[appended] != before[appended]
    assert _intact(ws)[: len(actions)] == actions


def test_dagsters_report_of_a_log_message_it_could_not_store_is_one_io_error(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """For SQLAlchemy's pages on a refused log message we say IO_ERROR with the event log."""
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.lib.instance import open_instance

    home = ws / ".codex" / "dagster_home"
    with pytest.raises(RegistryError) as caught, open_instance(ws) as instance:
        (run,) = instance.get_runs(limit=1)
        sys.stderr.write(
            "Exception while writing logger call to event log: (sqlite3.OperationalError) "
            "database or disk is full\n[SQL: INSERT INTO event_logs (run_id, event) VALUES (?, ?)]"
            f"\n[parameters: ('{run.run_id}', '{{\"__class__\": \"EventLogEntry\"}}')]\n"
            "(Background on this error at: https://sqlalche.me/e/21/e3q8)\n"
        )
    error = caught.value
    assert error.code == "IO_ERROR", error.diagnostics()
    assert error.path == str(home / "history" / "runs" / f"{run.run_id}.db")
    assert "No space left on device" in error.message and "free space" in error.message
    assert capsys.readouterr().err == ""
