"""`registry runs` across processes: concurrent appenders lose nothing and interleave no batch,
racing writers of one run at one time give exactly one winner, stdin input, a killed `registry
runs import` leaves no process and the log whole or untouched; import says how far it got; and
`registry add-entry` refuses the run logs (LOG_TYPE: they are appended with `registry runs
append`)."""

from __future__ import annotations

import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import Run, group_left, process_group
from registry_pipeline_tests.core_tests.run_index._support import (
    OVERRIDES_LOG,
    RUNS_LOG,
    Cli,
    failing,
    jsonl,
    line,
    override,
    record,
    run_id,
    slow_list,
    utc,
    write_input,
)

BIN = Path(sys.executable).with_name("registry")
WORKERS = 4
EACH = 25
DRIVER = """
import sys
from registry_pipeline.cli import main
root, files = sys.argv[1], sys.argv[2:]
codes = [main(["runs", "append", "--record-file", f, "--workspace", root, "--json"]) for f in files]
sys.exit(max(codes))
"""
"""One process running `registry runs append` once per file, one after the other."""


def _rid(worker: int, n: int) -> str:
    return f"RUN-20260901-{worker:02d}{n:02d}-W{worker}N{n % 10}"


def _worker_records(worker: int) -> list[dict[str, Any]]:
    """One worker's 20 new runs (gate 2 failed), then 5 later records making the first 5 pass."""
    new = [
        failing(
            run_id=_rid(worker, n),
            created_utc=f"2026-09-{1 + worker:02d}T08:{n:02d}Z",
            machine_id="C2" if worker % 2 else "C1",
        )
        for n in range(EACH - 5)
    ]
    later = [
        record(run_id=_rid(worker, n), created_utc=f"2026-09-{1 + worker:02d}T09:{n:02d}Z")
        for n in range(5)
    ]
    return new + later


def _lines(ws: Path) -> list[dict[str, Any]]:
    data = (ws / RUNS_LOG).read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(raw) for raw in data.split(b"\n")[:-1]]


def _key(value: dict[str, Any]) -> tuple[str, str]:
    return value["run_id"], value["created_utc"]


def _appending(ws: Path, records: list[dict[str, Any]], name: str) -> subprocess.Popen[bytes]:
    """`registry runs append --record-file F --json` of `records` as a process of its own."""
    given = write_input(ws.parent, records, name)
    return subprocess.Popen(
        [str(BIN), "runs", "append", "--record-file", given, "--workspace", str(ws), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _list(ws: Path) -> list[str]:
    done = subprocess.run(
        [str(BIN), "runs", "list", "--json", "--workspace", str(ws)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [r["run_id"] for r in json.loads(done.stdout)]


def test_four_appenders_one_record_at_a_time_lose_nothing(runs_ws: Path, tmp_path: Path) -> None:
    expected: list[dict[str, Any]] = []
    processes = []
    for worker in range(WORKERS):
        records = _worker_records(worker)
        expected.extend(records)
        files = [write_input(tmp_path, [r], f"w{worker}-{n}.json") for n, r in enumerate(records)]
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", DRIVER, str(runs_ws), *files],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()

    found = _lines(runs_ws)
    assert len(found) == WORKERS * EACH
    assert sorted(map(_key, found)) == sorted(map(_key, expected))
    assert sorted(found, key=_key) == sorted(expected, key=_key)  # each byte of each record
    for worker in range(WORKERS):  # a worker's own records stay in its order
        mine = [_key(r) for r in found if r["run_id"].startswith(f"RUN-20260901-{worker:02d}")]
        assert mine == [_key(r) for r in _worker_records(worker)]

    listed = _list(runs_ws)
    assert len(listed) == WORKERS * (EACH - 5)
    assert listed == slow_list((runs_ws / RUNS_LOG).read_bytes())
    shown = subprocess.run(
        [str(BIN), "runs", "show", _rid(2, 3), "--history", "--json", "--workspace", str(runs_ws)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert [r["qa_gate2"] for r in json.loads(shown.stdout)] == ["FAIL", "PASS"]


def test_four_batch_appenders_each_batch_is_contiguous(runs_ws: Path) -> None:
    batches = {worker: _worker_records(worker) for worker in range(WORKERS)}
    processes = [_appending(runs_ws, records, f"batch-{w}.jsonl") for w, records in batches.items()]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        result = json.loads(out)
        assert (result["appended"], result["augmented"]) == (EACH, 5)

    data = (runs_ws / RUNS_LOG).read_bytes()
    assert len(data) == sum(len(jsonl(records)) for records in batches.values())
    for records in batches.values():  # every batch's lines, in one piece
        assert jsonl(records) in data
    assert len(_list(runs_ws)) == WORKERS * (EACH - 5)


def test_racing_writers_of_one_run_at_one_time_one_wins(runs_ws: Path) -> None:
    given = (
        record(machine_id="C1"),
        record(machine_id="C2"),
        record(machine_id="other"),
        # the same record in other bytes: a byte-identical one would be a retry
        dict(reversed(list(record(machine_id="C1").items()))),
    )
    processes = [
        _appending(runs_ws, [one], f"race-{index}.json") for index, one in enumerate(given)
    ]
    outcomes = []
    for process in processes:
        out, _err = process.communicate(timeout=120)
        document = json.loads(out)
        outcomes.append((process.returncode, document.get("error", {}).get("code")))
    assert sorted(outcomes, key=str) == sorted(
        [(0, None), *[(1, "AUGMENT_NOT_LATER")] * 3], key=str
    )
    assert len(_lines(runs_ws)) == 1


def test_append_from_stdin(runs_ws: Path) -> None:
    given = [record(), record(run_id="RUN-20260901-0801-BBBB", created_utc="2026-09-01T08:01Z")]
    done = subprocess.run(
        [str(BIN), "runs", "append", "--record-file", "-", "--workspace", str(runs_ws), "--json"],
        input=jsonl(given),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["appended"] == 2
    assert (runs_ws / RUNS_LOG).read_bytes() == jsonl(given)


@pytest.mark.parametrize(
    ("type_name", "entry", "log"),
    [("run", record(), RUNS_LOG), ("run_override", override(), OVERRIDES_LOG)],
    ids=["run", "run_override"],
)
def test_add_entry_refuses_run_logs(
    cli: Run, runs_ws: Path, tmp_path: Path, type_name: str, entry: dict[str, Any], log: str
) -> None:
    (runs_ws / log).write_bytes(jsonl([entry]))
    given = write_input(tmp_path, json.dumps(entry).encode(), "entry.json")
    before = (runs_ws / log).read_bytes()
    args = ("add-entry", "--workspace", str(runs_ws), "--type", type_name, "--entry-file", given)
    for extra in (["--json"], ["--json", "--dry-run"]):
        code, out, _err = cli(*args, *extra)
        error = json.loads(out)["error"]
        assert (code, error["code"], error["path"]) == (2, "LOG_TYPE", type_name)
    code, _out, err = cli(*args)
    assert code == 2 and "LOG_TYPE" in err
    assert (runs_ws / log).read_bytes() == before


def test_import_says_how_far_it_got(
    runs_cli: Cli, runs_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line after each block that another follows (every PROGRESS_SECONDS: here each)."""
    monkeypatch.setattr("registry_pipeline.cli._runs.PROGRESS_SECONDS", 0.0)
    given = [record(run_id=run_id(n), created_utc=utc(1, 8, n)) for n in range(5)]
    block = len(line(given[0])) * 2  # two records a block
    monkeypatch.setattr("registry_pipeline.core.run_index.records.BLOCK", block)
    ran = runs_cli.runs("import", write_input(runs_ws, given))
    assert ran.code == 0
    assert ran.err.splitlines() == [f"checked {n} records ..." for n in (2, 4)]
    assert ran.out.startswith("appended 5 record(s) to run_index")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="lists a group through /proc")
def test_a_killed_import_leaves_no_process_and_the_log_whole_or_untouched(
    runs_cli: Cli, runs_ws: Path, tmp_path: Path
) -> None:
    """An import killed mid-way, once its second process judges blocks: its session's group is
    empty (the second process ends with it), the log all or none, a rerun ok."""
    given = [
        record(run_id=run_id(n % 5000, day=2 + n // 5000), created_utc=utc(2 + n // 5000, 9))
        for n in range(60_000)
    ]  # several blocks: the second process starts at the second
    path = write_input(tmp_path, given, "big.jsonl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_PIPELINE_")}
    argv = [str(BIN), "runs", "import", path, "--workspace", str(runs_ws)]
    importing = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=env, start_new_session=True,
    )  # fmt: skip
    try:
        while len(started := process_group(importing.pid)) < 2 and importing.poll() is None:
            pass  # until the second process is there (or the import is done: failed below)
        os.kill(importing.pid, signal.SIGKILL)
        assert importing.wait(timeout=60) == -signal.SIGKILL, started
    finally:
        if importing.poll() is None:
            importing.kill()
            importing.wait()
    assert len(started) == 2, started  # itself and its second process
    left = group_left(importing.pid)
    assert not left, f"outlived the killed command: {left}"
    with pytest.raises(ProcessLookupError):
        os.killpg(importing.pid, 0)  # no process of its group is left
    assert (runs_ws / RUNS_LOG).read_bytes() in (b"", jsonl(given))

    done = runs_cli.runs("import", path, "--json")
    assert done.code == 0, done.out
    assert (runs_ws / RUNS_LOG).read_bytes() == jsonl(given)


def _open_connections(skip: set[int]) -> list[sqlite3.Connection]:
    """The SQLite connections still open that are not in `skip` (ids), reachable or not."""
    found = []
    for thing in gc.get_objects():
        if isinstance(thing, sqlite3.Connection) and id(thing) not in skip:
            try:
                thing.total_changes  # noqa: B018 (raises on a closed connection)
            except sqlite3.ProgrammingError:
                continue
            found.append(thing)
    return found


def test_every_runs_command_closes_the_sidecars_it_opened(runs_cli: Cli, runs_ws: Path) -> None:
    """Run in-process (an embedding caller, a test), a command leaves no SQLite connection for
    the cyclic collector to close: each sidecar is closed when the command returns, whether it
    answered, refused or wrote (the overrides log's too, read by `failed` and `append`)."""
    given = [record(run_id=run_id(n), created_utc=utc(1, 8, n)) for n in range(1, 3)]
    relying = record(
        created_utc=utc(1, 7), uniqueness_scene="FAIL", override_id=override()["override_id"]
    )
    commands = [
        ("import", write_input(runs_ws, given)),
        ("append", "--record-json", json.dumps(failing(run_id=run_id(3), created_utc=utc(2)))),
        ("append", "--record-json", json.dumps(override()), "--index", "run_overrides"),
        ("append", "--record-json", json.dumps(relying)),  # the overrides log read
        ("append", "--record-json", "{}"),  # refused
        ("list", "--json"),
        ("list", "--limit", "1"),
        ("show", run_id(1), "--history"),
        ("show", "RUN-NONE"),  # not found: exit 1
        ("latest", "--lane", f"artist_id={record()['artist_id']}"),
        ("failed", "--gates"),
        ("failed", "--json"),
        ("repair",),
        ("repair", "--reindex"),
    ]
    gc.collect()
    gc.disable()
    try:
        before = {id(c) for c in _open_connections(set())}
        codes = []
        for command in commands:
            codes.append(runs_cli.runs(*command).code)
            left = _open_connections(before)
            assert not left, f"`registry runs {' '.join(command)}` left {len(left)} open"
    finally:
        gc.enable()
    assert codes == [0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0]
