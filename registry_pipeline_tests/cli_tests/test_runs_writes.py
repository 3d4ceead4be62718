"""Where `registry runs` writes: only real places inside the workspace, and a query nowhere. A
symlink on the way to the log, its lock, its sidecar's folder or its quarantine is refused
(UNSAFE_PATH naming the link, exit 2) before anything is written, here or where it points (a
symlinked sidecar, a cache, is set aside: test_cache_files_typed.py). Queries on a current
sidecar leave every file as it was (bytes and mtimes), and a workspace that cannot be written at
all (a read-only bind mount, which holds for root too) is answered all the same, from the sidecar
when it is current, else from a temporary index outside the workspace."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import hashes_and_mtimes, link_state, replace_with_link
from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    SIDECAR,
    Cli,
    failing,
    jsonl,
    record,
    run_id,
    utc,
)

LANE = ("--lane", "artist_id=ART-iron-harbor")
QUERIES: list[tuple[str, ...]] = [
    ("show", run_id(1)),
    ("show", run_id(1), "--history"),
    ("show", "RUN-20260101-0000-NONE"),
    ("list",),
    ("list", *LANE, "--since", "2026-09-01", "--limit", "2"),
    ("failed",),
    ("latest", *LANE),
    ("latest", "--lane", "artist_id=ART-nobody"),
]


def _seeded(cli: Cli, ws: Path) -> bytes:
    assert cli.append(record(run_id=run_id(1))).code == 0
    return (ws / RUNS_LOG).read_bytes()


def _refused(cli: Cli, link: Path, *args: str, reason: str = "UNSAFE_PATH") -> None:
    result = cli.runs(*args)
    assert result.code == 2, (result.out, result.err)
    assert result.err.startswith(f"error: {reason} {link}: "), result.err
    assert "symlink" in result.err


@pytest.mark.parametrize(
    ("linked", "reason"),
    [
        (".codex/cache", "UNSAFE_PATH"),
        (".codex/cache/run_index", "UNSAFE_PATH"),
        (".codex", "UNSAFE_RUN_ROOT"),  # the workspace itself refuses it first
    ],
)
def test_append_refuses_a_symlink_on_the_way_to_its_sidecar_or_lock(
    runs_cli: Cli, runs_ws: Path, elsewhere: Path, linked: str, reason: str
) -> None:
    before = _seeded(runs_cli, runs_ws)
    link = replace_with_link(runs_ws / linked, elsewhere)
    state, theirs = link_state(runs_ws), link_state(elsewhere)
    given = jsonl([record(run_id=run_id(2), created_utc=utc(2))])
    (runs_ws.parent / "in.jsonl").write_bytes(given)
    _refused(
        runs_cli, link, "append", "--record-file", str(runs_ws.parent / "in.jsonl"), reason=reason
    )
    assert (runs_ws / RUNS_LOG).read_bytes() == before
    assert (link_state(runs_ws), link_state(elsewhere)) == (state, theirs)


def test_append_refuses_a_symlinked_log_folder(
    runs_cli: Cli, runs_ws: Path, elsewhere: Path
) -> None:
    real = runs_ws.parent / "real_run_index"
    shutil.copytree(runs_ws / "registries" / "run_index", real)
    link = replace_with_link(runs_ws / "registries" / "run_index", real)
    state = link_state(real)
    _refused(runs_cli, link, "append", "--record-json", '{"record_type": "RUN"}')
    _refused(runs_cli, link, "repair")
    assert link_state(real) == state


def test_repair_refuses_a_symlinked_quarantine(
    runs_cli: Cli, runs_ws: Path, elsewhere: Path
) -> None:
    before = _seeded(runs_cli, runs_ws)
    with (runs_ws / RUNS_LOG).open("ab") as log:
        log.write(b'{"record_type": "RU')  # an interrupted append
    link = replace_with_link(runs_ws / ".codex" / "quarantine", elsewhere)
    theirs = link_state(elsewhere)
    _refused(runs_cli, link, "repair")
    assert (runs_ws / RUNS_LOG).read_bytes() == before + b'{"record_type": "RU'
    assert link_state(elsewhere) == theirs


def test_a_query_never_writes_through_a_symlinked_cache(
    runs_cli: Cli, runs_ws: Path, elsewhere: Path
) -> None:
    _seeded(runs_cli, runs_ws)
    link = replace_with_link(runs_ws / ".codex" / "cache", elsewhere)
    theirs = link_state(elsewhere)
    listed = runs_cli.runs("list", "--json")
    assert listed.code == 0, listed.err
    assert listed.run_ids() == [run_id(1)]
    assert f"UNSAFE_PATH {link}" in listed.err and "temporary index" in listed.err
    assert link_state(elsewhere) == theirs


@pytest.fixture
def filled(runs_cli: Cli, runs_ws: Path) -> Path:
    """Runs appended (one augmented, one failed); the sidecar current; no connection open."""
    given = [
        failing(run_id=run_id(1)),
        record(run_id=run_id(2), created_utc=utc(1, 9)),
        failing(run_id=run_id(3), created_utc=utc(2, 9)),
    ]
    assert runs_cli.append(*given).code == 0
    assert runs_cli.append(record(run_id=run_id(1), created_utc=utc(3, 9))).code == 0
    return runs_ws


def _answers(cli: Cli) -> list[tuple[int, str]]:
    """Every query, human and --json: (exit code, stdout)."""
    found = []
    for query in QUERIES:
        for extra in ((), ("--json",)):
            result = cli.runs(*query, *extra)
            assert "INTERNAL" not in result.err, result.err
            found.append((result.code, result.out))
    return found


def test_queries_on_a_current_sidecar_write_nothing(runs_cli: Cli, filled: Path) -> None:
    answers = _answers(runs_cli)  # the first round may bring the sidecar up to the log
    assert [code for code, _out in answers] == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    before = hashes_and_mtimes(filled)
    assert _answers(runs_cli) == answers
    assert hashes_and_mtimes(filled) == before


@contextmanager
def _read_only_view(source: Path, view: Path) -> Iterator[Path]:
    """`source` bind-mounted read-only at `view` (EROFS for root too); skipped if not allowed."""
    view.mkdir()
    bound = subprocess.run(["mount", "--bind", str(source), str(view)], capture_output=True,
                           check=False)  # fmt: skip
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(view)],
                                   capture_output=True, check=False)  # fmt: skip
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remounted.stderr.decode().strip()}")
        probe = view / ".probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


@pytest.mark.parametrize("sidecar", ["current", "missing", "stale"])
def test_a_read_only_workspace_answers_queries(
    runs_cli: Cli, filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], sidecar: str
) -> None:
    expected = _answers(runs_cli)
    if sidecar == "missing":
        (filled / SIDECAR).unlink()
    elif sidecar == "stale":
        with (filled / RUNS_LOG).open("ab") as log:  # a `git pull` of one more record
            log.write(b'{"record_type":"RUN"}\n')
    before = hashes_and_mtimes(filled)
    with _read_only_view(filled, tmp_path / "ro") as view:
        viewer = Cli(view, capsys)
        answers = _answers(viewer)
        notes = viewer.runs("list").err
    assert answers == expected
    if sidecar == "stale":
        assert "LINES_NOT_INDEXED" in notes
    if sidecar != "current":
        assert "SIDECAR_READ_ONLY" in notes and "temporary index" in notes
    assert hashes_and_mtimes(filled) == before


def test_an_append_to_a_read_only_workspace_is_a_clear_error(
    runs_cli: Cli, filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = hashes_and_mtimes(filled)
    with _read_only_view(filled, tmp_path / "ro") as view:
        result = Cli(view, capsys).append(record(run_id=run_id(9), created_utc=utc(9)))
    assert result.code == 1, result.out
    error: dict[str, Any] = result.error
    assert error["code"] == "IO_ERROR" and "Read-only file system" in error["message"]
    assert error["path"] is not None and error["path"].startswith(str(tmp_path / "ro"))
    assert hashes_and_mtimes(filled) == before
