"""The records given to `registry runs append --record-file` and `registry runs import` (and
`--record-json`), read and parsed: one JSON object on any number of lines, or JSONL read a block
of whole lines at a time, never a whole file in memory. A block whose every line is what
`dumps_compact` writes of its value (`json_strict.compact_lines`: strict, and proven so by its own
encoding) is appended as given, its schema checked in one call; any other line is parsed by
`loads_strict`, which gives the reason and the position of a refusal (RECORD_UNPARSABLE, exit 2,
with its line and column), and appended encoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import (
    NOT_COMPACT,
    JSONDecodeProblem,
    compact_lines,
    loads_compact,
    loads_strict,
)

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Largest record accepted, in bytes."""
BLOCK = 4 << 20
"""Bytes of whole lines parsed at a time (several records, never a whole file in memory)."""
EXTRA_DATA = "Extra data"
"""How the parser begins its message for a document of several top-level values (JSONL)."""


class Readable(Protocol):
    """What records are read from: a binary file, standard input, or a bounded input file."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class Batch:
    """Records given, in order: (input line, parsed value) each."""

    records: list[tuple[int, Any]]
    lines: bytes | None = None
    """The input lines, appended as given when each is its record's compact encoding."""
    sizes: list[int] | None = None
    """With `lines`: each line's length in bytes, without its newline."""
    plain: bool = False
    """Whether the records are known plain (`json_strict.CompactLines.plain`): one schema call
    decides for them all."""


Item = Batch | tuple[int, bytes]
"""Records given: a parsed batch, or (first line, whole lines) of JSONL to parse."""


def record_from_json(text: str) -> Any:
    """The record of `--record-json`; RECORD_UNPARSABLE (exit 2) when it does not parse."""
    try:
        return loads_strict(text)
    except JSONDecodeProblem as exc:
        raise unparsable("--record-json", 1, exc.message) from None


def read_batches(stream: Readable, origin: str) -> Iterator[Batch]:
    """The records of `stream`: a stream holding one JSON object (on any number of lines) is one
    record; several top-level values are one record per non-empty line. RECORD_UNPARSABLE (exit
    2) with the parser's line and column for the first line that does not parse (a one-object
    document: its own parse error, never retried as JSONL)."""
    for item in items(stream, origin):
        yield parsed(item, origin)


def items(stream: Readable, origin: str) -> Iterator[Item]:
    """`read_batches`, its JSONL blocks not parsed yet: (first line, whole lines) each."""
    head = stream.read(MAX_LINE_BYTES + 1)
    document = _one_document(head, origin)
    if document is not NOT_COMPACT:
        yield Batch([(1, document)])
        return
    yield from _blocks(head, stream, origin)


def parsed(item: Item, origin: str) -> Batch:
    return item if isinstance(item, Batch) else parse_block(item[1], item[0], origin)


def parse_block(block: bytes, first: int, origin: str) -> Batch:
    """The records of `block` (whole lines, the first being input line `first`); the first line
    that does not parse is refused (RECORD_UNPARSABLE) with its line and column."""
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    found = None if text is None else compact_lines(text[:-1] if text.endswith("\n") else text)
    if found is not None:
        numbered = zip(range(first, first + len(found.values)), found.values, strict=True)
        appended = block if block.endswith(b"\n") else block + b"\n"
        return Batch(list(numbered), appended, found.sizes, plain=found.plain)
    records: list[tuple[int, Any]] = []
    for number, raw in enumerate(lines, start=first):
        value = NOT_COMPACT if text is None else loads_compact(raw.decode("utf-8"))
        if value is NOT_COMPACT:
            if not raw.strip():
                continue
            try:
                value = loads_strict(raw)
            except JSONDecodeProblem as exc:
                raise unparsable(origin, number, exc.message, exc.column) from None
        records.append((number, value))
    return Batch(records)


def unparsable(origin: str, line: int, message: str, column: int | None = None) -> UsageError:
    """RECORD_UNPARSABLE at `line` (and `column`) of the records given."""
    return UsageError(
        f"line {line} does not parse: {message}; nothing was written",
        code="RECORD_UNPARSABLE",
        path=origin,
        line=line,
        column=column,
    )


def _one_document(head: bytes, origin: str) -> Any:
    """The record of a head holding one JSON object spread over lines; NOT_COMPACT when the
    head is JSONL. The first non-blank line parsing alone means JSONL (or that line alone)."""
    stripped = head.lstrip()
    if len(head) > MAX_LINE_BYTES or not stripped.startswith(b"{") or b"\n" not in head.strip():
        return NOT_COMPACT
    line, _newline, rest = stripped.partition(b"\n")
    try:
        value = loads_strict(line)
    except JSONDecodeProblem:
        pass  # the object goes on over the next lines, or the document does not parse
    else:
        return value if not rest.strip() else NOT_COMPACT
    try:
        return loads_strict(head)
    except JSONDecodeProblem as exc:
        if not exc.message.startswith(EXTRA_DATA):
            raise unparsable(origin, exc.line or 1, exc.message, exc.column) from None
    return NOT_COMPACT


def _blocks(head: bytes, stream: Readable, origin: str) -> Iterator[tuple[int, bytes]]:
    """(first line, bytes) of blocks of whole lines of about BLOCK bytes, then the last line
    when it has no newline; a line over MAX_LINE_BYTES is refused at its line, after the
    lines before it."""
    pending, number, done = head, 1, False
    while True:
        while len(pending) >= BLOCK or (done and b"\n" in pending):
            cut = pending.rfind(b"\n", 0, BLOCK)
            if cut < 0:
                cut = pending.find(b"\n")
                if cut < 0:
                    break
            block, pending = pending[: cut + 1], pending[cut + 1 :]
            yield from _bounded(block, number, origin)
            number += block.count(b"\n")
        whole = pending.rfind(b"\n") + 1
        if len(pending) - whole > MAX_LINE_BYTES:  # the unfinished line
            if whole:
                yield number, pending[:whole]
            raise _too_long(origin, number + pending.count(b"\n"))
        if done:
            break
        chunk = stream.read(BLOCK)
        done = not chunk
        pending += chunk
    if pending:
        yield number, pending


def _bounded(block: bytes, first: int, origin: str) -> Iterator[tuple[int, bytes]]:
    """`block`, or when a line of it is over MAX_LINE_BYTES (only a block that long can have
    one), the lines before it, then its refusal."""
    if len(block) <= MAX_LINE_BYTES:
        yield first, block
        return
    at = 0
    for number, line in enumerate(block.split(b"\n"), start=first):
        if len(line) > MAX_LINE_BYTES:
            if at:
                yield first, block[:at]
            raise _too_long(origin, number)
        at += len(line) + 1
    yield first, block


def _too_long(origin: str, line: int) -> UsageError:
    return unparsable(origin, line, f"longer than {MAX_LINE_BYTES} bytes")
