"""`registry runs import FILE` is exactly as strict as `registry runs append --record-file FILE`:
the same bad and good inputs, given to both on two workspaces alike, get the same exit code, the
same output (text and --json) and leave the same log bytes. Its help has examples; long work
says how far it got on stderr. Killed mid-way, it leaves no process behind, and the log holds
all the records or none of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.cli import _runs
from registry_pipeline.core.run_index import records
from registry_pipeline_tests.core_tests.run_index._support import (
    OVERRIDES_LOG,
    RUNS_LOG,
    Cli,
    failing,
    jsonl,
    line,
    make_workspace,
    override,
    record,
    run_id,
    utc,
    write_input,
)

GOOD = [record(run_id=run_id(n), created_utc=utc(1, 8, n)) for n in range(5)]
CASES: dict[str, bytes] = {
    "valid": jsonl(GOOD),
    "one object on several lines": json.dumps(GOOD[0], indent=2).encode(),
    "warnings": jsonl([record(run_id=run_id(9), run_log_filepath_abs="/nonexistent/RUN_LOG.md")]),
    "augmenting": jsonl([*GOOD[:2], {**GOOD[0], "created_utc": utc(1, 9, 0)}]),
    "schema": jsonl([GOOD[0], {**GOOD[1], "machine_id": "C9"}]),
    "own fields": jsonl([{**GOOD[0], "run_log_filepath_abs": "runs/RUN_LOG.md"}]),
    "key and time": jsonl([{**GOOD[0], "run_id": 7, "created_utc": "yesterday"}]),
    "not an object": b'[1, 2]\n{"a": 1}\n',
    "unparsable": jsonl(GOOD[:2]) + b'{"run_id": \n',
    "duplicate key": b'{"run_id":"a","run_id":"b"}\n',
    "not later in the batch": jsonl([GOOD[0], GOOD[0]]),
    "override not logged": jsonl(
        [record(run_id=run_id(7), uniqueness_scene="FAIL", override_id="OVR-20260901-0900-NONE")]
    ),
    "override covering": jsonl(
        [record(uniqueness_scene="FAIL", override_id="OVR-20260901-0900-OOOO")]
    ),
    "empty": b"\n\n",
}


@pytest.fixture
def pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Cli, Cli]:
    """Two workspaces alike: the overrides log holds one override, the run index one run."""
    made = []
    for name in ("append", "import"):
        ws = make_workspace(tmp_path, name)
        (ws / OVERRIDES_LOG).write_bytes(jsonl([override()]))
        (ws / RUNS_LOG).write_bytes(jsonl([failing(run_id=run_id(50), created_utc=utc(1, 7))]))
        made.append(Cli(ws, capsys))
    return made[0], made[1]


def _both(pair: tuple[Cli, Cli], data: bytes, *flags: str) -> Any:
    """Each side's (exit code, stdout, stderr, log bytes), the file named alike."""
    found = []
    for cli, argv in zip(pair, (["append", "--record-file"], ["import"]), strict=True):
        given = write_input(cli.root.parent, data)  # one file, one name in every problem
        ran = cli.runs(*argv, given, *flags)
        found.append((ran.code, ran.out, ran.err, (cli.root / RUNS_LOG).read_bytes()))
    return found


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("flags", [(), ("--json",)], ids=["text", "json"])
def test_import_decides_as_append_does(
    pair: tuple[Cli, Cli], case: str, flags: tuple[str, ...]
) -> None:
    appended, imported = _both(pair, CASES[case], *flags)
    assert imported == appended
    again = _both(pair, CASES[case], *flags)  # a retry: "already appended", or the same refusal
    assert again[1] == again[0]


def test_import_says_how_far_it_got(pair: tuple[Cli, Cli], monkeypatch: pytest.MonkeyPatch) -> None:
    """After each block another one follows (every PROGRESS_SECONDS: here each); an input of
    one block says nothing."""
    monkeypatch.setattr(_runs, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(records, "BLOCK", len(line(GOOD[0])) * 2)  # two records a block
    cli = pair[1]
    ran = cli.runs("import", write_input(cli.root, CASES["valid"]))
    assert ran.code == 0
    assert ran.err.splitlines() == [f"checked {n} records ..." for n in (2, 4)]
    assert ran.out.startswith("appended 5 record(s) to run_index")


def test_import_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    from registry_pipeline.cli import main

    assert main(["runs", "import", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "registry runs import runs.jsonl" in shown
    assert "--json" in shown


def test_a_killed_import_leaves_no_process_and_the_log_whole_or_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL of a real `registry runs import` of a file of many blocks once it said how far it
    got: nothing it started outlives it (it runs in a session of its own, whose group is then
    empty), the log is as it was or holds every record, and the same import then succeeds."""
    ws = make_workspace(tmp_path)
    given = [
        record(run_id=run_id(n % 5000, day=2 + n // 5000), created_utc=utc(2 + n // 5000, 9))
        for n in range(20_000)
    ]
    path = write_input(tmp_path, given, "big.jsonl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_PIPELINE_")}
    argv = [str(Path(sys.executable).with_name("registry")), "runs", "import", path,
            "--workspace", str(ws)]  # fmt: skip
    importing = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=env, start_new_session=True,
    )  # fmt: skip
    try:
        assert importing.stderr is not None
        said = importing.stderr.readline()  # the first block checked: many more to come
        assert said.startswith(b"checked "), said
        os.kill(importing.pid, signal.SIGKILL)
        assert importing.wait(timeout=60) == -signal.SIGKILL
    finally:
        if importing.poll() is None:
            importing.kill()
            importing.wait()
        importing.stderr.close()  # type: ignore[union-attr]
    with pytest.raises(ProcessLookupError):
        os.killpg(importing.pid, 0)  # no process of its group is left
    assert (ws / RUNS_LOG).read_bytes() in (b"", jsonl(given))

    done = Cli(ws, capsys).runs("import", path, "--json")
    assert done.code == 0, done.out
    assert (ws / RUNS_LOG).read_bytes() == jsonl(given)

