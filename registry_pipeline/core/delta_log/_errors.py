"""Reason codes, per-item findings and the errors of the delta log (records, state, chain)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from registry_pipeline.core.errors import RegistryError, problem_object


class DeltaCode(StrEnum):
    """Reason codes of the delta log's checks: a public, stable vocabulary."""

    RECORD_INVALID = "RECORD_INVALID"
    PREFIX_VIOLATION = "PREFIX_VIOLATION"
    FROM_MISMATCH = "FROM_MISMATCH"
    DUPLICATE_SNAPSHOT = "DUPLICATE_SNAPSHOT"
    OUT_OF_ORDER = "OUT_OF_ORDER"
    DERIVATION_MISMATCH = "DERIVATION_MISMATCH"
    MISSING_SNAPSHOT = "MISSING_SNAPSHOT"
    ROOT_MISMATCH = "ROOT_MISMATCH"
    SEAL_INVALID = "SEAL_INVALID"
    CHAIN_INPUT_INVALID = "CHAIN_INPUT_INVALID"
    LOG_STATE_MISSING = "LOG_STATE_MISSING"
    LOG_STATE_INVALID = "LOG_STATE_INVALID"
    LOG_STATE_MISMATCH = "LOG_STATE_MISMATCH"
    FUTURE_DATED = "FUTURE_DATED"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeltaFinding:
    """One problem found in a delta log or its chain of snapshots, with where it is."""

    code: DeltaCode
    """The reason code."""
    path: str | None = None
    """The artifact relpath or run folder concerned."""
    message: str
    """One human sentence saying what is wrong."""
    line: int | None = None
    """1-based line of the JSONL artifact, when the problem is in one line."""
    field: str | None = None
    """JSON pointer of the offending field inside the record, e.g. `/to_ref/manifest_sha256`."""
    run_id: str | None = None
    """The log snapshot (the newer one of a chain link) the problem was found in."""
    previous_run_id: str | None = None
    """The older log snapshot of a chain link."""
    expected: str | None = None
    """What the log or the chain records."""
    found: str | None = None
    """What is actually there."""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        at = f"line {self.line}: " if self.line is not None else ""
        return f"{self.code.value}  {where}{at}{self.message}"

    def as_json(self) -> dict[str, object]:
        """The finding as a problem object (`problem_object`: code, path, line, field and
        message always there), then the run ids, expected and found when set."""
        return problem_object(
            self.code.value,
            self.message,
            path=self.path,
            line=self.line,
            field=self.field,
            run_id=self.run_id,
            previous_run_id=self.previous_run_id,
            expected=self.expected,
            found=self.found,
        )


class DeltaLogError(RegistryError):
    """A delta record, a log or its state cannot be used; names the line and field when known."""

    code = "RECORD_INVALID"

    def __init__(
        self,
        message: str,
        *,
        code: DeltaCode = DeltaCode.RECORD_INVALID,
        path: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, code=code.value, path=path)
        self.reason = code
        self.field = field
        self.line = line

    def diagnostics(self) -> str:
        where = f" {self.path}:" if self.path else ""
        at = f" line {self.line}:" if self.line is not None else ""
        field = f" {self.field}:" if self.field else ""
        return f"error: {self.code}{where}{at}{field} {self.message}"


class DeltaChainError(RegistryError):
    """The delta log or its chain of snapshots is broken; `details` lists every finding."""

    code = "DELTA_CHAIN_BROKEN"

    def __init__(self, path: str, details: Sequence[DeltaFinding]) -> None:
        super().__init__(f"{len(details)} problem(s) in the delta log chain", path=path)
        self.details = tuple(details)

    def diagnostics(self) -> str:
        lines = [f"error: {self.code} {self.path}: {self.message}"]
        lines.extend(f"  {finding}" for finding in self.details)
        return "\n".join(lines)
