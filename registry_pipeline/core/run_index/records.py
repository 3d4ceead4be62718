"""Records given to `registry runs append`: read one at a time (one JSON object, or JSONL),
each checked alone against the schema governing the log's name, with its line and field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

from registry_pipeline.core._json import JSONDecodeProblem, loads_strict
from registry_pipeline.core.errors import UsageError, problem_object
from registry_pipeline.core.run_index.spec import IndexSpec, parse_time
from registry_pipeline.core.seal.schemas import SchemaCatalog

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Largest record accepted, in bytes."""
MAX_LISTED = 100
"""Problems listed per refusal; the error says how many there were."""


class Readable(Protocol):
    """What records are read from: a binary file, standard input, or a bounded input file."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class RecordProblem:
    """One problem of one input record: where (line, field), what (code) and why."""

    line: int
    field: str
    code: str
    message: str
    key: str | None = None
    severity: str = "error"
    """error refuses the records (fails the build's check); warning is printed; record is
    appended to the write path's notes log."""
    path: str | None = None
    """The file the line is in: the records given, or the log."""

    def as_json(self) -> dict[str, object]:
        """The object `--json` lists: `problem_object` (line: the JSONL line, null when the
        problem has none; field: the record field as a JSON pointer), with severity and key."""
        return problem_object(
            self.code,
            self.message,
            path=self.path,
            line=self.line or None,
            field=self.field,
            severity=self.severity,
            key=self.key,
        )

    def at(self, path: str | None) -> RecordProblem:
        """This problem, in the file `path` (unchanged when it names one already)."""
        return self if self.path is not None else replace(self, path=path)

    def __str__(self) -> str:
        run = f" {self.key}" if self.key else ""
        where = f"line {self.line}{run} {self.field or '/'}"
        return f"{self.severity}: {where}: {self.code} {self.message}"


class RecordsError(UsageError):
    """Records refused before anything was written; `details` lists the problems. Exit 2 for
    bad input (unparsable, schema), 1 (`refused`) when the index or another registry says no."""

    code = "RECORD_INVALID"

    def __init__(
        self,
        problems: list[RecordProblem],
        total: int,
        *,
        code: str | None = None,
        refused: bool = False,
        summary: str | None = None,
    ) -> None:
        self.details = tuple(problems[:MAX_LISTED])
        more = f" (the first {MAX_LISTED} listed)" if total > MAX_LISTED else ""
        message = summary or f"{total} problem(s) in the records{more}; nothing was written"
        super().__init__(message, code=code)
        if refused:
            self.exit_code = 1

    def at(self, path: str | None) -> RecordsError:
        """This error, its problems in the file `path` (the records given)."""
        self.details = tuple(problem.at(path) for problem in self.details)
        self.path = self.path or path
        return self

    def diagnostics(self) -> str:
        lines = [f"error: {self.code}: {self.message}"]
        lines.extend(f"  {problem}" for problem in self.details)
        return "\n".join(lines)


EXTRA_DATA = "Extra data"
"""How the parser begins its message for a document of several top-level values (JSONL)."""


def read_records(stream: Readable, origin: str) -> Iterator[tuple[int, Any]]:
    """(line, parsed value) of each record: a stream holding one JSON object (on any number of
    lines) is one record; several top-level values (extra data after the first) are one record
    per non-empty line. RECORD_UNPARSABLE (exit 2) with the parser's line and column for the
    first that does not parse (a one-object document: its own parse error, never retried)."""
    head = stream.read(MAX_LINE_BYTES + 1)
    if len(head) <= MAX_LINE_BYTES and head.lstrip().startswith(b"{") and b"\n" in head.strip():
        try:
            document = loads_strict(head)
        except JSONDecodeProblem as exc:
            if not exc.message.startswith(EXTRA_DATA):
                raise _unparsable(origin, exc.line or 1, exc.message, exc.column) from None
        else:
            yield 1, document
            return
    number = 0
    for number, line in _lines(head, stream):
        if len(line) > MAX_LINE_BYTES:
            raise _unparsable(origin, number, f"longer than {MAX_LINE_BYTES} bytes")
        if not line.strip():
            continue
        try:
            record = loads_strict(line)
        except JSONDecodeProblem as exc:
            raise _unparsable(origin, number, exc.message, exc.column) from None
        yield number, record


def record_from_json(text: str) -> Any:
    """The record of `--record-json`; RECORD_UNPARSABLE (exit 2) when it does not parse."""
    try:
        return loads_strict(text)
    except JSONDecodeProblem as exc:
        raise _unparsable("--record-json", 1, exc.message) from None


def record_problems(
    spec: IndexSpec, schemas: SchemaCatalog, line: int, record: Any
) -> list[RecordProblem]:
    """Every problem of one record alone: an object, its key and time present and usable, and
    the schema governing the log's name (its if/then rules included)."""
    problems = shape_problems(spec, line, record)
    if not isinstance(record, dict):
        return problems
    key = record.get(spec.key)
    shown = key if isinstance(key, str) else None
    schema = schemas.for_artifact(spec.artifact)
    if schema is not None:
        problems.extend(
            RecordProblem(line, v.pointer, "SCHEMA_VIOLATION", v.message, shown)
            for v in schemas.validate(schema.schema_id, record)
        )
    return problems


def shape_problems(spec: IndexSpec, line: int, record: Any) -> list[RecordProblem]:
    """What keeps a record from being indexed at all: not an object, no string key, a time
    that is not ISO 8601 (`registry runs append` and the build's rules check both ask this)."""
    if not isinstance(record, dict):
        kind = type(record).__name__
        return [RecordProblem(line, "", "RECORD_NOT_OBJECT", f"is a JSON {kind}, not an object")]
    key = record.get(spec.key)
    shown = key if isinstance(key, str) else None
    problems = []
    if not isinstance(key, str) or not key:
        problems.append(RecordProblem(line, f"/{spec.key}", "KEY_MISSING", "must be a string"))
    if parse_time(record.get(spec.time)) is None:
        problems.append(
            RecordProblem(
                line, f"/{spec.time}", "TIME_INVALID", "must be an ISO 8601 UTC time", shown
            )
        )
    return problems


def encode(record: dict[str, Any]) -> bytes:
    """The line a record is appended as: compact JSON, keys in the order given, UTF-8."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _lines(head: bytes, stream: Readable) -> Iterator[tuple[int, bytes]]:
    pending = head
    number = 0
    while True:
        parts = pending.split(b"\n")
        pending = parts.pop()
        for part in parts:
            number += 1
            yield number, part
        if len(pending) > MAX_LINE_BYTES:
            yield number + 1, pending  # refused by the caller as too long
            return
        chunk = stream.read(8 << 20)
        if not chunk:
            break
        pending += chunk
    if pending:
        yield number + 1, pending


def _unparsable(origin: str, line: int, message: str, column: int | None = None) -> UsageError:
    return UsageError(
        f"line {line} does not parse: {message}; nothing was written",
        code="RECORD_UNPARSABLE",
        path=origin,
        line=line,
        column=column,
    )
