"""An import read in many blocks (`runs import`, `append_stream`; a block scaled down to a few
records): each record's warnings and problems at its line, a line that does not parse or is too
long refused in its turn, the lines appended as `dumps_compact` writes them; a run's order kept in
memory decides as the SQLite order of the runs does (generated sequences); the sidecar an import
writes from what it noted equals the sidecar built again from the log; `runs failed --json`
writes each run as its JSON object."""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.run_index import RunIndex, append, query, records
from registry_pipeline.core.run_index import sidecar as index_module
from registry_pipeline.core.run_index.append import against, append_records, append_stream
from registry_pipeline.core.run_index.query import failed_lines, failed_runs
from registry_pipeline.core.run_index.records import Order, Warnings, saved
from registry_pipeline.core.run_index.records import times as index_times
from registry_pipeline.core.run_index.spec import Condition, IndexSpec, Predicate
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    OVERRIDES_LOG,
    RUNS_LOG,
    SIDECAR,
    jsonl,
    make_workspace,
    override,
    record,
    run_id,
    utc,
)

BLOCK = 4096
"""Bytes per block here (a few records each: an input of many blocks)."""


def _records(count: int) -> list[dict[str, Any]]:
    """`count` valid records: new runs, runs augmented later, runs with their log on another
    machine or missing here (warnings), a Final Save without its recommended fields, and one
    that passed with a failed check under a logged override."""
    found: list[dict[str, Any]] = []
    for n in range(count):
        minute = utc(2, n // 60 % 24, n % 60)
        if n % 7 == 3 and n > 10:  # augments the run of record n - 10, later
            earlier = found[n - 10]
            found.append({**earlier, "created_utc": minute, "notes": f"again {n}"})
            continue
        extra: dict[str, Any] = {}
        if n % 5 == 1:
            extra["run_log_filepath_abs"] = f"/nonexistent-{n % 3}/runs/{n}/RUN_LOG.md"
        if n % 11 == 2:
            extra["scripture_packet_id"] = DROP
        if n % 13 == 4:
            extra["last_updated_utc"] = utc(2, n // 60 % 24 + 1, n % 60)
        found.append(record(run_id=run_id(n, day=2), created_utc=minute, **extra))
    found.append(
        record(
            run_id=run_id(count, day=2),
            created_utc=utc(3),
            uniqueness_scene="FAIL",
            override_id="OVR-20260901-0900-OOOO",
        )
    )
    return found


def _streamed(ws: Path, data: bytes) -> Any:
    """The verdict of importing `data` into the index of `ws`, read a block at a time."""
    index = RunIndex.open(ws)
    try:
        result = append_stream(index, io.BytesIO(data), "in.jsonl")
        return "appended", result.as_json()
    except RegistryError as exc:
        details = [d.as_json() for d in exc.problems]
        return "refused", exc.code, exc.message, exc.line, exc.column, details
    finally:
        index.close()


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace whose overrides log holds the one override; blocks of BLOCK bytes."""
    monkeypatch.setattr(records, "BLOCK", BLOCK)
    made = make_workspace(tmp_path)
    (made / OVERRIDES_LOG).write_bytes(
        jsonl([override(run_id=run_id(80, day=2), checks=["uniqueness_scene"])])
    )
    return made


def test_valid_records_are_appended_with_each_records_warnings(ws: Path) -> None:
    records = _records(80)
    data = jsonl(records)
    assert len(data) > 10 * BLOCK
    verdict = _streamed(ws, data)
    assert verdict[0] == "appended"
    assert (ws / RUNS_LOG).read_bytes() == data
    index = RunIndex.open(ws)
    view = Warnings(index.spec)  # record by record
    warnings = [
        view.warning(n, r, name, code).as_json()
        for n, r in enumerate(records, start=1)
        for name, code in view.warned(r, saved(index.spec, r))
    ]
    index.close()
    assert {w["code"] for w in warnings} == {"FILE_ABSENT", "RECOMMENDED_MISSING"}
    assert verdict[1]["appended"] == len(records)
    assert verdict[1]["warning_count"] == len(warnings)
    assert verdict[1]["warnings"] == [{**w, "path": "in.jsonl"} for w in warnings]
    assert _sidecar(ws) == _rebuilt(ws)


def test_lines_spooled_to_a_file_are_appended_then_found_on_a_retry(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SPOOLED bytes the lines wait in a temporary file; a retry compares them with the
    log a WINDOW at a time (a window ending inside a line)."""
    monkeypatch.setattr(append, "SPOOLED", 1000)
    monkeypatch.setattr(append, "WINDOW", 999)
    data = jsonl(_records(80))
    assert _streamed(ws, data)[0] == "appended"
    assert (ws / RUNS_LOG).read_bytes() == data
    retried = _streamed(ws, data)
    assert retried[0] == "appended" and retried[1]["already_appended"], retried
    assert (retried[1]["first_line"], retried[1]["appended"]) == (1, 0)
    more = jsonl([record(run_id=run_id(90, day=2), created_utc=utc(4))])
    partial = _streamed(ws, data + more)
    assert partial[:2] == ("refused", "PARTIAL_RETRY"), partial
    assert [(d["line"], d["matched"], d["given"]) for d in partial[5]] == [(82, 81, 82)]
    assert (ws / RUNS_LOG).read_bytes() == data


def test_invalid_records_in_later_blocks_are_each_listed(ws: Path) -> None:
    records = _records(80)
    records[33]["machine_id"] = "C9"
    records[47]["run_log_filepath_abs"] = "runs/RUN_LOG.md"
    records[61]["created_utc"] = "yesterday"
    verdict = _streamed(ws, jsonl(records))
    assert verdict[:2] == ("refused", "RECORD_INVALID")
    assert [(d["line"], d["code"]) for d in verdict[5]] == [
        (34, "SCHEMA_VIOLATION"),
        (48, "PATH_NOT_ABSOLUTE"),
        (62, "TIME_INVALID"),
        (62, "SCHEMA_VIOLATION"),
    ]


def test_an_unparsable_line_wins_over_earlier_invalid_records(ws: Path) -> None:
    lines = jsonl(_records(80)).splitlines(keepends=True)
    lines[5] = lines[5].replace(b'"C1"', b'"C7"')
    lines[52] = lines[52][:40] + b"\n"
    verdict = _streamed(ws, b"".join(lines))
    assert verdict[1:5] == ("RECORD_UNPARSABLE", verdict[2], 53, verdict[4])
    assert verdict[4] is not None  # its column too
    assert (ws / RUNS_LOG).read_bytes() == b""


def test_a_line_too_long_is_refused_in_its_turn(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_LINE_BYTES", 2000)
    lines = jsonl(_records(80)).splitlines(keepends=True)
    long = record(run_id=run_id(99, day=2), notes="x" * 2100)
    verdict = _streamed(ws, b"".join([*lines[:60], *jsonl([long]).splitlines(True), *lines[60:]]))
    assert verdict[1:4] == (
        "RECORD_UNPARSABLE",
        "line 61 does not parse: longer than 2000 bytes; nothing was written",
        61,
    )
    lines[20] = b"{]\n"
    verdict = _streamed(ws, b"".join([*lines[:60], *jsonl([long]).splitlines(True), *lines[60:]]))
    assert verdict[1:4] == ("RECORD_UNPARSABLE", verdict[2], 21)


@pytest.mark.parametrize("chunk", [append.CHUNK, 7])
def test_records_out_of_order_and_overrides_are_refused(
    ws: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The rules judge the records they can say anything about a CHUNK at a time."""
    monkeypatch.setattr(append, "CHUNK", chunk)
    records = _records(80)
    records[70] = {**records[12], "notes": "created no later than the run's first"}
    records[75] = {
        **records[75],
        "uniqueness_hook": "FAIL",
        "override_id": "OVR-20260902-0900-NONE",
    }
    verdict = _streamed(ws, jsonl(records))
    assert verdict[:2] == ("refused", "AUGMENT_NOT_LATER")
    assert [d["line"] for d in verdict[5]] == [71]
    records[70] = _records(80)[70]
    verdict = _streamed(ws, jsonl(records))
    assert verdict[:2] == ("refused", "RECORD_REFUSED")
    assert [(d["line"], d["code"]) for d in verdict[5]] == [(76, "run-override-exists")]


def test_spelt_out_crlf_and_unterminated_lines_are_appended_compact(ws: Path) -> None:
    records = _records(80)
    text = b"".join(
        (json.dumps(r).encode() + b"\r\n") if n % 4 == 0 else jsonl([r])
        for n, r in enumerate(records)
    )
    verdict = _streamed(ws, b"\n" + text[:-2])  # the last line without its CRLF
    assert verdict[0] == "appended"
    assert (ws / RUNS_LOG).read_bytes() == jsonl(records).replace(b'": ', b'":')


def test_appending_to_runs_the_index_has_writes_the_sidecar_its_rebuild_would(ws: Path) -> None:
    records = _records(80)
    index = RunIndex.open(ws)
    try:
        append_records(index, enumerate(records[:40], start=1))
        later = [
            {**r, "created_utc": utc(5, 10, n), "last_updated_utc": utc(5, 11, n), "notes": "later"}
            for n, r in enumerate(records[:15])
        ]
        append_records(index, enumerate([*later, *records[40:]], start=1))
    finally:
        index.close()
    assert _sidecar(ws) == _rebuilt(ws)


def _sidecar(ws: Path) -> dict[str, Any]:
    """What the sidecar holds (its stamp aside)."""
    with sqlite3.connect(ws / SIDECAR) as db:
        found = {
            "records": db.execute("SELECT * FROM records ORDER BY seq").fetchall(),
            "runs": db.execute("SELECT * FROM runs ORDER BY key").fetchall(),
            "blocks": db.execute("SELECT * FROM blocks ORDER BY i").fetchall(),
            "meta": db.execute("SELECT * FROM meta WHERE k != 'stamp' ORDER BY k").fetchall(),
        }
    db.close()
    return found


def _rebuilt(ws: Path) -> dict[str, Any]:
    """`_sidecar` after it was built again from the log."""
    index = RunIndex.open(ws)
    try:
        with index.locked():  # type: ignore[attr-defined]
            index.discard()
            index.sync(locked=True)
    finally:
        index.close()
    return _sidecar(ws)


# --- the order of a run's records ----------------------------------------------------------

PLACES = st.tuples(st.integers(0, 3), st.integers(0, 3))


@settings(max_examples=4 * settings().max_examples, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abcdefg"), PLACES), max_size=25),
    st.dictionaries(st.sampled_from("abcdefgh"), PLACES, max_size=4),
    st.lists(st.integers(1, 6), max_size=8),
)
def test_the_order_decides_as_the_sqlite_order_did(
    given_records: list[tuple[str, tuple[int, int]]],
    index_has: dict[str, tuple[int, int]],
    cuts: list[int],
) -> None:
    order = Order()
    for line, (key, place) in enumerate(given_records, start=1):
        order.add(line, key, *place)
    bulk, at = Order(), 0  # the same records added in slices (`extend`: an import's blocks)
    for size in [*cuts, len(given_records)]:
        part = given_records[at : at + size]
        lines = range(at + 1, at + 1 + len(part))
        keys = [key for key, _place in part]
        bulk.extend(lines, keys, [p[0] for _k, p in part], [p[1] for _k, p in part])
        at += len(part)
    assert (bulk.first, bulk.top, bulk.later) == (order.first, order.top, order.later)
    assert (bulk.lines, bulk.created, bulk.updated) == (order.lines, order.created, order.updated)
    rows = [(line, key, place) for line, (key, place) in enumerate(given_records, start=1)]
    # later: a record whose key had one at an equal or later place before it
    expected = [
        (line, key)
        for line, key, place in rows
        if any(k == key and p >= place for ln, k, p in rows if ln < line)
    ]
    assert order.later == expected
    # latest_lines: each key's greatest place, ties the later line
    latest = {max((p, ln) for ln, k, p in rows if k == key)[1] for _l, key, _p in rows}
    assert order.latest_lines() == latest
    # against: the first record of each key the index has at an equal or later place
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE runs (key TEXT PRIMARY KEY, last_t INTEGER, last_c INTEGER)")
        db.executemany("INSERT INTO runs VALUES (?, ?, ?)", [(k, *p) for k, p in index_has.items()])
        firsts: dict[str, tuple[int, tuple[int, int]]] = {}
        for line, key, place in rows:
            firsts.setdefault(key, (line, place))
        conflicts, known = against(db, order)
        assert conflicts == [
            (line, key)
            for key, (line, place) in firsts.items()
            if key in index_has and place <= index_has[key]
        ]
    assert known == len({key for key in firsts if key in index_has})
    assert list(order.first) == list(firsts)  # in the order first given
    assert [given_records[order.top.get(k, at)][0] for k, at in order.first.items()] == list(firsts)
    db.close()


@settings(max_examples=settings().max_examples * 3 // 2, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abcd"), PLACES, st.booleans()), min_size=1, max_size=30),
    st.integers(0, 30),
)
def test_the_sidecar_folds_records_into_runs_one_at_a_time(
    given_records: list[tuple[str, tuple[int, int], bool]], covered: int
) -> None:
    """A log in any order (written by hand), indexed whole or its first lines before the rest:
    each run's first record is its earliest (ties: the first line), its latest view the latest
    (ties: the later line), its count every record: the fold of its records one at a time."""
    spec = IndexSpec(
        "runs", "run", "runs.jsonl", "RUNS.jsonl", "id", "t", lanes=("lane",),
        success=Predicate("all", (Condition("gate", ("PASS",)),)),
    )  # fmt: skip
    records = [
        {"id": key, "t": utc(1, 8, p[0]), "last_updated_utc": utc(1, 9, p[1]), "lane": key,
         "gate": "PASS" if passed else "FAIL"}
        for key, p, passed in given_records
    ]  # fmt: skip
    runs: dict[str, list[Any]] = {}
    given = zip(records, given_records, strict=True)
    for seq, (written, (key, _place, passed)) in enumerate(given, start=1):
        t, c = index_times(spec, written)
        run = runs.setdefault(key, [t, seq, t, c, seq, 0, passed])
        run[5] += 1
        if t < run[0]:
            run[:2] = [t, seq]
        if (t, c) >= (run[2], run[3]):
            run[2:5], run[6] = [t, c, seq], passed
    expected = sorted(
        (key, first_t, first_seq, last_t, last_c, last_seq, n, int(passed))
        for key, (first_t, first_seq, last_t, last_c, last_seq, n, passed) in runs.items()
    )
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "runs.jsonl"
        data = jsonl(records)
        cut = sum(len(line) + 1 for line in data.split(b"\n")[: min(covered, len(records))])
        log.write_bytes(data[:cut])
        db = index_module.connect_private()
        try:
            index_module.refresh(db, spec, log, index_module.Stale(rebuild=True))
            log.write_bytes(data)
            index_module.refresh(db, spec, log, index_module.Stale(rebuild=False, covered=cut))
            found = db.execute(
                "SELECT key, first_t, first_seq, last_t, last_c, last_seq, n, success FROM runs "
                "ORDER BY key"
            ).fetchall()
        finally:
            db.close()
    assert found == expected


def test_failed_runs_are_written_as_their_json_objects(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`runs failed --json` writes each run's latest view as the log holds it, in the object
    of its key, what FAILed, its override and the record (in that order), whether the run was
    marked from its record or from what the sidecar holds of it: a run without a failed check,
    one whose override covers it, one without an override and ones whose override does not
    (two written to the log by hand: the intake refuses them), over many batches; and when the
    overrides log cannot be read."""
    monkeypatch.setattr(query, "BATCH", 3)
    records = _records(80)
    for n in range(0, 80, 9):
        records[n] = {**records[n], "qa_gate1": "FAIL", "notes": 'é \\ " \u2028'}
    for n in range(4, 80, 17):
        records[n] = {**records[n], "qa_gate2": "FAIL", "uniqueness_hook": "FAIL"}
    absent = "OVR-20260901-0902-NONE"
    unlogged = [
        record(run_id=run_id(90 + n, day=2), created_utc=utc(4, n), uniqueness_hook="FAIL", **more)
        for n, more in enumerate(
            [{"override_id": absent}, {"qa_gate2": "FAIL", "override_id": absent}]
        )
    ]
    index = RunIndex.open(ws)
    try:
        append_records(index, enumerate(records, start=1))
        with index.log.open("ab") as log:
            log.writelines(json.dumps(given).encode() + b"\n" for given in unlogged)
        index.sync()
        for gates in (False, True):
            judged = _written_both_ways(index, gates)
            assert judged >= {(True, False), (False, False), (False, True)}
            assert ((None, False) in judged) is gates  # only gates FAILed
        (ws / OVERRIDES_LOG).unlink()
        assert _written_both_ways(index, True) >= {(False, True), (False, False)}
        marked = list(failed_runs(index, query.window(index), gates=True))
        said = {problem.code for failed in marked for problem in failed.problems}
        assert said == {"DEPENDENCY_UNREADABLE"}
    finally:
        index.close()


def _written_both_ways(index: RunIndex, gates: bool) -> set[tuple[bool | None, bool]]:
    """Each failed run's `json_line` holds its fields, `failed_lines` writes the same lines;
    the kinds of verdict met (covered, with problems)."""
    marked = list(failed_runs(index, query.window(index), gates=gates))
    assert len(marked) > query.BATCH
    for failed in marked:
        expected = {
            index.spec.key: failed.run.key,
            "failed_checks": failed.failed_checks,
            "failed_gates": failed.failed_gates,
            "override_id": failed.override_id,
            "covered": failed.covered,
            "problems": [problem.as_json() for problem in failed.problems],
            "record": failed.run.record,
        }
        written = json.loads(failed.json_line(index.spec))
        assert (written, list(written)) == (expected, list(expected))
    lines = list(failed_lines(index, query.window(index), gates=gates))
    assert lines == [failed.json_line(index.spec) for failed in marked]
    return {(failed.covered, bool(failed.problems)) for failed in marked}
