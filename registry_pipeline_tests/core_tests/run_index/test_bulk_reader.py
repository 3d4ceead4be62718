"""The bulk reader (`records.items`, each `parsed`: blocks of lines, compact lines parsed by the C
parser and appended as given) gives the verdicts of the reader it replaced (one line at a time, each
parsed by `loads_strict`, each record encoded): the same records at the same lines, the same
bytes to append, the same RECORD_UNPARSABLE at the same line and column, on generated good and
bad input. One deliberate difference: a pretty-printed-looking head whose first line parses
alone is JSONL at once, so a later line's bad bytes are reported at that line, not at line 1."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import JSONDecodeProblem, dumps_compact, loads_strict
from registry_pipeline.core.run_index import records
from registry_pipeline.core.run_index.records import encode

MAX_LINE = 300
"""The longest line in these tests (the real limit, 16 MiB, scaled down)."""
BLOCK = 700
"""Bytes per block in these tests (the real 4 MiB, scaled down: many blocks per input)."""

TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6)
RECORDS = st.dictionaries(
    st.sampled_from(["run_id", "a", "b", "é", "notes"]),
    st.none() | st.booleans() | st.integers(-5, 10**20) | TEXT | st.lists(TEXT, max_size=2),
    max_size=4,
)
BAD_LINES = st.sampled_from(
    [
        b'{"a":1,"a":2}',
        b'{"a": 1, "a": 2}',
        b'{"a":NaN}',
        b'{"a":1e999}',
        b'{"a":"\\ud800"}',
        b"\xef\xbb\xbf{}",
        b'{"a":"\xff"}',
        b'{"a":',
        b"[" * 210 + b"]" * 210,
        b"x" * (MAX_LINE + 5),
        b'{"a":1} {"b":2}',
        b"\x00",
    ]
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """One input line (without its newline): compact, spaced, blank, CRLF, or bad."""
    kind = draw(st.sampled_from(["compact"] * 6 + ["spaced", "ascii", "blank", "crlf", "bad"]))
    value = draw(RECORDS)
    if kind == "compact":
        return dumps_compact(value).encode()
    if kind == "spaced":
        return json.dumps(value, ensure_ascii=False).encode()
    if kind == "ascii":
        return json.dumps(value, separators=(",", ":")).encode()
    if kind == "blank":
        return draw(st.sampled_from([b"", b"  ", b"\t", b"\r", b"\x0c"]))
    if kind == "crlf":
        return dumps_compact(value).encode() + b"\r"
    return draw(BAD_LINES)


@st.composite
def inputs(draw: st.DrawFn) -> bytes:
    """JSONL input: lines joined by newlines, with or without a final one."""
    found = draw(st.lists(lines(), min_size=0, max_size=40))
    return b"\n".join(found) + draw(st.sampled_from([b"\n", b""]))


# --- the reader it replaced (registry_pipeline/core/run_index/records.py before issue 29) ------


def _old_records(
    data: bytes, chunk: int = 8 << 20, *, document: bool = True
) -> Iterator[tuple[int, Any]]:
    """The old reader (`document=False`: its JSONL part alone)."""
    stream = io.BytesIO(data)
    head = stream.read(MAX_LINE + 1)
    one = len(head) <= MAX_LINE and head.lstrip().startswith(b"{") and b"\n" in head.strip()
    if document and one:
        try:
            document = loads_strict(head)
        except JSONDecodeProblem as exc:
            if not exc.message.startswith(records.EXTRA_DATA):
                raise records.unparsable("x", exc.line or 1, exc.message, exc.column) from None
        else:
            yield 1, document
            return
    for number, line in _old_lines(head, stream, chunk):
        if len(line) > MAX_LINE:
            raise records.unparsable("x", number, f"longer than {MAX_LINE} bytes")
        if not line.strip():
            continue
        try:
            record = loads_strict(line)
        except JSONDecodeProblem as exc:
            raise records.unparsable("x", number, exc.message, exc.column) from None
        yield number, record


def _old_lines(head: bytes, stream: io.BytesIO, chunk: int) -> Iterator[tuple[int, bytes]]:
    pending = head
    number = 0
    while True:
        parts = pending.split(b"\n")
        pending = parts.pop()
        for part in parts:
            number += 1
            yield number, part
        if len(pending) > MAX_LINE:
            yield number + 1, pending
            return
        more = stream.read(chunk)
        if not more:
            break
        pending += more
    if pending:
        yield number + 1, pending


def _verdict(read: Iterator[tuple[int, Any]]) -> tuple[str, Any]:
    """("ok", [(line, value)...]) or ("refused", (code, line, column, message))."""
    try:
        return "ok", list(read)
    except UsageError as exc:
        return "refused", (exc.code, exc.line, exc.column, exc.message)


def _new(data: bytes) -> tuple[tuple[str, Any], bytes | None]:
    """The new reader's verdict, and the bytes it would append (all records, as given or
    encoded)."""
    appended: list[bytes] = []

    def given() -> Iterator[tuple[int, Any]]:
        for item in records.items(io.BytesIO(data), "x"):
            batch = records.parsed(item, "x")
            if batch.lines is not None:
                appended.append(batch.lines)
            else:
                appended.extend(encode(value) for _line, value in batch.records)
            yield from batch.records

    verdict = _verdict(given())
    return verdict, b"".join(appended) if verdict[0] == "ok" else None


@pytest.fixture(autouse=True)
def _small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_LINE_BYTES", MAX_LINE)
    monkeypatch.setattr(records, "BLOCK", BLOCK)


def _first_line_alone(data: bytes) -> bool:
    """Whether the first non-blank line of `data` parses by itself."""
    first = data.lstrip().partition(b"\n")[0]
    try:
        loads_strict(first)
    except JSONDecodeProblem:
        return False
    return True


@settings(max_examples=600, deadline=None)
@given(inputs())
def test_the_bulk_reader_gives_the_old_readers_verdicts(data: bytes) -> None:
    old = _verdict(_old_records(data))
    new, appended = _new(data)
    if old[0] == "refused" and _first_line_alone(data):
        # the old reader refused the whole head as one document (bad bytes or nesting further
        # down, or a line blank only to JSONL: a form feed); the new one reads it as JSONL, as
        # the old one did line by line
        old = _verdict(_old_records(data, document=False))
    assert new == old
    if old[0] == "ok":
        assert appended == b"".join(encode(value) for _line, value in old[1])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n\n  \n",
        b'{"a":1}',
        b'{\n  "a": 1\n}\n',
        b'{\n  "a": ,\n}\n',
        b'{"a":1}\n{"a":2}\n',
        b'  {"a":1}\n\n',
        b'{"a":1}\n' * 200 + b'{"a":1,"a":2}\n',
        b'{"a":"' + b"y" * 290 + b'"}\n' + b'{"a":"' + b"z" * 400 + b'"}\n',
        b'{"a":"\xc3\xa9"}\n' * 100,
        b'{"a":1,"a":2}\n' + b"[" * 210 + b"]" * 210,  # line 1's problem before line 2's length
        # a too-long line among the whole lines before a too-long unfinished one: its length
        # is its refusal, not what it does not parse as (found by the property test above)
        b"{}\n" + b"x" * (MAX_LINE + 5) + b"\n" + b"x" * (MAX_LINE + 5),
    ],
)
def test_named_inputs(data: bytes) -> None:
    new, appended = _new(data)
    old = _verdict(_old_records(data))
    assert new == old
    if old[0] == "ok":
        assert appended == b"".join(encode(value) for _line, value in old[1])


def test_a_later_lines_bad_bytes_are_reported_at_that_line() -> None:
    data = b'{"a":1}\n{"a":2}\n{"a":"\xff"}\n'
    assert _verdict(_old_records(data))[1][:2] == ("RECORD_UNPARSABLE", 1)  # the old reader
    verdict, _ = _new(data)
    assert verdict[0] == "refused"
    assert verdict[1][:2] == ("RECORD_UNPARSABLE", 3)
    assert "not UTF-8" in verdict[1][3]
