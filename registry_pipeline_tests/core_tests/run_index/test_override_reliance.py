"""An override a run relies on cannot be narrowed or re-pointed: appending to the overrides log,
and the overrides log's own build `rules` check, refuse a record that would leave a run naming
that override (any of its records relying on it, a superseded one too, in the run index the log
serves) uncovered, one problem per record and check, judged by the same `coverage` rule the run
index's check uses."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.run_index import RunIndex, log_problems
from registry_pipeline.core.write_path.content import EntryType, Keep, TypeContent, log_content
from registry_pipeline_tests.core_tests.run_index._support import (
    COORDINATION,
    DROP,
    OVERRIDES_LOG,
    RUNS_LOG,
    SIDECAR,
    Cli,
    found,
    jsonl,
    log_rows,
    override,
    record,
    run_id,
    write_input,
)

OVR = "OVR-20260901-0900-OOOO"
LATER = "2026-09-01T09:05Z"


def _ovr(**fields: object) -> dict[str, object]:
    """A record of OVR, for run 1 unless `fields` say otherwise."""
    return override(**{"override_id": OVR, "run_id": run_id(1), **fields})


RELYING = record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=OVR)
"""Run 1 passing with uniqueness_scene FAILed: it relies on OVR."""
NARROWED = _ovr(created_utc=LATER, checks=["uniqueness_hook"])
"""OVR narrowed to a check run 1 did not fail."""


@pytest.fixture
def logged(cli: Cli, ws: Path) -> Path:
    """OVR logged, for run 1, covering uniqueness_scene."""
    assert cli.append(_ovr(), index="run_overrides").code == 0
    return ws


@pytest.fixture
def relied(cli: Cli, logged: Path) -> Path:
    """OVR logged, and run 1 relying on it (RELYING appended)."""
    assert cli.append(RELYING).code == 0
    return logged


def _overrides_errors(
    ws: Path, data: bytes, runs: bytes | None = None
) -> list[tuple[int, str, str]]:
    """`log_problems` of the overrides log; with `runs`, the run index read through `read=`
    (as the build reads a sealed snapshot) holding those bytes instead of the working tree."""
    index = RunIndex.open(ws, "run_overrides")

    def read(_root: Path, entry_type: EntryType, /, keep: Keep | None = None) -> TypeContent:
        held = runs if entry_type.registry_id == "run_index" else (ws / OVERRIDES_LOG).read_bytes()
        return log_content(entry_type, [held or b""], keep)  # as SnapshotReader reads a log

    try:
        found = log_problems(
            index.root, index.catalog, index.spec, data, read=None if runs is None else read
        )
    finally:
        index.close()
    return [(p.line, p.field, p.code) for p in found if p.severity == "error"]


CHANGES = {
    "narrowed": ({"checks": ["uniqueness_hook"]}, "/checks", "OVERRIDE_NOT_COVERING"),
    "repointed": ({"run_id": run_id(2)}, "/run_id", "OVERRIDE_OTHER_RUN"),
}


@pytest.mark.parametrize("superseded", [False, True], ids=["latest", "superseded"])
@pytest.mark.parametrize("change", CHANGES)
def test_narrowing_or_repointing_an_override_a_run_relies_on_is_refused(
    cli: Cli, relied: Path, change: str, superseded: bool
) -> None:
    """Refused whether run 1's latest view relies on OVR or only its first record does (a later
    one FAILed qa_gate2): the run index's own `rules` check judges every record, so the changed
    OVR would fail that log for good. Append says so first, by the same rule, and the overrides
    log's build check (reading the working tree or the run index's sealed snapshot) alike."""
    fields, field, code = CHANGES[change]
    if superseded:
        _superseded(cli)
    before = (relied / OVERRIDES_LOG).read_bytes()
    changed = _ovr(created_utc=LATER, **fields)
    refused = cli.append(changed, index="run_overrides")
    assert refused.code == 1, refused.out
    assert refused.error["code"] == "RECORD_REFUSED"
    details = refused.error["details"]
    assert [(d["line"], d["field"], d["code"], d["key"]) for d in details] == [
        (1, field, code, OVR)
    ]
    assert (relied / OVERRIDES_LOG).read_bytes() == before
    runs = (relied / RUNS_LOG).read_bytes()
    after = before + jsonl([changed])
    assert _overrides_errors(relied, after) == [(2, field, code)]
    assert _overrides_errors(relied, after, runs=runs) == [(2, field, code)]
    assert log_rows(relied, runs, "line", "code", errors=True) == []
    (relied / OVERRIDES_LOG).write_bytes(after)  # as if it had gone in:
    assert log_rows(relied, runs, "line", "code", errors=True) == [(1, code)]


def test_widening_or_an_unnamed_override_is_accepted(cli: Cli, relied: Path) -> None:
    wider = _ovr(created_utc=LATER, checks=["uniqueness_scene", "uniqueness_hook"])
    free = _ovr(override_id="OVR-20260901-0901-FREE", run_id=run_id(9))
    assert cli.append(wider, free, index="run_overrides").code == 0
    assert _overrides_errors(relied, (relied / OVERRIDES_LOG).read_bytes()) == []


def test_only_the_latest_override_record_is_judged_by_the_build(relied: Path) -> None:
    """A narrow record later widened again leaves no run uncovered."""
    widened = _ovr(created_utc="2026-09-01T09:06Z")
    data = (relied / OVERRIDES_LOG).read_bytes() + jsonl([NARROWED, widened])
    assert _overrides_errors(relied, data) == []


def test_the_build_reads_the_run_index_through_read(relied: Path) -> None:
    """The snapshot read decides, whatever the tree holds: one without a run relying on OVR
    leaves nothing to refuse; one with a line no reader parses (here before the record that
    relies on OVR) leaves the runs relying unknown: DEPENDENCY_UNREADABLE, as the coordination
    rules say of it too, never a pass (here without any coordination rule)."""
    narrowed = (relied / OVERRIDES_LOG).read_bytes() + jsonl([NARROWED])
    assert _overrides_errors(relied, narrowed, runs=jsonl([record(run_id=run_id(3))])) == []
    (relied / COORDINATION).write_text('version: "0.1"\nrules: []\n', encoding="utf-8")
    runs = b"\xef\xbb\xbf{}\n" + (relied / RUNS_LOG).read_bytes()
    assert _overrides_errors(relied, narrowed, runs=runs) == [(None, "", "DEPENDENCY_UNREADABLE")]


def test_a_relying_line_the_index_cannot_read_counts_on_neither_path(
    cli: Cli, ws: Path, logged: Path
) -> None:
    """A relying record whose time does not parse is a line the run index cannot index (its
    own check says TIME_INVALID): neither the CLI's sidecar nor the build's snapshot read
    counts it as relying, so both accept the narrowing alike."""
    typed = record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=OVR,
                   created_utc="yesterday")  # fmt: skip
    (ws / RUNS_LOG).write_bytes(jsonl([typed]))
    changed = (ws / OVERRIDES_LOG).read_bytes() + jsonl([NARROWED])
    assert _overrides_errors(ws, changed, runs=(ws / RUNS_LOG).read_bytes()) == []
    assert cli.append(NARROWED, index="run_overrides").code == 0


def test_an_override_is_judged_through_a_sidecar_missing_its_relying_table(
    cli: Cli, relied: Path
) -> None:
    """The sidecar's table of relying records dropped by hand: rebuilt from the log, as a
    damaged page is, and the narrowing refused (not DEPENDENCY_UNREADABLE on every append)."""
    with contextlib.closing(sqlite3.connect(relied / SIDECAR)) as db:
        db.execute("DROP TABLE relying")
    narrowed = cli.append(NARROWED, index="run_overrides")
    assert narrowed.code == 1, narrowed.out
    assert found(narrowed.error["details"]) == [(1, "/checks", "OVERRIDE_NOT_COVERING")]


def _superseded(cli: Cli) -> None:
    """Run 1's later record no longer needs OVR (it FAILed qa_gate2): only its first relies."""
    later = record(run_id=run_id(1), created_utc="2026-09-02T09:00Z", qa_gate2="FAIL",
                   work_id=DROP, version_ids=DROP)  # fmt: skip
    assert cli.append(later).code == 0


def _held_append(
    ws: Path, tmp_path: Path, given: dict[str, Any], index_id: str, at: str = "run_index_judged"
) -> Held:
    """`registry runs append` of `given` in another process, stopped at the crash point `at`
    (default: its checks done, before its locks) until the returned hold is let go."""
    hold = tmp_path / "hold"
    hold.touch()
    env = {key: value for key, value in os.environ.items() if key != "REGISTRY_WORKSPACE"}
    env["REGISTRY_PIPELINE_HOLD_AT"] = f"{at}:{hold}"
    argv = [sys.executable, "-m", "registry_pipeline", "runs", "append", "--record-file",
            write_input(tmp_path, [given], "held.jsonl"), "--index", index_id,
            "--workspace", str(ws), "--json"]  # fmt: skip
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    while not (tmp_path / "hold.reached").exists():  # it has checked, and waits
        assert process.poll() is None, "the held append ended before its locks"
        time.sleep(0.05)  # polling an observable condition
    return Held(process, hold)


@dataclass
class Held:
    """An append in another process, waiting at `run_index_judged` while `hold` exists."""

    process: subprocess.Popen[str]
    hold: Path

    def release(self, code: int = 1) -> dict[str, Any]:
        """Let the append go on; its --json document (an error's object for exit 1)."""
        self.hold.unlink()
        out, _err = self.process.communicate(timeout=120)
        assert self.process.returncode == code, out
        document: dict[str, Any] = json.loads(out)
        return document["error"] if code == 1 else document


def _both_logs_pass(ws: Path) -> None:
    """The build's verdict on both logs as they are: no error (what append let in, it keeps)."""
    for index_id, log in (("run_index", RUNS_LOG), ("run_overrides", OVERRIDES_LOG)):
        index = RunIndex.open(ws, index_id)
        try:
            judged = log_problems(index.root, index.catalog, index.spec, ws / log)
        finally:
            index.close()
        assert [(p.line, p.code) for p in judged if p.severity == "error"] == [], index_id


def test_a_run_relying_on_an_override_narrowed_while_it_is_checked_is_refused(
    cli: Cli, ws: Path, logged: Path, tmp_path: Path
) -> None:
    """The two logs have a lock each, and an append holds both: a run record checked against
    OVR as it was, while OVR is NARROWED, is judged again under the locks and refused."""
    held = _held_append(ws, tmp_path, RELYING, "run_index")
    try:
        assert cli.append(NARROWED, index="run_overrides").code == 0  # nobody relies on it yet
    finally:
        error = held.release()
    assert error["code"] == "RECORD_REFUSED"
    assert found(error["details"]) == [(1, "/uniqueness_scene", "OVERRIDE_NOT_COVERING")]
    assert (ws / RUNS_LOG).read_bytes() == b""
    _both_logs_pass(ws)


def test_an_override_narrowed_while_a_run_comes_to_rely_on_it_is_refused(
    cli: Cli, ws: Path, logged: Path, tmp_path: Path
) -> None:
    """The other way round: the narrowing record is checked against the run index as it was,
    a run relying on OVR is appended meanwhile, and the narrowing is refused under the locks."""
    before = (ws / OVERRIDES_LOG).read_bytes()
    held = _held_append(ws, tmp_path, NARROWED, "run_overrides")
    try:
        assert cli.append(RELYING).code == 0  # OVR covers it as logged
    finally:
        error = held.release()
    assert error["code"] == "RECORD_REFUSED"
    assert found(error["details"]) == [(1, "/checks", "OVERRIDE_NOT_COVERING")]
    assert (ws / OVERRIDES_LOG).read_bytes() == before
    _both_logs_pass(ws)


def test_an_overrides_append_holds_no_lock_a_plain_run_append_needs(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    """Only records naming an override tie an append to the overrides log: a run record that
    names none goes in while an overrides append holds its own lock (held there, at the crash
    point `run_index_checked`), instead of waiting for it."""
    held = _held_append(ws, tmp_path, _ovr(), "run_overrides", at="run_index_checked")
    try:
        plain = cli.append(record(run_id=run_id(2)))
        assert plain.code == 0, plain.out
    finally:
        assert held.release(code=0)["committed"] is True
    _both_logs_pass(ws)


def test_a_line_written_without_the_lock_while_an_append_holds_it_keeps_none_of_its_records(
    ws: Path, tmp_path: Path
) -> None:
    """An append held under its lock before its write (`run_index_checked`) while a line is
    added to the log by hand, without the lock: its one write is taken back
    (LOG_WRITTEN_UNLOCKED, nothing appended), the log is as the hand left it."""
    held = _held_append(ws, tmp_path, record(run_id=run_id(1)), "run_index", at="run_index_checked")
    try:
        with (ws / RUNS_LOG).open("ab") as log:
            log.write(jsonl([record(run_id=run_id(2))]))
        by_hand = (ws / RUNS_LOG).read_bytes()
    finally:
        error = held.release()
    assert error["code"] == "LOG_WRITTEN_UNLOCKED", error  # exit 1 (`release`)
    assert "nothing was appended" in error["message"]
    assert (ws / RUNS_LOG).read_bytes() == by_hand


def test_the_overrides_read_again_under_the_locks_is_never_written_through_a_symlink(
    cli: Cli, ws: Path, logged: Path, tmp_path: Path
) -> None:
    """The overrides log's sidecar, replaced by a symlink out of the workspace (to a stale
    copy of it) while a relying run append waits for its locks, is not written through: the
    override rule reads the log from a temporary index instead, and refuses the run as before."""
    held = _held_append(ws, tmp_path, RELYING, "run_index")
    sidecar = ws / ".codex" / "cache" / "run_index" / "run_overrides.sqlite3"
    outside = tmp_path / "outside.sqlite3"
    try:
        shutil.copyfile(sidecar, outside)  # before the narrowing: behind the log
        assert cli.append(NARROWED, index="run_overrides").code == 0
        sidecar.unlink()
        sidecar.symlink_to(outside)
        kept = outside.read_bytes()
    finally:
        error = held.release()
    assert found(error["details"]) == [(1, "/uniqueness_scene", "OVERRIDE_NOT_COVERING")]
    assert outside.read_bytes() == kept


def test_a_run_relying_on_an_override_is_judged_through_a_damaged_overrides_sidecar(
    cli: Cli, ws: Path, logged: Path
) -> None:
    """Pages of the overrides log's sidecar overwritten: the override rule rebuilds it from the
    log, as a query does, and judges the run (no INTERNAL)."""
    sidecar = ws / ".codex" / "cache" / "run_index" / "run_overrides.sqlite3"
    with sidecar.open("r+b") as handle:  # pages 5-7: tables a query reads, not the state's
        handle.seek(4 * 4096)
        handle.write(b"\xa5" * 3 * 4096)
    appended = cli.append(RELYING)
    assert appended.code == 0, appended.out
    narrowing = cli.append(NARROWED, index="run_overrides")
    assert narrowing.code == 1 and narrowing.error["code"] == "RECORD_REFUSED"


def test_a_narrowing_written_after_a_torn_tail_was_repaired_is_seen_under_the_locks(
    cli: Cli, ws: Path, logged: Path, tmp_path: Path
) -> None:
    """The overrides log ended in a torn line when the run append read it; `runs repair` cut
    that line back and a narrowing record went in meanwhile: the new line starts where the
    complete lines ended then, not where the file did, and the run is refused."""
    with (ws / OVERRIDES_LOG).open("ab") as log:
        log.write(b'{"override_id":"OVR-2026')  # an interrupted append
    held = _held_append(ws, tmp_path, RELYING, "run_index")
    try:
        assert cli.runs("repair", "--index", "run_overrides", "--json").code == 0
        assert cli.append(NARROWED, index="run_overrides").code == 0
    finally:
        error = held.release()
    assert found(error["details"]) == [(1, "/uniqueness_scene", "OVERRIDE_NOT_COVERING")]
    _both_logs_pass(ws)


@pytest.mark.parametrize(
    "line",
    [
        b'{"override_id":["x"],"run_id":"RUN-20260901-0001-0001","checks":[]}\n',
        b"[" * 100_000 + b"]" * 100_000 + b"\n",
    ],
    ids=["unhashable-id", "nested-deep"],
)
def test_a_line_typed_into_the_other_log_meanwhile_is_no_record_of_it(
    cli: Cli, ws: Path, logged: Path, tmp_path: Path, line: bytes
) -> None:
    """A line no record can be (an id that is a list, nesting past any parser's depth) typed
    into the overrides log while a relying run append waits: the run is judged on the records
    there are, as any read of the log skips such a line, never INTERNAL."""
    held = _held_append(ws, tmp_path, RELYING, "run_index")
    try:
        with (ws / OVERRIDES_LOG).open("ab") as log:
            log.write(line)
    finally:
        document = held.release(code=0)
    assert document["committed"] is True


def test_a_line_the_index_cannot_read_is_judged_alike_racing_or_not(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    """A relying run line with a repeated key, typed into the run index while a narrowing
    waits for its lock, is no record to the recheck, as it is none to the sidecar: the held
    narrowing and one appended afterwards get the override rule's one verdict (without a
    coordination rule, which would refuse the unreadable run index on its own, unrechecked)."""
    (ws / COORDINATION).write_text('version: "0.1"\nrules: []\n', encoding="utf-8")
    assert cli.append(_ovr(), index="run_overrides").code == 0
    typed = jsonl([RELYING])[:-2] + b',"qa_gate2":"PASS"}\n'  # the key twice: the index skips it
    held = _held_append(ws, tmp_path, NARROWED, "run_overrides")
    try:
        with (ws / RUNS_LOG).open("ab") as log:
            log.write(typed)
    finally:
        assert held.release(code=0)["committed"] is True
    again = cli.append(_ovr(created_utc="2026-09-01T09:06Z", checks=["uniqueness_hook"]),
                       index="run_overrides")  # fmt: skip
    assert again.code == 0, again.out
