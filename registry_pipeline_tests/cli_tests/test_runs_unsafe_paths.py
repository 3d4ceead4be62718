"""The run index writes only real places inside the workspace: a symlink on the way to its log,
its lock, its sidecar's folder or its quarantine is refused (UNSAFE_PATH naming the link, exit 2)
before anything is written, here or where the link points. The sidecar file itself is a cache:
a symlink there is set aside (the link moved to quarantine, never followed) and the sidecar
rebuilt, said once. A query never writes through a link on the way: it answers from a temporary
index instead."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import link_state, replace_with_link
from registry_pipeline_tests.core_tests.run_index._support import (
    QUARANTINE,
    RUNS_LOG,
    SIDECAR,
    Cli,
    jsonl,
    make_workspace,
    record,
    run_id,
    settle,
    utc,
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


@pytest.fixture
def cli(ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)
    return Cli(ws, capsys)


def _seeded(cli: Cli, ws: Path) -> bytes:
    assert cli.append(record(run_id=run_id(1))).code == 0
    settle()
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
    cli: Cli, ws: Path, elsewhere: Path, linked: str, reason: str
) -> None:
    before = _seeded(cli, ws)
    link = replace_with_link(ws / linked, elsewhere)
    state, theirs = link_state(ws), link_state(elsewhere)
    given = jsonl([record(run_id=run_id(2), created_utc=utc(2))])
    (ws.parent / "in.jsonl").write_bytes(given)
    _refused(cli, link, "append", "--record-file", str(ws.parent / "in.jsonl"), reason=reason)
    settle()
    assert (ws / RUNS_LOG).read_bytes() == before
    assert (link_state(ws), link_state(elsewhere)) == (state, theirs)


@pytest.mark.parametrize("target", ["elsewhere", "theirs.txt"])
def test_append_sets_a_symlinked_sidecar_aside(
    cli: Cli, ws: Path, elsewhere: Path, target: str
) -> None:
    """The sidecar itself a link (to a folder or a file out of the workspace): the link is set
    aside under `.codex/quarantine/`, never followed, the record appended, the sidecar rebuilt
    in its place and it is said once (one `note: SET_ASIDE` line)."""
    before = _seeded(cli, ws)
    pointed = elsewhere if target == "elsewhere" else elsewhere / target
    link = replace_with_link(ws / SIDECAR, pointed)
    theirs = link_state(elsewhere)
    result = cli.append(record(run_id=run_id(2), created_utc=utc(2)))
    settle()
    assert result.code == 0, (result.out, result.err)
    assert json.loads(result.out)["appended"] == 1
    assert (ws / RUNS_LOG).read_bytes().startswith(before)
    assert link.is_file() and not link.is_symlink()
    [kept] = list((ws / QUARANTINE).iterdir())
    assert kept.is_symlink() and os.readlink(kept) == str(pointed)
    notes = [line for line in result.err.splitlines() if line.startswith("note: SET_ASIDE")]
    assert notes == [
        f"note: SET_ASIDE {link}: it was a symlink (to {pointed}), not a regular file; it is "
        f"kept at {kept.relative_to(ws).as_posix()} and the sidecar index is rebuilt from the log"
    ]
    assert link_state(elsewhere) == theirs
    assert cli.runs("list", "--json").run_ids() == [run_id(1), run_id(2)]


def test_append_refuses_a_symlinked_log_folder(cli: Cli, ws: Path, elsewhere: Path) -> None:
    real = ws.parent / "real_run_index"
    shutil.copytree(ws / "registries" / "run_index", real)
    link = replace_with_link(ws / "registries" / "run_index", real)
    state = link_state(real)
    _refused(cli, link, "append", "--record-json", '{"record_type": "RUN"}')
    _refused(cli, link, "repair")
    assert link_state(real) == state


def test_repair_refuses_a_symlinked_quarantine(cli: Cli, ws: Path, elsewhere: Path) -> None:
    before = _seeded(cli, ws)
    with (ws / RUNS_LOG).open("ab") as log:
        log.write(b'{"record_type": "RU')  # an interrupted append
    link = replace_with_link(ws / ".codex" / "quarantine", elsewhere)
    theirs = link_state(elsewhere)
    _refused(cli, link, "repair")
    assert (ws / RUNS_LOG).read_bytes() == before + b'{"record_type": "RU'
    assert link_state(elsewhere) == theirs


def test_a_query_never_writes_through_a_symlinked_cache(
    cli: Cli, ws: Path, elsewhere: Path
) -> None:
    _seeded(cli, ws)
    link = replace_with_link(ws / ".codex" / "cache", elsewhere)
    theirs = link_state(elsewhere)
    listed = cli.runs("list", "--json")
    assert listed.code == 0, listed.err
    assert listed.run_ids() == [run_id(1)]
    assert f"UNSAFE_PATH {link}" in listed.err and "temporary index" in listed.err
    settle()
    assert link_state(elsewhere) == theirs
