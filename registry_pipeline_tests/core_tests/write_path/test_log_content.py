"""`log_content`, the one reader of record logs (`content_of` calls it), reads a log a line at a
time: what a log's entries and problems are, written out for each kind of line; the same from
its files or from bytes already read; with `keep`, only the entries whose latest view it keeps,
still in the order of each key's first line, also when keys share a hash; and reading a large
log for a few of its runs holds a fraction of it."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.jsonl import torn
from registry_pipeline.core.seal.hashing import BLOCK_SIZE
from registry_pipeline.core.write_path import content as module
from registry_pipeline.core.write_path.content import (
    EntryType,
    Keep,
    TypeContent,
    content_of,
    log_content,
)

RUNS = EntryType(
    name="run",
    registry_id="run_index",
    layout="log",
    source="registries/run_index/RUN_INDEX_v0_1.jsonl",
    container="",
    key="run_id",
    order="append",
    schema=None,
    purpose="",
    schema_id="REGISTRY_run_index_v0_1",
)


def _line(key: Any, **fields: Any) -> bytes:
    return json.dumps({"run_id": key, **fields}, separators=(",", ":")).encode() + b"\n"


def _kept(record: Any) -> bool:
    return isinstance(record, dict) and record.get("flag") == "yes"


LOGS: dict[str, bytes] = {
    "empty": b"",
    "plain": _line("a") + _line("b") + _line("c"),
    "augmented": _line("a", n=1) + _line("b", n=1) + _line("a", n=2) + _line("c") + _line("b"),
    "blank lines and CRLF": _line("a") + b"\n  \n" + _line("b").replace(b"\n", b"\r\n") + b"\n",
    "a torn last line": _line("a") + _line("b") + b'{"run_id": "c", "fl',
    "only a torn line": b'{"run_id": "c"}',
    "keyless records": _line("a") + _line(None) + b"[1, 2]\n" + _line("") + _line("b"),
    "a line that does not parse": _line("a") + b"{nope\n" + _line("b"),
    "a duplicate key": _line("a") + b'{"run_id": "b", "run_id": "c"}\n' + _line("d"),
    "kept, then not, then kept": (
        _line("a", flag="yes")
        + _line("b", flag="no")
        + _line("c", flag="yes")
        + _line("a", flag="no")
        + _line("b", flag="yes")
        + _line("d", flag="yes")
        + _line("a", flag="yes")
        + _line("c", flag="yes", n=2)
    ),
    "kept late, first given early": (
        _line("x", flag="no")
        + _line("y", flag="yes")
        + _line("z", flag="no")
        + _line("z", flag="yes")
        + _line("x", flag="yes")
    ),
}


SOURCE = RUNS.source
READ: dict[str, tuple[list[tuple[str, dict[str, Any], int]], list[tuple[str, int | None, str]]]] = {
    # log: ([(key, latest value, its line: `index`)] in the order of each key's first line,
    #       [(problem code, line, message)])
    "augmented": ([("a", {"run_id": "a", "n": 2}, 3), ("b", {"run_id": "b"}, 5),
                   ("c", {"run_id": "c"}, 4)], []),
    "blank lines and CRLF": ([("a", {"run_id": "a"}, 1), ("b", {"run_id": "b"}, 4)], []),
    "a torn last line": ([("a", {"run_id": "a"}, 1), ("b", {"run_id": "b"}, 2)],
                         [("LOG_TORN", None, torn(RUNS.source).message)]),  # the one wording
    "keyless records": ([("a", {"run_id": "a"}, 1), ("b", {"run_id": "b"}, 5)], [
        ("KEY_MISSING", None, f"every record (line {n}) needs a non-empty string key")
        for n in (2, 3, 4)]),
    "a line that does not parse": ([("a", {"run_id": "a"}, 1)], [
        ("JSON_INVALID", 2,
         "line 2: Expecting property name enclosed in double quotes at line 1 column 2")]),
    "a duplicate key": ([("a", {"run_id": "a"}, 1)],
                        [("JSON_INVALID", 2, "line 2: duplicate key 'run_id'")]),
}  # fmt: skip


@pytest.mark.parametrize("log", READ)
def test_what_a_log_holds(log: str, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(LOGS[log])
    entries, problems = READ[log]
    for found in (content_of(RUNS, {SOURCE: LOGS[log]}), log_content(RUNS, [path])):
        assert [(key, e.value, e.file, e.index) for key, e in found.entries.items()] == [
            (key, value, SOURCE, line) for key, value, line in entries]  # fmt: skip
        assert [(p.code, p.line, p.message, p.path) for p in found.problems] == [
            (*problem, SOURCE) for problem in problems]  # fmt: skip


def _expected(data: bytes, keep: Keep | None) -> TypeContent:
    content = content_of(RUNS, {RUNS.source: data})
    if keep is not None:
        content.entries = {k: e for k, e in content.entries.items() if keep(e.value)}
    return content


def _same(found: TypeContent, expected: TypeContent) -> None:
    assert list(found.entries.items()) == list(expected.entries.items())
    assert found.problems == expected.problems


@pytest.mark.parametrize("keep", [None, _kept, lambda _record: False], ids=["all", "some", "none"])
@pytest.mark.parametrize("log", LOGS)
def test_log_content_is_content_of(log: str, keep: Keep | None, tmp_path: Path) -> None:
    data = LOGS[log]
    path = tmp_path / "log.jsonl"
    path.write_bytes(data)

    _same(log_content(RUNS, [path], keep), _expected(data, keep))
    _same(log_content(RUNS, [data], keep), _expected(data, keep))


@pytest.mark.parametrize("log", ["kept, then not, then kept", "kept late, first given early"])
def test_keys_sharing_a_hash_keep_their_order(
    log: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(LOGS[log])
    monkeypatch.setattr(module, "hash", lambda _key: 7, raising=False)  # every key: one hash

    _same(log_content(RUNS, [path], _kept), _expected(LOGS[log], _kept))


def test_several_files_are_one_log(tmp_path: Path) -> None:
    first, second = LOGS["kept, then not, then kept"], LOGS["kept late, first given early"]
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_bytes(first + b"\n\n")
    two.write_bytes(second)
    expected = content_of(RUNS, {"one": first + b"\n\n", "two": second})
    expected.entries = {k: e for k, e in expected.entries.items() if _kept(e.value)}

    _same(log_content(RUNS, [one, two], _kept), expected)


def _large_log(size: int) -> bytes:
    """Augmented runs, a few kept, past several read blocks, with a torn last line."""
    lines, total, number = [], 0, 0
    while total < size:
        number += 1
        flag = "yes" if number % 997 == 0 else "no"
        lines.append(_line(f"RUN-{number % 5000:05d}", flag=flag, n=number, pad="p" * 200))
        total += len(lines[-1])
    return b"".join(lines) + b'{"run_id": "RUN-00001", "fl'


def test_a_large_log_is_read_as_content_of_reads_it(tmp_path: Path) -> None:
    data = _large_log(3 * BLOCK_SIZE)
    path = tmp_path / "log.jsonl"
    path.write_bytes(data)

    found = log_content(RUNS, [path], _kept)

    _same(found, _expected(data, _kept))
    assert found.entries and [p.code for p in found.problems] == ["LOG_TORN"]


def test_a_few_runs_of_a_large_log_hold_a_fraction_of_it(tmp_path: Path) -> None:
    size = 24 << 20
    path = tmp_path / "log.jsonl"
    path.write_bytes(_large_log(size))
    tracemalloc.start()
    try:
        found = log_content(RUNS, [path], _kept)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.entries
    assert peak < size // 4, f"peak {peak:,} bytes for a {size:,}-byte log"
