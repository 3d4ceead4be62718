"""One error base for the core, and the one per-item `Problem` every error carries a list of."""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum


class ReasonCode(StrEnum):
    """Reason codes of the seal contract: a public, stable vocabulary (docs/SEAL_CONTRACT.md)."""

    MISSING_REQUIRED_FILE = "MISSING_REQUIRED_FILE"
    MALFORMED_MANIFEST = "MALFORMED_MANIFEST"
    MANIFEST_DISAGREES = "MANIFEST_DISAGREES"
    DUPLICATE_ENTRY = "DUPLICATE_ENTRY"
    HASH_MISMATCH = "HASH_MISMATCH"
    SIZE_MISMATCH = "SIZE_MISMATCH"
    MISSING_FILE = "MISSING_FILE"
    UNLISTED_FILE = "UNLISTED_FILE"
    ROOT_MISMATCH = "ROOT_MISMATCH"
    UNSAFE_PATH = "UNSAFE_PATH"
    NOT_A_REGULAR_FILE = "NOT_A_REGULAR_FILE"
    RUN_JSON_INVALID = "RUN_JSON_INVALID"
    RUN_ID_MISMATCH = "RUN_ID_MISMATCH"
    SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
    JSON_INVALID = "JSON_INVALID"
    NOT_A_RUN_FOLDER = "NOT_A_RUN_FOLDER"


def problem_object(
    code: str,
    message: str,
    *,
    path: str | None = None,
    line: int | None = None,
    field: str | None = None,
    **extra: object,
) -> dict[str, object]:
    """The one `--json` shape of a problem: code, path, line, field, message, then the rest."""
    document: dict[str, object] = {
        "code": code,
        "path": path,
        "line": line,
        "field": field,
        "message": message,
    }
    document.update({key: value for key, value in extra.items() if value is not None})
    return document


def problem_text(problem: Mapping[str, object]) -> str:
    """A problem object as one human line, `CODE  path: message`, as `Problem` prints it."""
    where = str(problem.get("path") or "")
    message = str(problem.get("message"))
    field, line = problem.get("field"), problem.get("line")
    if field and str(field) not in message:
        message = f"{field}: {message}"
    if line is not None and f"line {line}" not in message:
        where = f"{where}:{line}" if where else f"line {line}"
    return f"{problem.get('code')}  {where + ': ' if where else ''}{message}"


class Hint(StrEnum):
    """Machine-readable diagnoses attached to a problem when its cause is known."""

    LINE_ENDINGS_CONVERTED = "LINE_ENDINGS_CONVERTED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong (or worth knowing), with context to act on; no pydantic, for CLI start-up."""

    code: str
    """The reason code: a `ReasonCode`, another vocabulary's (`DeltaCode`), or a user's rule id."""
    path: str | None = None
    """Relpath inside the run folder, if any."""
    message: str
    """One human sentence saying what is wrong."""
    expected: str | int | None = None
    """What the seal records."""
    found: str | int | None = None
    """What is actually there."""
    hint: Hint | None = None
    """A diagnosed cause, when one is known."""
    line: int | None = None
    """1-based line in the file at `path`, when known."""
    column: int | None = None
    """1-based column on that line, when known (a parser's position)."""
    field: str | None = None
    """The offending field, as a JSON pointer, when known."""
    run_id: str | None = None
    """The run folder the problem was found in, when it is one of many (a delta log's chain)."""
    previous_run_id: str | None = None
    """The older run folder of a pair the problem is between (a link of a chain)."""
    severity: str = "error"
    """`error` fails (a check, a write); `warning` and `note` are told; `record` is logged."""
    subject: tuple[str, ...] = ()
    """What the problem is about, by the names that pick it out, outermost first."""
    related: tuple[str, ...] = ()
    """The other thing involved, named the same way (the entry it collides with, an owner)."""
    extra: Mapping[str, object] = dataclasses.field(default_factory=dict)
    """Whatever else its vocabulary records (a journal record's `seq`, a drift's verdict)."""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.code}  {where}{self.message}"

    def as_json(self) -> dict[str, object]:
        """The problem as `problem_object` shapes it (`registry validate --json`), `extra` last."""
        return problem_object(
            str(self.code),
            self.message,
            path=self.path,
            line=self.line,
            field=self.field,
            run_id=self.run_id,
            previous_run_id=self.previous_run_id,
            column=self.column,
            expected=self.expected,
            found=self.found,
            hint=None if self.hint is None else self.hint.value,
            **self.extra,
        )


class RegistryError(Exception):
    """Base of every error the core raises; `problems` holds its per-item findings."""

    code: str = "REGISTRY_ERROR"
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        problems: Iterable[Problem] = (),
        exit_code: int | None = None,
        headline: str | None = None,
        text: Callable[[Problem], str] = str,
        as_json: Callable[[Problem], dict[str, object]] = Problem.as_json,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if exit_code is not None:
            self.exit_code = exit_code
        self.path = path
        self.line = line
        """1-based line in the file at `path`, when known (a parser's position)."""
        self.column = column
        """1-based column on that line, when known."""
        self.field = field
        """The offending field (a JSON pointer) or option (`--type`), when known."""
        self.problems: tuple[Problem, ...] = tuple(problems)
        """Every per-item finding behind the error, in the order found."""
        self.headline = headline
        """The first line of `diagnostics()` where a vocabulary words it its own way."""
        self.problem_text = text
        """One problem as its line of `diagnostics()` (its vocabulary's wording)."""
        self.problem_json = as_json
        """One problem as its object of `--json`'s `details`."""

    def diagnostics(self) -> str:
        """The text shown to a user: code, path, message, then one indented line per problem."""
        where = f" {self.path}:" if self.path else ""
        lines = [self.headline or f"error: {self.code}{where} {self.message}"]
        lines.extend(f"  {self.problem_text(problem)}" for problem in self.problems)
        return "\n".join(lines)

    @property
    def details(self) -> tuple[str, ...]:
        """The problems as the lines `diagnostics()` shows."""
        return tuple(self.problem_text(problem) for problem in self.problems)


class BuildInProgress(RegistryError):
    """Another build holds the workspace's build slot; its own class: callers find it by name."""

    code = "BUILD_IN_PROGRESS"


class UsageError(RegistryError):
    """Bad arguments or unreadable input: the caller must change what they asked for."""

    code = "BAD_USAGE"
    exit_code = 2


IO_ERROR = "IO_ERROR"
"""The operating system failed a read or write (a full disk, a read-only filesystem, a denied
permission, a failing device): the error names the file and says what to do."""

TRY_AGAIN = "then try again"
"""How every piece of advice on an IO_ERROR ends (`io_advice`)."""
DISK_FAULTS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
"""Errnos of the disk rather than of the file (full, a size limit, failing): IO_ERROR even where
a file that cannot be written has a code of its own."""

_IO_ADVICE = {
    errno.ENOSPC: f"free space on the disk that holds it, {TRY_AGAIN}",
    errno.EDQUOT: f"free space within the disk quota (or raise it), {TRY_AGAIN}",
    errno.EFBIG: f"a file size limit was reached (`ulimit -f`, the filesystem's): raise it, "
    f"{TRY_AGAIN}",
    errno.EROFS: f"the filesystem is mounted read-only: make it writable, {TRY_AGAIN}",
    errno.EACCES: f"give this user access to it, {TRY_AGAIN}",
    errno.EPERM: "it is not this user's to change (another owner, or immutable: `lsattr`): fix "
    f"that, {TRY_AGAIN}",
    errno.EIO: f"the device reported an error: check it (`dmesg`), {TRY_AGAIN}",
}


def io_advice(cause: int | str | None) -> str:
    """What to do about a failed read or write, by its errno or a message naming its strerror."""
    if isinstance(cause, str):
        cause = next((number for number in _IO_ADVICE if os.strerror(number) in cause), None)
    return _IO_ADVICE.get(cause or 0, f"fix its cause, {TRY_AGAIN}")


def advised(message: str) -> str:
    """An IO_ERROR's `message` ending with what to do (`io_advice`), unless it says so already."""
    return message if TRY_AGAIN in message else f"{message}; {io_advice(message)}"


def io_error(
    exc: OSError, path: str | os.PathLike[str] | None = None, *, done: str = ""
) -> RegistryError:
    """IO_ERROR for `exc`: the file it names (else `path`), why (with the errno's name), what
    was or was not `done`, and what to do."""
    name = errno.errorcode.get(exc.errno or 0, "")
    reason = f"{exc.strerror or exc}" + (f" ({name})" if name else "")
    where = exc.filename if exc.filename is not None else path
    if where is not None and exc.filename2 is not None:
        where = f"{os.fsdecode(where)} -> {os.fsdecode(exc.filename2)}"
    message = "; ".join(part for part in (reason, done, io_advice(exc.errno)) if part)
    return RegistryError(message, code=IO_ERROR, path=None if where is None else os.fsdecode(where))


@contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """OSErrors of the block that name no file name `path` (a write or fsync on a descriptor)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from None
