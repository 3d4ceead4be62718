"""A record given to `registry runs append` checked alone (its shape, and the schema governing
the log's name), and the problems and refusal that name its line and field."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from registry_pipeline.core.errors import UsageError, problem_object
from registry_pipeline.core.json_strict import dumps_compact
from registry_pipeline.core.run_index.spec import IndexSpec, parse_time
from registry_pipeline.core.seal.schemas import SchemaCatalog

MAX_LISTED = 100
"""Problems listed per refusal; the error says how many there were."""


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
    return (dumps_compact(record) + "\n").encode()
