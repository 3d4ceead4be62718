"""A run record judged alone: shape, schema, own fields, latest view's warnings, run order."""

from __future__ import annotations

import itertools
import os
import re
import unicodedata
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any, Protocol

from registry_pipeline.core.errors import Problem, UsageError
from registry_pipeline.core.json_strict import (
    JSONDecodeProblem,
    dumps_compact,
    loads_jsonl,
    loads_strict,
)
from registry_pipeline.core.run_index.spec import EARLIEST, IndexSpec, parse_time
from registry_pipeline.core.seal.schemas import SchemaCatalog

MAX_LISTED = 100
"""Problems listed per refusal; the error says how many there were."""
CONTROL = "\x00-\x1f\x7f-\x9f"
"""The Unicode category Cc (control characters), as a regular-expression class."""
_PLAIN_POSIX = re.compile(f"/[^{CONTROL}]*[^{CONTROL}/.]")
"""A POSIX absolute path naming a file, matched without building a path object."""
NATIVE_POSIX = os.name != "nt"
"""Whether this machine's paths are POSIX paths (absolute: starting with `/`)."""
MISSING_KEPT = 64
"""Missing folders a check remembers (`Warnings.exists`)."""


def plain_path(value: str) -> bool:
    """Whether `value` is a POSIX absolute path naming a file (`_PLAIN_POSIX`), most paths told
    by `str.isprintable` (no control character, nor any other unprinted one) in C."""
    return (
        value[:1] == "/"
        and value[-1] not in "/."
        and (value.isprintable() or _PLAIN_POSIX.fullmatch(value) is not None)
    )


def record_problem(
    line: int,
    field: str,
    code: str,
    message: str,
    key: str | None = None,
    severity: str = "error",
    *,
    path: str | None = None,
    counts: tuple[int, int] | None = None,
) -> Problem:
    """One problem of one input record; `severity`: error refuses, warning goes to the notes log."""
    extra: dict[str, object] = {"severity": severity, "key": key}  # --json names both
    if counts is not None:
        extra.update(matched=counts[0], given=counts[1])
    return Problem(
        code=code,
        message=message,
        path=path,
        line=line or None,
        field=field,
        severity=severity,
        subject=() if key is None else (key,),
        extra=extra,
    )


def record_text(problem: Problem) -> str:
    """A record's problem as one line: `severity: line N KEY /field: CODE message`."""
    run = f" {problem.subject[0]}" if problem.subject else ""
    where = f"line {problem.line or 0}{run} {problem.field or '/'}"
    return f"{problem.severity}: {where}: {problem.code} {problem.message}"


def located(problem: Problem, path: str | None) -> Problem:
    """`problem`, in the file `path` (unchanged when it names one already)."""
    return problem if problem.path is not None else replace(problem, path=path)


class RecordsError(UsageError):
    """Records refused before anything was written; exit 2 for bad input, 1 when refused."""

    def __init__(
        self,
        problems: list[Problem],
        total: int,
        *,
        code: str = "RECORD_INVALID",
        refused: bool = False,
        summary: str | None = None,
    ) -> None:
        more = f" (the first {MAX_LISTED} listed)" if total > MAX_LISTED else ""
        message = summary or f"{total} problem(s) in the records{more}; nothing was written"
        headline = f"error: {code}: {message}"
        super().__init__(message, code=code, problems=problems[:MAX_LISTED], text=record_text,
                         exit_code=1 if refused else None, headline=headline)  # fmt: skip

    def at(self, path: str | None) -> RecordsError:
        """This error, its problems in the file `path` (the records given)."""
        self.problems = tuple(located(problem, path) for problem in self.problems)
        self.path = self.path or path
        return self


def parse_line(raw: bytes) -> Any:
    """The value of one JSONL line that is not blank, parsed as strictly as `loads_strict`."""
    return loads_jsonl(raw)[1][0]


def encode(record: dict[str, Any]) -> bytes:
    """The line a record is appended as (without its newline): compact JSON, keys in the order
    given, UTF-8 (`loads_jsonl` gives the same line of a JSONL line it reads)."""
    return dumps_compact(record).encode()


# --- a record alone ------------------------------------------------------------------------


def judged(
    spec: IndexSpec, schemas: SchemaCatalog, line: int, record: Any, *, schema_valid: bool = False
) -> tuple[list[Problem], int, int]:
    """Every problem of one record alone, and its place; `schema_valid`: the batch passed."""
    if schema_valid and type(record) is dict:
        key = record.get(spec.key)
        created = parse_time(record.get(spec.time))
        written = record.get(spec.updated)
        updated = created if written is None else parse_time(written)
        if (
            type(key) is str
            and key
            and created is not None
            and updated is not None
            and updated >= created
            and _plain_files(spec, record)
        ):
            return [], created, updated
    problems = shape_problems(spec, line, record)
    if not isinstance(record, dict):
        return problems, EARLIEST, EARLIEST
    key = record.get(spec.key)
    shown = key if isinstance(key, str) else None
    schema = None if schema_valid else schemas.for_artifact(spec.artifact)
    if schema is not None:
        problems.extend(
            record_problem(line, v.field or "", "SCHEMA_VIOLATION", v.message, shown)
            for v in schemas.validate(schema.schema_id, record)
        )
    problems.extend(field_problems(spec, line, record))
    return problems, *times(spec, record)


def _plain_files(spec: IndexSpec, record: dict[str, Any]) -> bool:
    """Whether `record`'s file fields are plainly fine (False: ask `field_problems`)."""
    final: bool | None = None
    for field in spec.file_fields:
        value = record.get(field)
        if type(value) is str and plain_path(value):
            continue
        if isinstance(value, str) and value:
            return False
        if final is None:
            final = saved(spec, record)
        if final:
            return False
    return True


def shape_problems(spec: IndexSpec, line: int, record: Any) -> list[Problem]:
    """What keeps a record from being indexed: not an object, no string key, no ISO 8601 time."""
    if not isinstance(record, dict):
        kind = type(record).__name__
        return [record_problem(line, "", "RECORD_NOT_OBJECT", f"is a JSON {kind}, not an object")]
    key = record.get(spec.key)
    shown = key if isinstance(key, str) else None
    problems = []
    if not isinstance(key, str) or not key:
        problems.append(record_problem(line, f"/{spec.key}", "KEY_MISSING", "must be a string"))
    if parse_time(record.get(spec.time)) is None:
        invalid = "must be an ISO 8601 UTC time"
        problems.append(record_problem(line, f"/{spec.time}", "TIME_INVALID", invalid, shown))
    return problems


def path_problem(value: str) -> tuple[str, str] | None:
    """(code, message) of a file field's value that names no file, or None."""
    if plain_path(value):
        return None  # what `named_file_problem` says of it, without path objects
    return named_file_problem(value)


def named_file_problem(value: str) -> tuple[str, str] | None:
    """`path_problem`, asked of the path objects of both machines' forms."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        return "PATH_INVALID", f"{value!r} holds a control character: it names no file"
    flavours = (PurePosixPath(value), PureWindowsPath(value))
    path = next((flavour for flavour in flavours if flavour.is_absolute()), None)
    if path is None:
        return (
            "PATH_NOT_ABSOLUTE",
            f"{value!r} is not an absolute path (POSIX /..., Windows C:\\... or "
            "\\\\server\\share\\...)",
        )
    if not path.name:
        return "PATH_INVALID", f"{value!r} is a root alone: it names no file"
    return None


def saved(spec: IndexSpec, record: dict[str, Any]) -> bool:
    """Whether `record` is a Final Save: it meets the index's success predicate."""
    return spec.success is not None and spec.success(record)


def field_problems(spec: IndexSpec, line: int, record: dict[str, Any]) -> list[Problem]:
    """Every problem of `record`'s file fields and update time (see the module)."""
    key = record.get(spec.key)
    shown = key if isinstance(key, str) else None
    problems: list[Problem] = []

    def problem(field: str, code: str, message: str) -> None:
        problems.append(record_problem(line, f"/{field}", code, message, shown))

    final: bool | None = None
    for field in spec.file_fields:
        value = record.get(field)
        if isinstance(value, str) and value:
            found = path_problem(value)
            if found is not None:
                problem(field, *found)
            continue
        if final is None:
            final = saved(spec, record)
        if final:
            required = f"is required at Final Save ({spec.success}): the absolute path of the file"
            problem(field, "REQUIRED_AT_FINAL_SAVE", required)
    updated = record.get(spec.updated)
    written = None if updated is None else parse_time(updated)
    created = parse_time(record.get(spec.time))
    if updated is not None and written is None:
        problem(spec.updated, "TIME_INVALID", "must be an ISO 8601 UTC time")
    elif written is not None and created is not None and written < created:
        before = f"{updated} is before the record's {spec.time} {record.get(spec.time)}"
        problem(spec.updated, "UPDATED_BEFORE_CREATED", before)
    return problems


# --- the warnings of a latest view ---------------------------------------------------------


class Warnings:
    """A run's latest view's warnings: recommended fields absent, named files missing here."""

    def __init__(self, spec: IndexSpec) -> None:
        self.spec = spec
        self.recommended = tuple(f for f in spec.recommended if f not in spec.file_fields)
        """The recommended fields a FILE_ABSENT check does not cover."""
        self._missing: tuple[str, ...] = ()
        """Folders found missing, each with its final `/` (at most MISSING_KEPT)."""

    def warned(self, record: dict[str, Any], final: bool) -> list[tuple[str, str]]:
        """(field, code) of each warning (`final`: a Final Save), without messages (`warning`)."""
        found = [
            (name, "RECOMMENDED_MISSING")
            for name in (self.recommended if final else ())
            if not (value := record.get(name)) and value in (None, "", [])  # most are truthy
        ]
        for name in self.spec.file_fields:
            value = record.get(name)
            if type(value) is str and NATIVE_POSIX and value.startswith(self._missing):
                if path_problem(value) is None:  # under a folder found missing: absent here
                    found.append((name, "FILE_ABSENT"))
            elif (
                isinstance(value, str)
                and (value.startswith("/") if NATIVE_POSIX else PurePath(value).is_absolute())
                and path_problem(value) is None
                and not self.exists(value)
            ):
                found.append((name, "FILE_ABSENT"))
        return found

    def warning(self, line: int, record: dict[str, Any], name: str, code: str) -> Problem:
        """The warning `code` (`warned`) about field `name` of `record`, with its message."""
        if code == "FILE_ABSENT":
            message = f"{record.get(name)!r} does not exist on this machine"
        else:
            message = "is recommended at Final Save"
        return record_problem(line, f"/{name}", code, message, record.get(self.spec.key), "warning")

    def exists(self, path: str) -> bool:
        """`Path(path).exists()`, not looked up under a folder found missing."""
        if path.startswith(self._missing):
            return False  # nothing under a missing folder exists
        if Path(path).exists():
            return True
        if len(self._missing) < MISSING_KEPT:
            at = path.find("/", 1)
            while at > 0:  # the highest missing folder above it, if any
                try:
                    os.stat(path[:at])
                except (FileNotFoundError, NotADirectoryError):
                    self._missing = (*self._missing, path[: at + 1])
                    break
                except (OSError, ValueError):
                    break
                at = path.find("/", at + 1)
        return False


# --- the order of a run's records ----------------------------------------------------------


def times(spec: IndexSpec, record: dict[str, Any]) -> tuple[int, int]:
    """(created, updated) in microseconds since the epoch: a record's place among its run's."""
    created = parse_time(record.get(spec.time))
    if created is None:
        created = EARLIEST
    updated = parse_time(record.get(spec.updated)) if record.get(spec.updated) else None
    return created, (created if updated is None else updated)


class Order:
    """Each key's records as added: those not after the key's latest (`later`), first and latest."""

    def __init__(self) -> None:
        self.count = 0
        self.first: dict[str, int] = {}
        """Key -> position of its first record (in the order first given)."""
        self.top: dict[str, int] = {}
        """Key -> position of its latest record, for keys given more than once."""
        self.lines = array("q")
        self.created = array("q")
        self.updated = array("q")
        self.later: list[tuple[int, str]] = []
        """(line, key) of each record not after an earlier record of its key, in line order."""

    def add(self, line: int, key: str, created: int, updated: int) -> None:
        """One record (`times`), in line order."""
        self.extend([line], [key], [created], [updated])

    def extend(
        self,
        lines: Sequence[int],
        keys: Sequence[str],
        created: Sequence[int],
        updated: Sequence[int],
    ) -> None:
        """Records (`times` each), in line order: only a key seen before is compared."""
        base = self.count
        self.count += len(keys)
        self.lines.extend(lines)
        self.created.extend(created)
        self.updated.extend(updated)
        first = self.first.setdefault
        again = [at for at, key in enumerate(keys, base) if first(key, at) != at]
        for at in again:
            key = keys[at - base]
            top = self.top.get(key, self.first[key])
            place, latest = self.place(at), self.place(top)
            if place > latest:
                self.top[key] = at
                continue
            self.later.append((self.lines[at], key))
            if place == latest:
                self.top[key] = at  # equal: the later line is the latest view

    def place(self, at: int) -> tuple[int, int]:
        """(created, updated) of the record at position `at`."""
        return self.created[at], self.updated[at]

    def latest_lines(self) -> set[int]:
        """The line of each key's latest record (the greatest place; ties: the later line)."""
        return {self.lines[self.top.get(key, at)] for key, at in self.first.items()}


def batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """`items` in lists of `size` (the last shorter)."""
    while part := list(itertools.islice(items, size)):
        yield part


# --- the records given: read and parsed ---------------------------------------------------

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
    """Records given, in order: each one's input line and parsed value."""

    numbers: list[int]
    values: list[Any]
    lines: list[bytes] | None = None
    """Each record's line as appended (`encode`, without its newline), when read from JSONL."""


Item = Batch | tuple[int, bytes]
"""Records given: a parsed batch, or (first line, whole lines) of JSONL to parse."""


def record_from_json(text: str) -> Any:
    """The record of `--record-json`; RECORD_UNPARSABLE (exit 2) when it does not parse."""
    try:
        return loads_strict(text)
    except JSONDecodeProblem as exc:
        raise unparsable("--record-json", 1, exc.message) from None


def items(stream: Readable, origin: str) -> Iterator[Item]:
    """The records of `stream`: one JSON object as one batch, else unparsed JSONL blocks."""
    head = stream.read(MAX_LINE_BYTES + 1)
    document = _one_document(head, origin)
    if document is not JSONL:
        yield Batch([1], [document])
        return
    yield from _blocks(head, stream, origin)


def parsed(item: Item, origin: str) -> Batch:
    """The records of `item` (`items`), or RECORD_UNPARSABLE at the first line not parsed."""
    if isinstance(item, Batch):
        return item
    first, block = item
    try:
        return Batch(*loads_jsonl(block, first))
    except JSONDecodeProblem as exc:
        raise unparsable(origin, exc.line or first, exc.message, exc.column) from None


def unparsable(origin: str, line: int, message: str, column: int | None = None) -> UsageError:
    """RECORD_UNPARSABLE at `line` (and `column`) of the records given."""
    return UsageError.of("RECORD_UNPARSABLE", path=origin, line=line, column=column, reason=message)


JSONL: Any = object()
"""What `_one_document` returns for a head that is JSONL (no JSON value is it)."""


def _one_document(head: bytes, origin: str) -> Any:
    """The record of a head holding one JSON object spread over lines; JSONL for JSONL."""
    stripped = head.lstrip()
    if len(head) > MAX_LINE_BYTES or not stripped.startswith(b"{") or b"\n" not in head.strip():
        return JSONL
    line, _newline, rest = stripped.partition(b"\n")
    try:
        value = loads_strict(line)
    except JSONDecodeProblem:
        pass  # the object goes on over the next lines, or the document does not parse
    else:
        return value if not rest.strip() else JSONL
    try:
        return loads_strict(head)
    except JSONDecodeProblem as exc:
        if not exc.message.startswith(EXTRA_DATA):
            raise unparsable(origin, exc.line or 1, exc.message, exc.column) from None
    return JSONL


def _blocks(head: bytes, stream: Readable, origin: str) -> Iterator[tuple[int, bytes]]:
    """(first line, bytes) of whole-line blocks; a line over MAX_LINE_BYTES is refused."""
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
                yield from _bounded(pending[:whole], number, origin)
            raise _too_long(origin, number + pending.count(b"\n"))
        if done:
            break
        chunk = stream.read(BLOCK)
        done = not chunk
        pending += chunk
    if pending:
        yield number, pending


def _bounded(block: bytes, first: int, origin: str) -> Iterator[tuple[int, bytes]]:
    """`block`, or the lines before one over MAX_LINE_BYTES, then its refusal."""
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
