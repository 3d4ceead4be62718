"""A retried `registry runs append` is safe, since the caller of a killed or failed append cannot
know whether it committed: records that are the log's last records already (same bytes, same
order) are "already appended" (exit 0, nothing written); a batch whose first records are in the
log and whose rest is not is one PARTIAL_RETRY problem naming how many matched, never one
AUGMENT_NOT_LATER per record. A failure after the records are fsynced is SIDECAR_STALE (exit 1,
never INTERNAL), one before says nothing was appended. The faults are real: SIGKILL at the run
index's crash points (`REGISTRY_PIPELINE_CRASH_AT`), a torn line, a file size limit
(RLIMIT_FSIZE) in the append's own process, a full tmpfs under the sidecar (skipped where mounting
is not allowed)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import hashes_and_mtimes, tmpfs
from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    SIDECAR,
    Cli,
    jsonl,
    record,
    run_id,
    slow_list,
    utc,
    write_input,
)

BIN = Path(sys.executable).with_name("registry")
GUARD = 300.0
"""Seconds before an append process is taken to hang (a guard, not a synchronization)."""
N = 2_000
"""Records of a batch: enough that one AUGMENT_NOT_LATER per record would be thousands."""
MIB = 1 << 20


def _batch(count: int = N, day: int = 2, first: int = 0) -> list[dict[str, Any]]:
    """`count` new runs, all valid, none in the seeded log."""
    return [
        record(run_id=run_id(n, day), created_utc=utc(day, 8, n % 60))
        for n in range(first, first + count)
    ]


def _seeded(cli: Cli, ws: Path) -> bytes:
    """A log holding one earlier run; its bytes."""
    assert cli.append(record(run_id=run_id(1, day=1))).code == 0
    return (ws / RUNS_LOG).read_bytes()


def _append_process(
    ws: Path,
    given: str,
    crash_at: str | None = None,
    *,
    max_file_bytes: int | None = None,
    json_output: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`registry runs append` in a process killed at `crash_at`, files capped (EFBIG past it)."""
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_PIPELINE_CRASH_AT"}
    if crash_at is not None:
        env["REGISTRY_PIPELINE_CRASH_AT"] = crash_at

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
            env=env,
            preexec_fn=limit,
            timeout=GUARD,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the append still ran after {GUARD:.0f} s")


def _one_partial_retry(result: Any, matched: int, given: int) -> dict[str, Any]:
    """The refusal's one problem, after checking exit 1 and the code."""
    assert result.code == 1, result.out
    error = result.error
    assert error["code"] == "PARTIAL_RETRY", error
    [problem] = error["details"]
    assert problem["code"] == "PARTIAL_RETRY"
    assert (problem["matched"], problem["given"]) == (matched, given)
    assert f"{matched} of the {given}" in problem["message"]
    found: dict[str, Any] = problem
    return found


# --- retried after success -----------------------------------------------------------------


def test_a_retried_append_is_already_appended_and_writes_nothing(
    runs_cli: Cli, runs_ws: Path, tmp_path: Path
) -> None:
    before = _seeded(runs_cli, runs_ws)
    given = _batch()
    path = write_input(tmp_path, given, "batch.jsonl")
    first = runs_cli.runs("append", "--record-file", path, "--json")
    assert first.code == 0, first.out
    assert (first.json["appended"], first.json["already_appended"]) == (N, False)
    assert (runs_ws / RUNS_LOG).read_bytes() == before + jsonl(given)
    state = hashes_and_mtimes(runs_ws)

    again = runs_cli.runs("append", "--record-file", path, "--json")
    assert again.code == 0, again.out
    assert again.json["already_appended"] is True
    assert (again.json["appended"], again.json["records"]) == (0, N)
    assert again.json["first_line"] == 2
    assert (
        hashes_and_mtimes(runs_ws) == state
    )  # nothing written: not the log, the sidecar nor a lock

    human = runs_cli.runs("append", "--record-file", path)
    assert human.code == 0, human.err
    assert human.out.startswith(f"already appended: the {N} record(s) given are lines 2..")
    assert "nothing was written" in human.out
    assert hashes_and_mtimes(runs_ws) == state


def test_records_in_the_log_before_others_are_not_a_retry_and_say_where(
    runs_cli: Cli, runs_ws: Path
) -> None:
    """Only the last append can be retried: older records conflict, saying where they are."""
    _seeded(runs_cli, runs_ws)
    given, later = _batch(10), _batch(5, day=3)
    assert runs_cli.append(*given).code == 0
    assert runs_cli.append(*later).code == 0
    log = (runs_ws / RUNS_LOG).read_bytes()
    again = runs_cli.append(*given)
    assert again.code == 1, again.out
    assert again.error["code"] == "AUGMENT_NOT_LATER"
    assert "all 10 records given are in the log already" in again.error["message"]
    assert "(lines 2..11)" in again.error["message"]
    assert (runs_ws / RUNS_LOG).read_bytes() == log


def test_a_record_json_retry_is_already_appended(runs_cli: Cli, runs_ws: Path) -> None:
    given = json.dumps(record())
    assert runs_cli.runs("append", "--record-json", given).code == 0
    again = runs_cli.runs("append", "--record-json", given, "--json")
    assert again.code == 0 and again.json["already_appended"] is True
    assert (runs_ws / RUNS_LOG).read_bytes() == jsonl([record()])


def test_the_same_run_with_other_bytes_is_still_augment_not_later(
    runs_cli: Cli, runs_ws: Path
) -> None:
    """A retry is the same bytes: a record of the same run and time that differs is a conflict."""
    assert runs_cli.append(record()).code == 0
    refused = runs_cli.append(record(machine_id="C2"))
    assert refused.code == 1
    assert refused.error["code"] == "AUGMENT_NOT_LATER"


# --- partial overlaps ----------------------------------------------------------------------


def test_an_append_cut_short_then_retried_is_one_partial_retry(
    runs_cli: Cli, runs_ws: Path
) -> None:
    before = _seeded(runs_cli, runs_ws)
    given = _batch()
    assert runs_cli.append(*given[:700]).code == 0
    log = (runs_ws / RUNS_LOG).read_bytes()

    refused = runs_cli.append(*given)
    problem = _one_partial_retry(refused, 700, N)
    assert problem["line"] == 701  # the first record not in the log: append from there
    assert "lines 2..701" in problem["message"] and "1300" in problem["message"]
    assert (runs_ws / RUNS_LOG).read_bytes() == log

    rest = runs_cli.append(*given[700:])
    assert rest.code == 0, rest.out
    assert (runs_ws / RUNS_LOG).read_bytes() == before + jsonl(given)
    again = runs_cli.append(*given)
    assert again.code == 0 and again.json["already_appended"] is True


def test_an_overlap_that_differs_is_one_partial_retry(runs_cli: Cli, runs_ws: Path) -> None:
    _seeded(runs_cli, runs_ws)
    given = _batch(50)
    assert runs_cli.append(*given[:20]).code == 0
    assert runs_cli.append(*_batch(3, day=3)).code == 0  # someone else's records follow
    log = (runs_ws / RUNS_LOG).read_bytes()

    problem = _one_partial_retry(runs_cli.append(*given), 20, 50)
    assert "differs" in problem["message"]
    changed = [*given[:5], record(run_id=run_id(999, 2), created_utc=utc(2, 9)), *given[6:20]]
    problem = _one_partial_retry(runs_cli.append(*changed), 5, 20)
    assert problem["line"] == 6 and "differs" in problem["message"]
    assert (runs_ws / RUNS_LOG).read_bytes() == log


# --- retried after a kill ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "committed"),
    [("run_index_checked", False), ("run_index_written", True), ("run_index_indexed", True)],
)
def test_a_killed_append_retried_exits_0_whether_or_not_it_committed(
    runs_cli: Cli, runs_ws: Path, tmp_path: Path, step: str, committed: bool
) -> None:
    before = _seeded(runs_cli, runs_ws)
    given = _batch()
    path = write_input(tmp_path, given, "batch.jsonl")

    killed = _append_process(runs_ws, path, crash_at=step)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout, killed.stderr)
    assert (runs_ws / RUNS_LOG).read_bytes() == before + (jsonl(given) if committed else b"")

    retried = _append_process(runs_ws, path)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    document = json.loads(retried.stdout)
    assert document["already_appended"] is committed
    assert document["appended"] == (0 if committed else N)
    data = (runs_ws / RUNS_LOG).read_bytes()
    assert data == before + jsonl(given)  # exactly once
    assert runs_cli.runs("list", "--json").run_ids() == slow_list(data)


def test_a_torn_prefix_of_the_batch_is_repaired_and_the_retry_says_so(
    runs_cli: Cli, runs_ws: Path, tmp_path: Path
) -> None:
    """A torn first MiB refuses the retry (LOG_TORN); repaired, the retry names its lines."""
    before = _seeded(runs_cli, runs_ws)
    given = _batch(3_000)
    data = jsonl(given)
    assert len(data) > 1 * MIB
    path = write_input(tmp_path, given, "big.jsonl")
    with (runs_ws / RUNS_LOG).open("ab") as log:
        log.write(data[:MIB])
    complete = data[:MIB].count(b"\n")
    assert not data[:MIB].endswith(b"\n")

    torn = _append_process(runs_ws, path)
    assert torn.returncode == 1
    assert json.loads(torn.stdout)["error"]["code"] == "LOG_TORN"
    assert runs_cli.runs("repair").code == 0
    assert (runs_ws / RUNS_LOG).read_bytes() == before + data[: data[:MIB].rfind(b"\n") + 1]

    retried = _append_process(runs_ws, path)
    assert retried.returncode == 1, retried.stdout
    error = json.loads(retried.stdout)["error"]
    assert error["code"] == "PARTIAL_RETRY"
    [problem] = error["details"]
    assert (problem["matched"], problem["given"], problem["line"]) == (
        complete,
        3_000,
        complete + 1,
    )


# --- failed after the commit -----------------------------------------------------------------


def _indexed(cli: Cli, ws: Path) -> bytes:
    """`_seeded`, with the sidecar current on disk."""
    before = _seeded(cli, ws)
    assert cli.runs("list").code == 0
    assert (ws / SIDECAR).is_file()
    return before


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


@pytest.mark.parametrize("json_output", [True, False], ids=["json", "human"])
def test_a_sidecar_that_cannot_grow_after_the_write_is_sidecar_stale(
    runs_cli: Cli, runs_ws: Path, tmp_path: Path, json_output: bool
) -> None:
    before = _indexed(runs_cli, runs_ws)
    given = _batch(5)
    path = write_input(tmp_path, given)
    limit = len(before) + len(jsonl(given))  # room for the log's new lines, no more
    assert (runs_ws / SIDECAR).stat().st_size > limit

    done = _append_process(runs_ws, path, max_file_bytes=limit, json_output=json_output)
    if json_output:
        _committed_but_stale(done, runs_ws, len(given))
    else:  # it says it committed, then the error
        assert done.returncode == 1, done.stderr
        assert done.stdout.startswith("appended 5 record(s) to run_index")
        assert done.stderr.startswith(f"error: SIDECAR_STALE {runs_ws / SIDECAR}: "), done.stderr
    _consistent_after(runs_cli, runs_ws, path, before + jsonl(given))


def test_a_log_that_cannot_grow_appends_nothing_and_says_so(
    runs_cli: Cli, runs_ws: Path, tmp_path: Path
) -> None:
    before = _indexed(runs_cli, runs_ws)
    given = _batch(5)
    path = write_input(tmp_path, given)
    done = _append_process(
        runs_ws, path, max_file_bytes=len(before) + 100
    )  # the write stops mid-record
    assert done.returncode == 1, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == ("IO_ERROR", str(runs_ws / RUNS_LOG))
    assert "nothing was appended" in error["message"]
    assert (runs_ws / RUNS_LOG).read_bytes() == before  # cut back: all or none
    assert runs_cli.runs("list", "--json").run_ids() == slow_list(before)


def test_a_full_disk_under_the_sidecar_after_the_write_is_sidecar_stale(
    runs_cli: Cli, runs_ws: Path, tmp_path: Path
) -> None:
    before = _indexed(runs_cli, runs_ws)
    given = _batch(5)
    path = write_input(tmp_path, given)
    with tmpfs(runs_ws / ".codex" / "cache", full=True):  # the sidecar on a full disk
        done = _append_process(runs_ws, path)
        _committed_but_stale(done, runs_ws, len(given))
        assert (runs_ws / RUNS_LOG).read_bytes() == before + jsonl(given)
        listed = runs_cli.runs("list", "--json")  # answered all the same, from a temporary index
        assert listed.code == 0 and listed.run_ids() == slow_list(before + jsonl(given))
        assert "SIDECAR_STALE" in listed.err or "could not" in listed.err
    _consistent_after(runs_cli, runs_ws, path, before + jsonl(given))


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
