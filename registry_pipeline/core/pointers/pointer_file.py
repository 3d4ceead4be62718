"""`ACTIVE_REGISTRY_POINTERS_v0_1.json`: which sealed snapshot is active, per registry.

The seed system's format: `pointer_contract_version`, `last_updated_utc` and a `pointers` array of
`{registry_id, active_ref: {run_id, run_root, relpath, manifest_sha256}, active_ref_known,
active_asof_utc, notes}`. A file written by the seed system is read as is; top-level keys we do not
use (`description`, `pointer_schema`, ...) are kept when we rewrite the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from registry_pipeline.core._json import JSONDecodeProblem, dumps_pretty, loads_strict
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.schemas import SchemaCatalog

POINTERS_NAME = "ACTIVE_REGISTRY_POINTERS_v0_1.json"
POINTERS_SCHEMA_ID = "urn:registry-pipeline:schema:active_registry_pointers"
CONTRACT_VERSION = "0.1"
UNKNOWN = "unknown"


class PointerFileError(UsageError):
    """The pointer file cannot be read or breaks its contract."""

    code = "POINTERS_INVALID"
    exit_code = 1


@dataclass(frozen=True)
class ActiveRef:
    """A sealed snapshot as a pointer names it."""

    run_id: str | None
    run_root: str | None = ".codex/RUNS"
    relpath: str | None = None
    """The registry's primary artifact inside the folder, or None for a multi-file snapshot."""
    manifest_sha256: str | None = None
    """The folder's ROOT_SHA256."""

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> ActiveRef | None:
        """None for null or for an all-null ref (the seed's "no active snapshot")."""
        if value is None or all(value.get(k) is None for k in ("run_id", "manifest_sha256")):
            return None
        return cls(
            value.get("run_id"), value.get("run_root"), value.get("relpath"),
            value.get("manifest_sha256"),
        )  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        """The `active_ref` / journal `from_ref` / `to_ref` object."""
        return {
            "run_id": self.run_id,
            "run_root": self.run_root,
            "relpath": self.relpath,
            "manifest_sha256": self.manifest_sha256,
        }

    def __str__(self) -> str:
        return f"{self.run_id} sha256:{self.manifest_sha256}"


NULL_REF: dict[str, None] = {"run_id": None, "run_root": None, "relpath": None,
                             "manifest_sha256": None}  # fmt: skip


@dataclass(frozen=True)
class Pointer:
    """One registry's entry."""

    registry_id: str
    active_ref: ActiveRef | None
    active_ref_known: bool | str = True
    """True (set and verified), False (known to be invalid) or "unknown"."""
    active_asof_utc: str = UNKNOWN
    notes: str = ""

    def as_json(self) -> dict[str, Any]:
        """The entry as the pointer file holds it."""
        return {
            "registry_id": self.registry_id,
            "active_ref": self.active_ref.as_json() if self.active_ref else dict(NULL_REF),
            "active_ref_known": self.active_ref_known,
            "active_asof_utc": self.active_asof_utc,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class PointerFile:
    """The whole file: entries by registry id, in file order, plus keys we keep untouched."""

    pointers: dict[str, Pointer] = field(default_factory=dict)
    last_updated_utc: str = UNKNOWN
    contract_version: str = CONTRACT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def active(self, registry_id: str) -> ActiveRef | None:
        """The active ref of a registry, None when it has none."""
        pointer = self.pointers.get(registry_id)
        return pointer.active_ref if pointer else None

    def with_pointer(self, pointer: Pointer, now: str) -> PointerFile:
        """A copy with `pointer` set (appended when new) and `last_updated_utc` = now."""
        pointers = dict(self.pointers)
        pointers[pointer.registry_id] = pointer
        return replace(self, pointers=pointers, last_updated_utc=now)

    def render(self) -> bytes:
        """The file's bytes: our keys first, kept keys after, two-space indent."""
        document: dict[str, Any] = {
            "pointer_contract_version": self.contract_version,
            "last_updated_utc": self.last_updated_utc,
            "pointers": [pointer.as_json() for pointer in self.pointers.values()],
        }
        document.update({k: v for k, v in self.extra.items() if k not in document})
        return dumps_pretty(document, sort_keys=False)


def parse_pointer_file(data: bytes, path: Path, schemas: SchemaCatalog) -> PointerFile:
    """Parse and check a pointer file; every problem is a PointerFileError naming the field."""
    try:
        document = loads_strict(data)
    except JSONDecodeProblem as exc:
        raise PointerFileError(f"not valid JSON: {exc}", path=str(path)) from None
    violations = schemas.validate(POINTERS_SCHEMA_ID, document)
    if violations:
        first = violations[0]
        raise PointerFileError(f"{first.pointer or '/'}: {first.message}", path=str(path))
    pointers: dict[str, Pointer] = {}
    for index, entry in enumerate(document["pointers"]):
        registry_id = entry["registry_id"]
        if registry_id in pointers:
            raise PointerFileError(
                f"/pointers/{index}/registry_id: {registry_id!r} appears twice", path=str(path)
            )
        pointers[registry_id] = Pointer(
            registry_id,
            ActiveRef.from_json(entry.get("active_ref")),
            entry["active_ref_known"],
            entry["active_asof_utc"],
            entry.get("notes", ""),
        )
    kept = {
        key: value
        for key, value in document.items()
        if key not in ("pointer_contract_version", "last_updated_utc", "pointers")
    }
    return PointerFile(
        pointers,
        document.get("last_updated_utc", UNKNOWN),
        document.get("pointer_contract_version", CONTRACT_VERSION),
        kept,
    )


def read_pointer_file(path: Path, schemas: SchemaCatalog) -> PointerFile:
    """The pointer file at `path`; an empty PointerFile when there is none yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return PointerFile()
    except OSError as exc:
        raise PointerFileError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    return parse_pointer_file(data, path, schemas)
