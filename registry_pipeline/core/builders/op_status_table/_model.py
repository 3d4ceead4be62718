"""The status table's versions, artifact names and vocabulary, its input error, and its values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_pipeline.core.errors import UsageError

STATUS_VERSION = "0.1"
DETAIL_VERSION = "0.2"
TABLE_ARTIFACT = "OPERATION_STATUS_TABLE_v0_1.json"
DETAIL_ARTIFACT = "OPERATION_STATUS_DETAIL_v0_2.json"
ROW_FIELDS = (
    "status_version",
    "option",
    "operation_id",
    "operation_name",
    "coverage_level",
    "last_run_id",
    "last_run_created_utc",
    "run_evidence_state",
    "manifest_state",
    "run_json_state",
    "staleness_days",
    "op_drift",
    "op_drift_reasons",
    "warnings",
)
STATUSES = ("ok", "failing", "stale", "never_run")
SEAL_STATES = ("PASS", "FAIL", "INTACT_OLDER_FORMAT", "CONVERTED", "UNSEALED", "TAMPERED")
_OLDEST = datetime.min.replace(tzinfo=UTC)
LINE_ENDINGS_DIAGNOSIS = "seal:DIAGNOSIS:LINE_ENDINGS_CONVERTED"
"""The run registry's warning for a folder whose every failing file matches its seal once its
line endings are converted back."""


class OpStatusInputError(UsageError):
    """An input of the builder is unusable; `path` points at the offending field."""

    code = "OP_STATUS_INPUT_INVALID"


@dataclass(frozen=True)
class RunFact:
    """What the builder reads from one run registry line."""

    run_key: str
    """`<run_root>::<run_id>`, unique across roots."""
    run_id: str
    """The run folder's name."""
    operation_id: str | None
    """The operation the run's `run.json` names, if any."""
    created_utc: str | None
    """The run's `created_utc` as written."""
    created: datetime | None
    """`created_utc` parsed (timezone-aware), or None when absent or unreadable."""
    seal: str
    """PASS, FAIL, TAMPERED, UNSEALED, or UNKNOWN when the line carries no seal warning."""
    seal_warnings: tuple[str, ...]
    """The line's `seal:...` warnings, in order (reason codes and paths when it fails)."""
    has_run_json: bool | None
    """Whether the folder has a `run.json` (None when the line does not say)."""
    has_manifest_sha256: bool | None
    """Whether the folder has a `MANIFEST.sha256` (None when the line does not say)."""
    git_commit: str | None
    """The commit the run was built from, if recorded."""
    working_tree_state: str | None
    """`clean`, `dirty`, or None when unknown."""

    @property
    def folder(self) -> str:
        """The run folder, workspace-relative (`<run_root>/<run_id>`)."""
        return self.run_key.replace("::", "/", 1)

    @property
    def line_endings_converted(self) -> bool:
        """Whether its seal fails only because git converted its text files' line endings."""
        return LINE_ENDINGS_DIAGNOSIS in self.seal_warnings

    @property
    def order(self) -> tuple[datetime, str]:
        """Sort key: creation time (unknown is oldest), then run key."""
        return (self.created or _OLDEST, self.run_key)


@dataclass(frozen=True)
class Operation:
    """One entry of the operations catalog, as the builder needs it."""

    operation_id: str
    name: str
    option: str
    enforcement_level: str
    threshold_pack: str | None
    canonical: bool = True
    """False for an exploratory or legacy operation (a catalog's NON_CANONICAL section, option
    NC): authorized and in the detail, without a row in the v0.1 table or a coverage level."""
    executables: tuple[str, ...] = ()
    """The files the catalog's Bound Executables field names."""
    coverage_source: str | None = None
    """Where `enforcement_level` was read: `<matrix>:<line>`, `catalog`, or None (the C0 floor)."""
    defined_in: str | None = None
    """Where the catalog defines it (`<catalog>:<line>`), when it says."""


@dataclass(frozen=True)
class CatalogWarning:
    """A line of an operations catalog or coverage matrix that could not be understood: the
    build goes on without it, and the detail and the health report list it."""

    source: str
    """The file (as sealed), e.g. `OVC_ALLOWED_OPERATIONS_CATALOG_v0.1.md`."""
    line: int
    """1-based line."""
    operation_id: str | None
    """The operation the line belongs to, when known."""
    message: str
    """What could not be understood, and what was done instead."""

    def __str__(self) -> str:
        where = f"{self.operation_id}: " if self.operation_id else ""
        return f"{self.source}:{self.line}: {where}{self.message}"

    def as_json(self) -> dict[str, Any]:
        """`{source, line, operation_id, message}` as the detail lists it."""
        return {
            "source": self.source,
            "line": self.line,
            "operation_id": self.operation_id,
            "message": self.message,
        }


@dataclass(frozen=True)
class OpStatusResult:
    """The v0.1 table rows (seed field order) and the v0.2 companion document."""

    table: list[dict[str, Any]]
    """`OPERATION_STATUS_TABLE_v0_1.json`: one row per operation, catalog order."""
    detail: dict[str, Any]
    """`OPERATION_STATUS_DETAIL_v0_2.json`: per-operation detail, unauthorized ops, counts."""


@dataclass(frozen=True)
class OperationsInput:
    """What the builder reads from an allowed_operations snapshot."""

    document: Any
    """The allowed_operations document (a JSON catalog as it is, or Markdown catalogs read)."""
    coverage: Any
    """operation id -> `Coverage` from the enforcement coverage matrices; None without any."""
    warnings: tuple[CatalogWarning, ...] = ()
    """Lines of the catalogs and matrices that could not be read."""
