"""A failure after `registry runs append` has written and fsynced the records is never INTERNAL:
the append says it committed and that the sidecar index could not be updated (SIDECAR_STALE,
exit 1), and the index stays consistent (the next query brings the sidecar up to the log; the
same append run again is "already appended"). A failure before the records are written says
that nothing was appended.

The faults are real: a file size limit (RLIMIT_FSIZE) set in the append's own process, and a
full tmpfs under the sidecar (skipped where mounting is not allowed)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    SIDECAR,
    Cli,
    jsonl,
    make_workspace,
    record,
    run_id,
    settle,
    slow_list,
    utc,
    write_input,
)

BIN = Path(sys.executable).with_name("registry")
GUARD = 120.0
"""Seconds before a command is taken to hang (a guard, not a synchronization)."""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


@pytest.fixture
def cli(ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)
    return Cli(ws, capsys)


def _batch(count: int = 5) -> list[dict[str, Any]]:
    return [record(run_id=run_id(n, 2), created_utc=utc(2, 8, n)) for n in range(count)]


def _seeded(cli: Cli, ws: Path) -> bytes:
    assert cli.append(record(run_id=run_id(1, day=1))).code == 0
    assert cli.runs("list").code == 0
    settle()
    assert (ws / SIDECAR).is_file()
    return (ws / RUNS_LOG).read_bytes()


def _append(
    ws: Path, given: str, *, max_file_bytes: int | None = None, json_output: bool = True
) -> subprocess.CompletedProcess[str]:
    """`registry runs append` in its own process, whose files cannot grow past `max_file_bytes`
    (Python ignores SIGXFSZ: a write past the limit fails with EFBIG)."""

    def limit() -> None:
        if max_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    args = [str(BIN), "runs", "append", "--record-file", given, "--workspace", str(ws)]
    try:
        return subprocess.run(
            [*args, "--json"] if json_output else args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            preexec_fn=limit,
            timeout=GUARD,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the append still ran after {GUARD:.0f} s")


def _committed_but_stale(done: subprocess.CompletedProcess[str], ws: Path, count: int) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "INTERNAL" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    document = json.loads(done.stdout)
    assert (document["appended"], document["committed"]) == (count, True)
    error = document["error"]
    assert (error["code"], error["path"]) == ("SIDECAR_STALE", str(ws / SIDECAR))
    assert "appended" in error["message"] and "registry runs repair --reindex" in error["message"]


def _consistent_after(cli: Cli, ws: Path, given: str, expected: bytes) -> None:
    """The log holds the records once; queries answer them; the retry is a no-op."""
    assert (ws / RUNS_LOG).read_bytes() == expected
    assert cli.runs("list", "--json").run_ids() == slow_list(expected)
    again = cli.runs("append", "--record-file", given, "--json")
    assert again.code == 0, again.out
    assert again.json["already_appended"] is True
    assert (ws / RUNS_LOG).read_bytes() == expected


def test_a_sidecar_that_cannot_grow_after_the_write_is_sidecar_stale(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    before = _seeded(cli, ws)
    given = _batch()
    path = write_input(tmp_path, given)
    limit = len(before) + len(jsonl(given))  # room for the log's new lines, no more
    assert (ws / SIDECAR).stat().st_size > limit

    done = _append(ws, path, max_file_bytes=limit)
    _committed_but_stale(done, ws, len(given))
    _consistent_after(cli, ws, path, before + jsonl(given))


def test_the_human_output_says_it_committed_then_the_error(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    before = _seeded(cli, ws)
    given = _batch()
    path = write_input(tmp_path, given)
    done = _append(ws, path, max_file_bytes=len(before) + len(jsonl(given)), json_output=False)
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("appended 5 record(s) to run_index")
    assert done.stderr.startswith(f"error: SIDECAR_STALE {ws / SIDECAR}: "), done.stderr
    assert "INTERNAL" not in done.stderr


def test_a_log_that_cannot_grow_appends_nothing_and_says_so(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    before = _seeded(cli, ws)
    given = _batch()
    path = write_input(tmp_path, given)
    done = _append(ws, path, max_file_bytes=len(before) + 100)  # the write stops mid-record
    assert done.returncode == 1, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == ("IO_ERROR", str(ws / RUNS_LOG))
    assert "nothing was appended" in error["message"]
    assert (ws / RUNS_LOG).read_bytes() == before  # cut back: all or none
    assert cli.runs("list", "--json").run_ids() == slow_list(before)


@contextmanager
def _full_cache(ws: Path) -> Iterator[None]:
    """`ws/.codex/cache` made a 1 MiB tmpfs holding the sidecar, then filled up (the test is
    skipped where mounting is not allowed)."""
    cache = ws / ".codex" / "cache"
    kept = ws.parent / "cache-kept"
    shutil.copytree(cache, kept)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(cache)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        shutil.copytree(kept, cache, dirs_exist_ok=True)
        with open(cache / ".filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        yield
    finally:
        subprocess.run(["umount", "-l", str(cache)], check=False)


def test_a_full_disk_under_the_sidecar_after_the_write_is_sidecar_stale(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    before = _seeded(cli, ws)
    given = _batch()
    path = write_input(tmp_path, given)
    settle()
    with _full_cache(ws):
        done = _append(ws, path)
        _committed_but_stale(done, ws, len(given))
        assert (ws / RUNS_LOG).read_bytes() == before + jsonl(given)
        listed = cli.runs("list", "--json")  # answered all the same, from a temporary index
        assert listed.code == 0 and listed.run_ids() == slow_list(before + jsonl(given))
        assert "SIDECAR_STALE" in listed.err or "could not" in listed.err
    _consistent_after(cli, ws, path, before + jsonl(given))


def test_rlimit_is_enforced_here(tmp_path: Path) -> None:
    """Guards the tests above: a child whose file size is limited cannot write past it."""
    target = tmp_path / "big"
    script = (
        f"import os\nfd = os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)\n"
        "for _ in range(5):\n    os.write(fd, b'x' * 1000)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000)),
        capture_output=True,
        check=False,
    )
    assert done.returncode != 0 and b"File too large" in done.stderr
    assert os.path.getsize(target) == 1000
