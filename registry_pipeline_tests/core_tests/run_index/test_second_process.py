"""A large import hands blocks to a second process (`blocks.Second`) running the same judge: it
appends the same bytes, indexes the same runs and says the same warnings and errors as one
process alone, judges here what the second process does not answer, and waits for it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.run_index import blocks
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    OVERRIDES_LOG,
    RUNS_LOG,
    SIDECAR,
    Cli,
    jsonl,
    line,
    override,
    record,
    run_id,
    utc,
    write_input,
)


def _ovr(n: int) -> str:
    return f"OVR-20260901-0900-{n:04d}"


def _given(count: int = 240) -> list[dict[str, Any]]:
    """Records of every kind the intake keeps apart: plain, augmenting an earlier run, failed,
    overridden (the rules read them), warned (a file absent, a recommended field missing)."""
    given = []
    for n in range(count):
        kind = n % 6
        run = run_id(n // 2 if kind == 1 else n)
        at = utc(1, 8 + n // 60, n % 60)  # later than every record before
        if kind == 2:
            given.append(record(run_id=run, created_utc=at, qa_gate2="FAIL", work_id=DROP))
        elif kind == 3:
            given.append(record(run_id=run, created_utc=at, uniqueness_scene="FAIL",
                                override_id=_ovr(n)))  # fmt: skip
        elif kind == 4:
            given.append(record(run_id=run, created_utc=at, run_log_filepath_abs="/gone/x.md"))
        elif kind == 5:
            given.append(record(run_id=run, created_utc=at, story_id=DROP))
        else:
            given.append(record(run_id=run, created_utc=at))
    return given


@pytest.fixture
def twins(ws: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of one workspace whose overrides log covers the runs of kind 3."""
    overrides = [override(override_id=_ovr(n), run_id=run_id(n)) for n in range(3, 240, 6)]
    (ws / OVERRIDES_LOG).write_bytes(jsonl(overrides))
    other = tmp_path / "twin"
    shutil.copytree(ws, other, symlinks=True)
    return ws, other


def _import(
    root: Path,
    data: bytes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    second: bool,
) -> tuple[int, Any]:
    """`registry runs import --json` of `data` in blocks of three records, the second process
    starting at the second block (`second`) or never."""
    monkeypatch.setattr(
        "registry_pipeline.core.run_index.records.BLOCK", 3 * len(data.split(b"\n")[0])
    )
    monkeypatch.setattr(blocks, "START_AFTER", 1 if second else 1 << 30)
    done = Cli(root, capsys).runs("import", write_input(root.parent, data), "--json")
    return done.code, done.json


def _sidecar(root: Path) -> list[list[tuple[Any, ...]]]:
    with sqlite3.connect(root / SIDECAR) as db:
        return [db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("records", "runs", "relying")]  # fmt: skip


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of blocks each `Second` answered, and that it was waited for."""
    counts: list[int] = []
    receive, close = blocks.Second.receive, blocks.Second.close

    def counted(self: blocks.Second) -> Any:
        sent, judged = receive(self)
        counts[-1] += judged is not None
        return sent, judged

    def waited(self: blocks.Second, *, kill: bool = False) -> None:
        close(self, kill=kill)
        assert self.process.returncode is not None
        assert not any(thread.is_alive() for thread in self.threads)

    monkeypatch.setattr(blocks.Second, "receive", counted)
    monkeypatch.setattr(blocks.Second, "close", waited)
    monkeypatch.setattr(blocks.Second, "__init__", _counting(blocks.Second.__init__, counts))
    return counts


def _counting(init: Any, counts: list[int]) -> Any:
    def started(self: blocks.Second, *args: Any) -> None:
        init(self, *args)
        counts.append(0)
        assert self.started.wait(timeout=60)  # ready before the few small blocks are judged here

    return started


def test_a_second_process_appends_indexes_and_warns_as_one_process(
    twins: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answered: list[int],
) -> None:
    alone, helped = twins
    data = jsonl(_given())
    expected = _import(alone, data, capsys, monkeypatch, second=False)
    assert answered == []
    found = _import(helped, data, capsys, monkeypatch, second=True)
    assert len(answered) == 1 and answered[0] > 10, answered  # most of 80 blocks, at least
    assert expected[0] == 0 and expected[1]["warning_count"] > 0, expected
    assert found == expected
    assert (helped / RUNS_LOG).read_bytes() == (alone / RUNS_LOG).read_bytes() == data
    assert _sidecar(helped) == _sidecar(alone)


@pytest.mark.parametrize(
    "bad",
    [
        line(record(run_id=run_id(9999), created_utc="yesterday")),  # its own problem
        b'{"run_id": }\n',  # does not parse
        line(record(run_id=run_id(9999), override_id="OVR-20260901-0900-NONE")),  # the rules'
    ],
)
def test_a_second_process_refuses_as_one_process(
    twins: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answered: list[int],
    bad: bytes,
) -> None:
    """A problem late in the input (and one in a block the second process judged) is said as
    one process says it, with its line; nothing is written either way."""
    alone, helped = twins
    lines = jsonl(_given()).splitlines(keepends=True)
    data = b"".join([*lines[:200], bad, *lines[200:], bad])
    expected = _import(alone, data, capsys, monkeypatch, second=False)
    found = _import(helped, data, capsys, monkeypatch, second=True)
    assert answered and answered[0] > 10, answered
    assert expected[0] in (1, 2) and found == expected
    assert (helped / RUNS_LOG).read_bytes() == (alone / RUNS_LOG).read_bytes() == b""


@pytest.mark.parametrize("how", ["dies", "cannot start"])
def test_what_a_second_process_does_not_answer_is_judged_here(
    twins: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    alone, helped = twins
    data = jsonl(_given())
    expected = _import(alone, data, capsys, monkeypatch, second=False)
    if how == "dies":
        init = blocks.Second.__init__

        def killed(self: blocks.Second, *args: Any) -> None:
            init(self, *args)
            assert self.started.wait(timeout=60)
            self.process.kill()  # blocks are sent to it, and none is answered

        monkeypatch.setattr(blocks.Second, "__init__", killed)
    else:
        monkeypatch.setattr(blocks.sys, "executable", str(helped / "no-such-python"))
    found = _import(helped, data, capsys, monkeypatch, second=True)
    assert found == expected
    assert (helped / RUNS_LOG).read_bytes() == data
    assert _sidecar(helped) == _sidecar(alone)


def test_a_second_process_reads_no_module_from_the_working_directory(
    twins: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answered: list[int],
) -> None:
    """An import run from a folder holding a module named as one the second process imports
    (the workspace a user imports into, say) does not run it: Python started with `-c` puts the
    working directory first on its path unless told not to."""
    alone, helped = twins
    data = jsonl(_given())
    expected = _import(alone, data, capsys, monkeypatch, second=False)
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "orjson.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('ran').write_text('ran')\n"
        "raise ImportError('planted')\n"
    )
    monkeypatch.chdir(planted)
    found = _import(helped, data, capsys, monkeypatch, second=True)
    assert not (planted / "ran").exists()  # the planted module never ran
    assert len(answered) == 1 and answered[0] > 10, answered  # the second process judged
    assert found == expected
