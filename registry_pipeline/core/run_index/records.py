"""A run record judged alone, the one function per rule that `registry runs append`, `registry
runs import` and the build's `rules` check all call:

- its shape: an object with a string key and an ISO 8601 time (`shape_problems`), and the schema
  governing the log's name, its if/then rules included (`judged`, with its place);
- its own fields beyond the schema (`field_problems`): a file field (the catalog's
  `file_fields`: seed 004's `run_log_filepath_abs`, the "Run Log absolute path") is an absolute
  path, POSIX (`/srv/...`) or Windows (`C:\\...`, `C:/...`, `\\\\server\\share\\...`): the index
  serves two machines, and a relative path names nothing on either (PATH_NOT_ABSOLUTE); one
  holding a control character or a root alone names no file (PATH_INVALID); "Run Log absolute
  path is stored at Final Save" (a record meeting the success predicate carries every file field:
  REQUIRED_AT_FINAL_SAVE); `last_updated_utc`, when given, is a time (TIME_INVALID) no earlier
  than the record's `created_utc` (UPDATED_BEFORE_CREATED);
- the warnings of a run's latest view (`Warnings`): recommended fields absent at Final Save and
  files named in this machine's form that do not exist here;
- its place among its run's records (`times`, `Order`): records of one run are ordered by
  (`created_utc`, `last_updated_utc`), lexicographically (an absent `last_updated_utc` counts as
  equal to `created_utc`); equal in both is not later (AUGMENT_NOT_LATER).

The records given to `registry runs append --record-file` and `registry runs import` (and
`--record-json`) are read and parsed here (`items`, `parsed`): one JSON object on any number of
lines, or JSONL read a block of whole lines at a time, never a whole file in memory. A block
whose every line is what `dumps_compact` writes of its value (`json_strict.compact_lines`:
strict, and proven so by its own encoding) is appended as given, its schema checked in one call;
any other line is parsed by `loads_strict`, which gives the reason and the position of a refusal
(RECORD_UNPARSABLE, exit 2, with its line and column), and appended encoded.
"""

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
    NOT_COMPACT,
    JSONDecodeProblem,
    compact_lines,
    dumps_compact,
    loads_compact,
    loads_strict,
)
from registry_pipeline.core.run_index.spec import EARLIEST, IndexSpec, parse_time
from registry_pipeline.core.seal.schemas import SchemaCatalog

MAX_LISTED = 100
"""Problems listed per refusal; the error says how many there were."""
CONTROL = "\x00-\x1f\x7f-\x9f"
"""The Unicode category Cc (control characters), as a regular-expression class."""
_PLAIN_POSIX = re.compile(f"/[^{CONTROL}]*[^{CONTROL}/.]")
"""A POSIX absolute path without control characters whose last component is neither empty nor
`.`: it names a file (`path_problem` is None), decided without building a path object."""
NATIVE_POSIX = os.name != "nt"
"""Whether this machine's paths are POSIX paths (`is_native`)."""
MISSING_KEPT = 64
"""Missing folders a check remembers (`Warnings.exists`)."""


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
    """One problem of one input record: where (`line`, 0 when it has none; `field`, a JSON
    pointer), what (`code`) and why; the run it is about (`key`) is its subject. `severity`:
    error refuses the records (fails the build's check), warning is printed, record is appended
    to the write path's notes log. `path`: the file the line is in (the records given, or the
    log). `counts`: PARTIAL_RETRY's (matched, given). Its `--json` object (`as_json`) ends with
    the severity and the key, as `registry runs` has always listed them."""
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
    """Records refused before anything was written; `problems` lists them. Exit 2 for
    bad input (unparsable, schema), 1 (`refused`) when the index or another registry says no.
    A class of its own: `RunIndex.append` places its problems in the records' file (`at`)
    whatever their code, an open set (each record problem's own)."""

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
    """The value of one JSONL line, parsed as strictly as `loads_strict` parses it (a compact
    line by the C parser, vouched for by its own encoding); JSONDecodeProblem names the rule."""
    try:
        value = loads_compact(raw.decode("utf-8"))
    except UnicodeDecodeError:
        value = NOT_COMPACT
    return loads_strict(raw) if value is NOT_COMPACT else value


def encode(record: dict[str, Any]) -> bytes:
    """The line a record is appended as: compact JSON, keys in the order given, UTF-8."""
    return (dumps_compact(record) + "\n").encode()


# --- a record alone ------------------------------------------------------------------------


def judged(
    spec: IndexSpec, schemas: SchemaCatalog, line: int, record: Any, *, schema_valid: bool = False
) -> tuple[list[Problem], int, int]:
    """Every problem of one record alone, and its place (`times`), in one pass: its shape, the
    schema governing the log's name (its if/then rules included; `schema_valid`: the caller's
    one batch call found no violation, or no schema governs the log) and its own fields
    (`field_problems`). A record whose key, times and file fields are plain, most of a million,
    is decided by a few lookups; any other by the checks one at a time."""
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
    """Whether `field_problems` finds nothing in `record`'s file fields, decided by one regular
    expression each (False: ask `field_problems`)."""
    final: bool | None = None
    for field in spec.file_fields:
        value = record.get(field)
        if type(value) is str and _PLAIN_POSIX.fullmatch(value):
            continue
        if isinstance(value, str) and value:
            return False
        if final is None:
            final = saved(spec, record)
        if final:
            return False
    return True


def shape_problems(spec: IndexSpec, line: int, record: Any) -> list[Problem]:
    """What keeps a record from being indexed at all: not an object, no string key, a time
    that is not ISO 8601 (`registry runs append` and the build's rules check both ask this)."""
    if not isinstance(record, dict):
        kind = type(record).__name__
        return [record_problem(line, "", "RECORD_NOT_OBJECT", f"is a JSON {kind}, not an object")]
    key = record.get(spec.key)
    shown = key if isinstance(key, str) else None
    problems = []
    if not isinstance(key, str) or not key:
        problems.append(record_problem(line, f"/{spec.key}", "KEY_MISSING", "must be a string"))
    if parse_time(record.get(spec.time)) is None:
        problems.append(
            record_problem(
                line, f"/{spec.time}", "TIME_INVALID", "must be an ISO 8601 UTC time", shown
            )
        )
    return problems


def is_native(path: str) -> bool:
    """Whether `path` is absolute in this machine's form (only such a path can be looked for
    here: a Windows path on POSIX, or a POSIX one on Windows, names the other machine's file)."""
    if NATIVE_POSIX:
        return path.startswith("/")  # what PurePosixPath(path).is_absolute() says
    return PurePath(path).is_absolute()


def path_problem(value: str) -> tuple[str, str] | None:
    """(code, message) of a file field's value that names no file, or None."""
    if _PLAIN_POSIX.fullmatch(value):
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
    final: bool | None = None
    for field in spec.file_fields:
        value = record.get(field)
        if isinstance(value, str) and value:
            found = path_problem(value)
            if found is not None:
                problems.append(record_problem(line, f"/{field}", *found, shown))
            continue
        if final is None:
            final = saved(spec, record)
        if final:
            problems.append(
                record_problem(
                    line,
                    f"/{field}",
                    "REQUIRED_AT_FINAL_SAVE",
                    f"is required at Final Save ({spec.success}): the absolute path of the file",
                    shown,
                )
            )
    updated = record.get(spec.updated)
    if updated is None:
        return problems
    written = parse_time(updated)
    if written is None:
        message = "must be an ISO 8601 UTC time"
        problems.append(record_problem(line, f"/{spec.updated}", "TIME_INVALID", message, shown))
        return problems
    created = parse_time(record.get(spec.time))
    if created is not None and written < created:
        problems.append(
            record_problem(
                line,
                f"/{spec.updated}",
                "UPDATED_BEFORE_CREATED",
                f"{updated} is before the record's {spec.time} {record.get(spec.time)}",
                shown,
            )
        )
    return problems


# --- the warnings of a latest view ---------------------------------------------------------


class Warnings:
    """The catalog's warnings for a run's latest view, for one check (an append, a build):
    recommended fields absent at Final Save (seed 004: "Recommended required at Final Save") and
    files named in this machine's form that do not exist here (what `field_problems` makes an
    error is not also a warning)."""

    def __init__(self, spec: IndexSpec) -> None:
        self.spec = spec
        self.recommended = tuple(f for f in spec.recommended if f not in spec.file_fields)
        """The recommended fields a FILE_ABSENT check does not cover."""
        self._missing: tuple[str, ...] = ()
        """Folders found missing, each with its final `/` (at most MISSING_KEPT)."""

    def warned(self, record: dict[str, Any], final: bool) -> list[tuple[str, str]]:
        """(field, code) of each of `warnings` (`final`: the record is a Final Save), without
        their messages (an import of a million records lists a hundred)."""
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
                and is_native(value)
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
        """`Path(path).exists()`; a path under a folder found missing is not looked up (a
        million run logs under a missing `/srv/c1/...` cost a few lookups, not a million)."""
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
    """(created, updated) of a record in microseconds since the epoch, its place among its run's
    records: updated is `last_updated_utc`, else (absent or unparsable) the created time (a
    created time that does not parse sorts first)."""
    created = parse_time(record.get(spec.time))
    if created is None:
        created = EARLIEST
    updated = parse_time(record.get(spec.updated)) if record.get(spec.updated) else None
    return created, (created if updated is None else updated)


class Order:
    """Each key's records in the order given, as they are added: which come after the key's
    latest (`not_later`), and each key's first and latest record. Held compactly in memory (a
    dict per key and arrays of times and lines: about 150 bytes a record)."""

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
        """(line, key) of each record whose key had a record at an equal or later place
        before it, in line order."""

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
        """Records (`times` each), in line order: a key's first record is noted in one pass in
        C; only a record whose key came before is placed against that key's latest."""
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


def items(stream: Readable, origin: str) -> Iterator[Item]:
    """The records of `stream`, a batch each of them `parsed`: a stream holding one JSON object
    (on any number of lines) is one record; several top-level values are one record per
    non-empty line, in blocks not parsed yet ((first line, whole lines) each). RECORD_UNPARSABLE
    (exit 2) with the parser's line and column for the first line that does not parse (a
    one-object document: its own parse error, never retried as JSONL)."""
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
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    found = None if text is None else compact_lines(text[:-1] if text.endswith("\n") else text)
    if found is not None:
        numbered = zip(range(first, first + len(found.values)), found.values, strict=True)
        appended = block if block.endswith(b"\n") else block + b"\n"
        return Batch(list(numbered), appended, found.sizes, plain=found.plain)
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
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
