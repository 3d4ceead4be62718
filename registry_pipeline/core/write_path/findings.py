"""What the write path reports: one finding per problem, each naming the entry and the field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from registry_pipeline.core.errors import RegistryError, UsageError, problem_object

SEVERITIES = ("error", "warning", "record")
"""error blocks a write (and fails the build's check); warning is printed; record is logged."""


@dataclass(frozen=True)
class Finding:
    """One problem of one entry: which rule, how severe, where (type, key, field) and why."""

    code: str
    """A rule id of the coordination file, or a fixed code (SCHEMA_VIOLATION, DUPLICATE_KEY...)."""
    severity: str
    type: str
    key: str | None
    field: str
    """A JSON pointer into the entry ("" for the entry as a whole)."""
    message: str
    file: str | None = None
    """The workspace-relative file the entry lives in (or would)."""
    related: tuple[str, str] | None = None
    """(type, key) of the other entry the finding is about, if any."""
    line: int | None = None
    """1-based line in `file`, when a parser gave it (a file that does not parse)."""
    column: int | None = None
    """1-based column on that line, when the parser gave it."""

    def involves(self, type_name: str, key: str) -> bool:
        """Whether the entry `type_name`/`key` is this finding's entry or its related one."""
        return (self.type, self.key) == (type_name, key) or self.related == (type_name, key)

    def as_json(self) -> dict[str, object]:
        """The finding as `problem_object` shapes every problem (`path` is the file; `line`
        and `column` where a parser gave them), then `severity`, `type`, `key` and `related`:
        what `--json` prints, the check's metadata and the write path's logs list."""
        return problem_object(
            self.code,
            self.message,
            path=self.file,
            line=self.line,
            field=self.field,
            column=self.column,
            severity=self.severity,
            type=self.type,
            key=self.key,
            related=list(self.related) if self.related else None,
        )

    def __str__(self) -> str:
        where = f"{self.type}[{self.key}]" if self.key is not None else self.type
        return f"{self.severity}: {self.code} {where}{self.field}: {self.message}"


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that block a write."""
    return [finding for finding in findings if finding.severity == "error"]


class EntryError(UsageError):
    """The entry itself is bad input (unparsable, wrong shape, schema violation): exit 2;
    `details` lists every problem."""

    code = "ENTRY_INVALID"

    def __init__(self, details: Iterable[Finding], *, code: str | None = None) -> None:
        self.details = tuple(details)
        super().__init__(
            f"{len(self.details)} problem(s) with the entry; nothing was written", code=code
        )

    def diagnostics(self) -> str:
        lines = [f"error: {self.code}: {self.message}"]
        lines.extend(f"  {finding}" for finding in self.details)
        return "\n".join(lines)


class RegistryFileError(RegistryError):
    """A registry file the write path must read is broken (unparsable, duplicate keys...): the
    write is blocked (exit 1) until it is fixed; `details` lists every problem."""

    code = "REGISTRY_FILE_INVALID"

    def __init__(self, details: Iterable[Finding]) -> None:
        self.details = tuple(details)
        super().__init__(
            f"{len(self.details)} problem(s) in the registry files; nothing was written"
        )

    def diagnostics(self) -> str:
        lines = [f"error: {self.code}: {self.message}"]
        lines.extend(f"  {finding.file or finding.type}: {finding}" for finding in self.details)
        return "\n".join(lines)


class SpliceError(RegistryError):
    """The spliced file would not read back as the intended document (a bug, reported with the
    file rather than written)."""

    code = "SPLICE_MISMATCH"
    exit_code = 3
