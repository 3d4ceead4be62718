"""The problems a file's parse or schema check reports, one shape for the seal's inspector and
for the files a source registry is about to seal (`core.workspace.sources`)."""

from __future__ import annotations

from registry_pipeline.core.errors import Problem, ReasonCode
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.seal.paths import printable


def json_invalid(relpath: str, fmt: str, exc: JSONDecodeProblem) -> Problem:
    """A file that does not parse: JSON_INVALID at the parser's line and column, the rule it
    broke (`JSON_NON_FINITE`, `JSON_TOO_DEEP`, ...) in the message when it is not plain syntax."""
    detail = exc.message if exc.code == "JSON_INVALID" else str(exc)
    return Problem(
        code=ReasonCode.JSON_INVALID,
        path=printable(relpath),
        message=f"not valid {fmt}: {detail}",
        line=exc.line,
        column=exc.column,
    )


def schema_violation(
    relpath: str, message: str, line: int | None, field: str | None = None
) -> Problem:
    """A schema violation in `relpath`, at `line` (when known) and the JSON pointer `field`."""
    return Problem(
        code=ReasonCode.SCHEMA_VIOLATION,
        path=printable(relpath),
        message=message,
        line=line,
        field=field,
    )
