"""What the append-only check finds: one `Violation` per broken promise, a `Report` per file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.append_only.compat import Compatibility
from registry_pipeline.core.errors import problem_object

CODES = (
    "ID_REMOVED",
    "DUPLICATE_ID",
    "INVALID_ID",
    "ALIAS_COLLISION",
    "INVALID_CONTRACT_ID",
    "DUPLICATE_CONTRACT_ID",
    "CONTRACT_REMOVED",
    "CONTRACT_SURFACE_DRIFT",
    "CONTRACT_SURFACE_INVALID",
)
"""Every violation code, in the order the docs list them."""

IN_BASELINE = frozenset({"ID_REMOVED", "CONTRACT_REMOVED"})
"""The codes whose JSON pointer is a place in the published version, not in the checked file."""


@dataclass(frozen=True)
class Violation:
    """One broken promise, with the ids involved and, for drift, both hashes."""

    code: str
    id: str | None
    """The id concerned (an entry id or a contract id); None when it has no usable id."""
    message: str
    path: str
    """JSON pointer into the current document (the baseline's for a removal)."""
    ids: tuple[str, ...] = ()
    """Other ids involved (the colliding id, the owner of a contract...)."""
    expected_sha256: str | None = None
    found_sha256: str | None = None
    publish_instead: str | None = None
    """For drift: the next free contract id of that owner and kind."""
    compatibility: Compatibility | None = None

    def __str__(self) -> str:
        return f"{self.code}  {self.path}: {self.message}"

    @property
    def in_current(self) -> bool:
        """Whether `path` points into the checked document (else into the published one)."""
        return self.code not in IN_BASELINE

    def as_json(self) -> dict[str, Any]:
        """The `{code, id, path, message, ...}` row of the sealed diagnostics file (v0_1, whose
        `path` is the JSON pointer) and of the blocking check's metadata."""
        out: dict[str, Any] = {
            "code": self.code,
            "id": self.id,
            "path": self.path,
            "message": self.message,
        }
        out.update(self._details())
        return out

    def problem(self, file: str, line: int | None = None) -> dict[str, object]:
        """The problem object of `--json`: `path` the file, `field` the JSON pointer, `line`
        where the pointer's value starts in the file (None when unknown or in the baseline)."""
        return problem_object(
            self.code, self.message, path=file, line=line, field=self.path, id=self.id,
            **self._details(),
        )  # fmt: skip

    def _details(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.ids:
            out["ids"] = list(self.ids)
        if self.expected_sha256 is not None:
            out["expected_sha256"] = self.expected_sha256
            out["found_sha256"] = self.found_sha256
        if self.publish_instead is not None:
            out["publish_instead"] = self.publish_instead
        if self.compatibility is not None:
            out["compatibility"] = self.compatibility.as_json()
        return out


@dataclass(frozen=True)
class Report:
    """The outcome of one check."""

    violations: tuple[Violation, ...]
    entries: int
    """Entries in the current document."""
    contracts: int
    """Contracts in the current document."""
    baseline_entries: int | None
    """Entries in the baseline; None for a first publish."""

    @property
    def ok(self) -> bool:
        """True when no promise is broken."""
        return not self.violations
