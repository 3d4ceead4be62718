"""A cache that is a FIFO, device, symlink or garbage is set aside and rebuilt, never waited on."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.run_index.sidecar import STRICT
from registry_pipeline_tests._helpers import guarded, registry
from registry_pipeline_tests.core_tests.run_index._support import (
    QUARANTINE,
    RUNS_LOG,
    SIDECAR,
    make_workspace,
    override,
    record,
    run_id,
    utc,
    write_input,
)

DEEP = b"[" * 200_000
"""Garbage that is JSON's start nested deeper than any parser recurses."""


def _process(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`registry ARGS...` as a process of its own; the test fails if it hangs."""
    return guarded([sys.executable, "-m", "registry_pipeline", *args], timeout)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """The run index workspace with one run appended (its sidecar current, closed)."""
    root = make_workspace(tmp_path)
    given = json.dumps(record(run_id=run_id(1)))
    code, _out, err = registry("runs", "append", "--record-json", given, "--workspace", str(root))
    assert code == 0, err
    assert (root / SIDECAR).is_file()
    return root


def _outside(ws: Path) -> Path:
    """A file outside the workspace (a link's target no command may read or write through)."""
    return ws.parent / "elsewhere" / "theirs.txt"


def _link_out(path: Path, ws: Path) -> None:
    target = _outside(ws)
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"not the workspace's\n")
    path.symlink_to(target)


GARBAGE = b"not a database\n" * 300

FAULTS: dict[str, Callable[[Path, Path], Any]] = {
    "fifo": lambda path, _ws: os.mkfifo(path),
    "dev-zero": lambda path, _ws: path.symlink_to("/dev/zero"),
    "dev-null": lambda path, _ws: path.symlink_to("/dev/null"),
    "link-out": _link_out,
    "folder": lambda path, _ws: path.mkdir(),
    "garbage": lambda path, _ws: path.write_bytes(GARBAGE),
}
"""What may stand where the sidecar should be, planted in place of it."""
LINKS = ("dev-zero", "dev-null", "link-out")
FOUND = {
    "fifo": "a FIFO (named pipe), not a regular file",
    "dev-zero": "a symlink (to /dev/zero), not a regular file",
    "dev-null": "a symlink (to /dev/null), not a regular file",
    "link-out": "a symlink (to ",
    "folder": "a folder, not a regular file",
    "garbage": "not a SQLite database",
}


def _plant(ws: Path, fault: str, relpath: str = SIDECAR) -> Path:
    path = ws / relpath
    path.unlink(missing_ok=True)
    FAULTS[fault](path, ws)
    return path


def _kept(ws: Path) -> list[Path]:
    """What `.codex/quarantine/` holds."""
    folder = ws / QUARANTINE
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _assert_set_aside(ws: Path, fault: str, relpath: str = SIDECAR) -> Path:
    """The sidecar is a regular file again; the planted thing is kept, as it was, in quarantine."""
    assert stat.S_ISREG(os.lstat(ws / SIDECAR).st_mode)
    if relpath != SIDECAR:
        assert not os.path.lexists(ws / relpath)
    [kept] = _kept(ws)
    assert kept.name.startswith("run_index-") and kept.name.endswith(Path(relpath).name[9:])
    mode = os.lstat(kept).st_mode
    if fault == "fifo":
        assert stat.S_ISFIFO(mode)
    elif fault in LINKS:
        assert stat.S_ISLNK(mode)
        target = {"dev-zero": "/dev/zero", "dev-null": "/dev/null"}.get(fault)
        assert os.readlink(kept) == (target or str(_outside(ws)))
    elif fault == "folder":
        assert stat.S_ISDIR(mode)
    else:
        assert kept.read_bytes() == GARBAGE
    return kept


def _note(err: str, ws: Path, fault: str, kept: Path, relpath: str = SIDECAR) -> None:
    """Said once: one `note: SET_ASIDE` line naming the place, what stood there, where it went."""
    notes = [line for line in err.splitlines() if line.startswith("note: SET_ASIDE")]
    assert len(notes) == 1, err
    assert notes[0].startswith(f"note: SET_ASIDE {ws / relpath}: "), notes
    assert FOUND[fault] in notes[0] and kept.relative_to(ws).as_posix() in notes[0], notes


QUERIES = {
    "list": ("runs", "list", "--json"),
    "show": ("runs", "show", run_id(1), "--json"),
    "failed": ("runs", "failed", "--json"),
}


@pytest.mark.parametrize(
    ("query", "fault"), [*(("list", f) for f in FAULTS), ("show", "fifo"), ("failed", "fifo")]
)
def test_a_query_sets_aside_what_stands_in_the_sidecars_place(
    ws: Path, fault: str, query: str
) -> None:
    _plant(ws, fault)
    done = _process(*QUERIES[query], "--workspace", str(ws))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    if query == "list":
        assert [run["run_id"] for run in answer] == [run_id(1)]
    elif query == "show":
        assert answer["run_id"] == run_id(1)
    kept = _assert_set_aside(ws, fault)
    _note(done.stderr, ws, fault, kept)
    if fault == "link-out":
        assert _outside(ws).read_bytes() == b"not the workspace's\n"
    again = _process(*QUERIES[query], "--workspace", str(ws))
    assert (again.returncode, again.stdout, again.stderr) == (0, done.stdout, "")


@pytest.mark.parametrize("fault", ["fifo", "link-out"])
def test_an_append_sets_aside_what_stands_in_the_sidecars_place(ws: Path, fault: str) -> None:
    _plant(ws, fault)
    before = (ws / RUNS_LOG).read_bytes()
    given = write_input(ws.parent, [record(run_id=run_id(2), created_utc=utc(2))])
    done = _process("runs", "append", "--record-file", given, "--json", "--workspace", str(ws))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["appended"] == 1
    assert (ws / RUNS_LOG).read_bytes().startswith(before)
    kept = _assert_set_aside(ws, fault)  # a link too: the link itself, never followed
    _note(done.stderr, ws, fault, kept)
    if fault == "link-out":
        assert _outside(ws).read_bytes() == b"not the workspace's\n"
    listed = _process("runs", "list", "--json", "--workspace", str(ws))
    assert [run["run_id"] for run in json.loads(listed.stdout)] == [run_id(1), run_id(2)]


def test_repair_reindex_replaces_what_it_rebuilds(ws: Path) -> None:
    fault = "folder"
    _plant(ws, fault)
    done = _process("runs", "repair", "--reindex", "--json", "--workspace", str(ws))
    assert done.returncode == 0, done.stdout + done.stderr
    kept = _assert_set_aside(ws, fault)
    document = json.loads(done.stdout)
    assert document["reindexed"] is True
    [aside] = document["set_aside"]
    assert aside["path"] == SIDECAR and aside["kept_at"] == kept.relative_to(ws).as_posix()
    assert FOUND[fault] in aside["found"]
    assert done.stderr == ""  # said once: in the document
    listed = _process("runs", "list", "--json", "--workspace", str(ws))
    assert (listed.returncode, listed.stderr) == (0, "")
    assert [run["run_id"] for run in json.loads(listed.stdout)] == [run_id(1)]


def test_repair_reindex_says_what_it_set_aside(ws: Path) -> None:
    _plant(ws, "fifo")
    done = _process("runs", "repair", "--reindex", "--workspace", str(ws))
    assert done.returncode == 0, done.stderr
    kept = _assert_set_aside(ws, "fifo")
    lines = done.stdout.splitlines()
    assert lines[0].endswith("nothing to repair (every line is complete)")
    assert lines[1] == (
        f"run_index: set aside {SIDECAR}: it was a FIFO (named pipe), not a regular file "
        f"(kept at {kept.relative_to(ws).as_posix()})"
    )
    assert lines[2] == f"run_index: rebuilt the sidecar index from {RUNS_LOG}"
    assert done.stderr == ""


def test_repair_reindex_of_a_regular_sidecar_sets_nothing_aside(ws: Path) -> None:
    done = _process("runs", "repair", "--reindex", "--json", "--workspace", str(ws))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["set_aside"] == []
    assert _kept(ws) == [] and stat.S_ISREG(os.lstat(ws / SIDECAR).st_mode)


def test_repair_reindex_never_says_rebuilt_of_a_temporary_index(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query may use a temporary index; `repair --reindex` says why it cannot rebuild (exit 1)."""
    from registry_pipeline.core.run_index import index

    def read_only(path: Path) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(index, "connect", read_only)
    code, out, _err = registry("runs", "repair", "--reindex", "--json", "--workspace", str(ws))
    error = json.loads(out)["error"]
    assert (code, error["code"], error["path"]) == (1, "SIDECAR_READ_ONLY", str(ws / SIDECAR))
    assert "reindexed" not in out


@pytest.mark.parametrize("suffix", ["-journal", "-wal", "-shm"])
def test_a_fifo_beside_the_sidecar_is_set_aside_too(ws: Path, suffix: str) -> None:
    """SQLite opens the sidecar's journal itself (a hot journal is read on open)."""
    relpath = SIDECAR + suffix
    _plant(ws, "fifo", relpath)
    done = _process("runs", "list", "--json", "--workspace", str(ws))
    assert done.returncode == 0, done.stderr
    assert [run["run_id"] for run in json.loads(done.stdout)] == [run_id(1)]
    kept = _assert_set_aside(ws, "fifo", relpath)
    _note(done.stderr, ws, "fifo", kept, relpath)


@pytest.mark.parametrize(("door", "fault"), [("failed", "fifo"), ("append", "fifo"),
                                           ("append", "link-out")])  # fmt: skip
def test_the_overrides_logs_sidecar_is_set_aside_and_said_too(
    ws: Path, door: str, fault: str
) -> None:
    """`runs failed`, and an append naming an override, read the overrides log by its own
    sidecar: what stands there is set aside too, said once."""
    given = override(run_id=run_id(2))
    failed = record(run_id=run_id(2), created_utc=utc(2), uniqueness_scene="FAIL",
                    override_id=given["override_id"])  # fmt: skip
    appended = [("run_overrides", given)] + ([("run_index", failed)] if door == "failed" else [])
    for index, value in appended:
        code, _out, err = registry("runs", "append", "--index", index, "--record-json",
                                   json.dumps(value), "--workspace", str(ws))  # fmt: skip
        assert code == 0, err
    relpath = SIDECAR.replace("run_index.sqlite3", "run_overrides.sqlite3")
    _plant(ws, fault, relpath)
    if door == "failed":
        done = _process("runs", "failed", "--json", "--workspace", str(ws))
        assert done.returncode == 0, done.stderr
        [row] = json.loads(done.stdout)
        assert (row["run_id"], row["covered"]) == (run_id(2), True)
    else:
        done = _process("runs", "append", "--record-json", json.dumps(failed), "--json",
                        "--workspace", str(ws))  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["appended"] == 1
    assert stat.S_ISREG(os.lstat(ws / relpath).st_mode)
    [kept] = _kept(ws)
    assert kept.name.startswith("run_overrides-")
    _note(done.stderr, ws, fault, kept, relpath)
    if fault == "fifo":
        assert stat.S_ISFIFO(os.lstat(kept).st_mode)
    else:
        assert _outside(ws).read_bytes() == b"not the workspace's\n"


LOOSE_RUNS = (
    "CREATE TABLE loose AS SELECT * FROM runs",  # columns of no type, NULL allowed
    "DROP TABLE runs",
    "ALTER TABLE loose RENAME TO runs",
)
"""A sidecar's `runs` table replaced by hand with one typed loosely."""


@pytest.mark.parametrize(
    "loosen",
    [
        pytest.param(False, marks=pytest.mark.skipif(not STRICT, reason="SQLite < 3.37")),
        True,
    ],
    ids=["as-made", "replaced-by-hand"],
)
def test_a_sidecar_holding_a_value_of_the_wrong_type_is_never_read(ws: Path, loosen: bool) -> None:
    """Text for a time, an integer for a list, NULL for a count: SQLite refuses them in the
    sidecar's STRICT tables, and a table replaced by hand is rebuilt from the log: each query
    answers from the log (exit 0), never INTERNAL."""
    queries = [("list", "--limit", "1"), ("show", run_id(1)), ("failed", "--gates")]
    before = [_process("runs", *args, "--workspace", str(ws)) for args in queries]
    assert [done.returncode for done in before] == [0, 0, 0]
    db = sqlite3.connect(ws / SIDECAR, isolation_level=None)
    try:
        for sql in LOOSE_RUNS if loosen else ():
            db.execute(sql)
        with contextlib.suppress(sqlite3.IntegrityError):  # a STRICT table refuses each
            db.execute("UPDATE runs SET first_t = 'abc'")
        with contextlib.suppress(sqlite3.IntegrityError):
            db.execute("UPDATE runs SET checks = 5, n = NULL")
    finally:
        db.close()
    for args, was in zip(queries, before, strict=True):
        done = _process("runs", *args, "--workspace", str(ws))
        assert (done.returncode, done.stdout) == (0, was.stdout), done.stderr
        assert "INTERNAL" not in done.stderr


def test_a_fifo_as_the_log_is_refused_by_its_kind_never_read(ws: Path) -> None:
    """The log is no cache: it is refused (NOT_A_REGULAR_FILE), never set aside."""
    log = ws / RUNS_LOG
    log.unlink()
    os.mkfifo(log)
    done = _process("runs", "list", "--json", "--workspace", str(ws))
    assert done.returncode == 2, done.stdout
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == ("NOT_A_REGULAR_FILE", str(log))
    assert "FIFO" in error["message"]
    assert stat.S_ISFIFO(os.lstat(log).st_mode) and _kept(ws) == []


# --- a build's caches (each cache's own policy: core_tests/test_verified.py) -------------------


def test_a_build_waits_on_no_cache(built: Path) -> None:
    """A FIFO sidecar and garbage caches: the build rebuilds them, never hangs, never INTERNAL."""
    root = built
    sidecar = root / SIDECAR
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.unlink(missing_ok=True)
    os.mkfifo(sidecar)
    for relpath in (
        ".codex/cache/verdicts.json",
        ".codex/cache/last_build.json",
        ".codex/cache/pointer_journal_checkpoint.json",
    ):
        (root / relpath).write_bytes(DEEP)
    done = _process("build", "--workspace", str(root), "--json", timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads(done.stdout)["success"] is True
    assert stat.S_ISREG(os.lstat(sidecar).st_mode)
    kept = {path.name.split("-")[0]: path for path in _kept(root)}
    assert sorted(kept) == ["last_build", "pointer_journal_checkpoint", "run_index", "verdicts"]
    assert stat.S_ISFIFO(os.lstat(kept["run_index"]).st_mode)
    assert all(kept[name].read_bytes() == DEEP for name in kept if name != "run_index")
    for relpath in (".codex/cache/verdicts.json", ".codex/cache/last_build.json"):
        assert stat.S_ISREG(os.lstat(root / relpath).st_mode), relpath  # rebuilt


@pytest.mark.parametrize("relpath", [".codex/cache/verdicts.json", ".codex/cache/last_build.json"])
@pytest.mark.parametrize("target", ["/dev/zero", "out"])
def test_a_build_sets_a_symlinked_cache_aside(built: Path, relpath: str, target: str) -> None:
    """A cache linked to a device or outside is quarantined as a link, rebuilt (was UNSAFE_PATH)."""
    root = built
    cache = root / relpath
    cache.unlink()
    outside = _outside(root)
    outside.parent.mkdir(exist_ok=True)
    outside.write_bytes(b"not the workspace's\n")
    cache.symlink_to(outside if target == "out" else target)
    done = _process("build", "--workspace", str(root), "--json", timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads(done.stdout)["success"] is True
    [kept] = _kept(root)
    assert kept.name.startswith(cache.stem + "-") and kept.name.endswith(".json")
    assert os.readlink(kept) == (str(outside) if target == "out" else target)
    assert stat.S_ISREG(os.lstat(cache).st_mode)
    assert outside.read_bytes() == b"not the workspace's\n"
    notes = [line for line in done.stderr.splitlines() if line.startswith("note: SET_ASIDE")]
    assert len(notes) == 1 and str(cache) in notes[0] and kept.name in notes[0], done.stderr
    again = _process("build", "--workspace", str(root), "--json", timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert json.loads(again.stdout)["up_to_date"] is True  # the build record was kept
    assert "SET_ASIDE" not in again.stderr  # said once


def test_a_symlinked_cache_folder_stays_refused(built: Path, tmp_path: Path) -> None:
    """A link on the way (`.codex/cache`) is no cache: UNSAFE_PATH, nothing written through it."""
    root = built
    folder = root / ".codex" / "cache"
    outside = tmp_path / "elsewhere-cache"
    folder.rename(outside)
    folder.symlink_to(outside)
    before = sorted(path.name for path in outside.iterdir())
    done = _process("build", "--workspace", str(root), "--json", timeout=600)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == ("UNSAFE_PATH", str(folder))
    assert sorted(path.name for path in outside.iterdir()) == before and _kept(root) == []
