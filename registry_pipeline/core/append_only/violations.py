"""What the append-only check finds: one `Violation` per broken promise, a `Report` per file.

A violation names the catalog entry it lies in beside its JSON pointer, as the seed's checker
names a role (`role_id=newbie_1`): a reviewer finds the entry by its id, not by counting.
"""

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
class Entry:
    """The catalog entry a JSON pointer lies in: its own pointer, the key of its id, its id."""

    pointer: str
    """JSON pointer of the entry, e.g. `/roles/38`."""
    key: str
    """The key of its id, e.g. `role_id`."""
    id: str
    """Its id as the file writes it (even one that breaks the id format: it names the entry)."""

    def __str__(self) -> str:
        return f"{self.pointer} ({self.key}={self.id})"

    def locate(self, path: str) -> str:
        """`path`, a pointer into this entry, with the entry named:
        `/roles/38 (role_id=newbie_1)/extract_contracts`."""
        return f"{self}{path[len(self.pointer) :]}"


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
    entry: Entry | None = None
    """The entry `path` lies in (of the baseline for a removal); None when it lies in no entry
    with a usable id."""

    def __str__(self) -> str:
        return f"{self.code}  {self.location}: {self.message}"

    @property
    def location(self) -> str:
        """`path` in words: the entry named beside its pointer when there is one."""
        return self.entry.locate(self.path) if self.entry is not None else self.path

    @property
    def in_current(self) -> bool:
        """Whether `path` points into the checked document (else into the published one)."""
        return self.code not in IN_BASELINE

    def as_json(self, *, sealed: bool = False) -> dict[str, Any]:
        """The `{code, id, path, message, ...}` row of the blocking check's metadata, with the
        `entry_id`; `sealed`: the row of the sealed diagnostics file, whose v0_1 schema has no
        room for it (`path` is the JSON pointer in both)."""
        out: dict[str, Any] = {
            "code": self.code,
            "id": self.id,
            "path": self.path,
            "message": self.message,
        }
        out.update(self._details(sealed=sealed))
        return out

    def problem(self, file: str, line: int | None = None) -> dict[str, object]:
        """The problem object of `--json`: `path` the file, `field` the JSON pointer, `line`
        where the pointer's value starts in the file (None when unknown or in the baseline)."""
        return problem_object(
            self.code, self.message, path=file, line=line, field=self.path, id=self.id,
            **self._details(),
        )  # fmt: skip

    def _details(self, *, sealed: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.entry is not None and not sealed:
            out["entry_id"] = self.entry.id
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
