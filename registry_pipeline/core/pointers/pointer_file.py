"""`ACTIVE_REGISTRY_POINTERS_v0_1.json`: which sealed snapshot is active, per registry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.json_strict import (
    JSONDecodeProblem,
    dumps_pretty,
    json_members,
    loads_strict,
    skip_space,
)
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.gitstate import DEFAULT_POINTER_FILE
from registry_pipeline.core.seal.schemas import SchemaCatalog, violation_text
from registry_pipeline.core.workspace.input_files import MAX_CATALOG_FILE_BYTES, read_regular_file

POINTERS_NAME = PurePosixPath(DEFAULT_POINTER_FILE).name
POINTERS_SCHEMA_ID = "urn:registry-pipeline:schema:active_registry_pointers"
CONTRACT_VERSION = "0.1"
UNKNOWN = "unknown"


class PointerRefused(RegistryError):
    """The store refused a change; `code` says why (CAS_CONFLICT, TARGET_INVALID, ...)."""

    @classmethod
    def from_error(cls, error: RegistryError, message: str | None = None) -> PointerRefused:
        """`error` (its code and path) as the store's refusal, `message` replacing its text."""
        return cls(message or error.message, code=error.code, path=error.path)


NULL_REF: dict[str, None] = {"run_id": None, "run_root": None, "relpath": None,
                             "manifest_sha256": None}  # fmt: skip
_NULLABLE = ("run_id", "run_root", "manifest_sha256")


def read_ref(registry_id: str, value: Mapping[str, Any] | None) -> SealedRef | None:
    """An `active_ref`, `from_ref` or `to_ref` as a sealed ref; None for null or all-null."""
    if value is None or all(value.get(k) is None for k in ("run_id", "manifest_sha256")):
        return None
    run_id, run_root, root = (value.get(k) or "" for k in _NULLABLE)
    return SealedRef(registry_id, run_id, root, run_root, value.get("relpath"))


def ref_json(ref: SealedRef | None) -> dict[str, Any]:
    """The ref object a pointer file and the journal hold ("" back to null; None all-null)."""
    if ref is None:
        return dict(NULL_REF)
    return {key: value if key == "relpath" else value or None
            for key, value in ref.as_json(with_registry=False).items()}  # fmt: skip


def run_id_text(ref: SealedRef | None) -> str:
    """A ref's run id as `pointers history` names it (`(none)`: no ref, `None`: no run id)."""
    if ref is None:
        return "(none)"
    return ref.run_id or "None"


def ref_text(ref: SealedRef | None) -> str:
    """A ref as messages name it: `<run_id> sha256:<root>`."""
    if ref is None:
        return "None"
    values = ref_json(ref)
    return f"{values['run_id']} sha256:{values['manifest_sha256']}"


@dataclass(frozen=True)
class Pointer:
    """One registry's entry."""

    registry_id: str
    active_ref: SealedRef | None
    active_ref_known: bool | str = True
    """True (set and verified), False (known to be invalid) or "unknown"."""
    active_asof_utc: str = UNKNOWN
    notes: str = ""

    def as_json(self) -> dict[str, Any]:
        """The entry as the pointer file holds it."""
        return {
            "registry_id": self.registry_id,
            "active_ref": ref_json(self.active_ref),
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
    source: str | None = field(default=None, compare=False, repr=False)
    """The text the file was read from; rewrites keep its layout."""

    def active(self, registry_id: str) -> SealedRef | None:
        """The active ref of a registry, None when it has none."""
        pointer = self.pointers.get(registry_id)
        return pointer.active_ref if pointer else None

    def with_pointer(self, pointer: Pointer, now: str) -> PointerFile:
        """A copy with `pointer` set (appended when new) and `last_updated_utc` = now."""
        pointers = dict(self.pointers)
        pointers[pointer.registry_id] = pointer
        return replace(self, pointers=pointers, last_updated_utc=now)

    def render(self) -> bytes:
        """The file's bytes: a read file keeps its text but for `last_updated_utc`, `pointers`."""
        entries = [pointer.as_json() for pointer in self.pointers.values()]
        if self.source is not None:
            spliced = _splice(
                self.source, {"last_updated_utc": self.last_updated_utc, "pointers": entries}
            )
            if spliced is not None:
                return spliced.encode("utf-8")
        document: dict[str, Any] = {
            "pointer_contract_version": self.contract_version,
            "last_updated_utc": self.last_updated_utc,
            "pointers": entries,
        }
        document.update({k: v for k, v in self.extra.items() if k not in document})
        return dumps_pretty(document, sort_keys=False)


def _splice(text: str, values: Mapping[str, Any]) -> str | None:
    """`text` with `values`' keys replaced in place; None if a key is missing or not plain JSON."""
    spans = _top_level_spans(text)
    if spans is None or not set(values) <= spans.keys():
        return None
    newline = "\r\n" if "\r\n" in text else "\n"
    first_key_line = text.partition("\n")[2]  # its indentation is the file's indent unit
    unit = len(first_key_line) - len(first_key_line.lstrip(" ")) or 2
    pieces, position = [], 0
    for key, (key_start, start, end) in sorted(
        ((key, spans[key]) for key in values), key=lambda item: item[1][1]
    ):
        line_start = text.rfind("\n", 0, key_start) + 1
        margin = text[line_start:key_start]
        if margin.strip(" \t"):
            return None
        rendered = json.dumps(
            values[key], indent=unit, ensure_ascii=text.isascii(), allow_nan=False
        ).replace("\n", newline + margin)
        pieces += [text[position:start], rendered]
        position = end
    return "".join([*pieces, text[position:]])


def _top_level_spans(text: str) -> dict[str, tuple[int, int, int]] | None:
    """Key -> (key start, value start, value end) of the JSON object `text`; None if not one."""
    try:
        start = skip_space(text, 0)
        if text[start] != "{":
            return None
        members, _closing = json_members(text, start)
    except (ValueError, IndexError):
        return None
    return {str(name): (begin, at, end) for name, begin, at, end in members}


def _invalid(message: str, path: Path) -> UsageError:
    """The pointer file cannot be read or breaks its contract (bad input, but exit 1)."""
    return UsageError.of("POINTERS_INVALID", path=path, reason=message)


def parse_pointer_file(data: bytes, path: Path, schemas: SchemaCatalog) -> PointerFile:
    """Parse and check a pointer file (POINTERS_INVALID naming the field)."""
    try:
        document = loads_strict(data)
    except JSONDecodeProblem as exc:
        raise _invalid(f"not valid JSON: {exc}", path) from None
    violations = schemas.validate(POINTERS_SCHEMA_ID, document)
    if violations:
        raise _invalid(violation_text(violations[0]), path)
    pointers: dict[str, Pointer] = {}
    for index, entry in enumerate(document["pointers"]):
        registry_id = entry["registry_id"]
        if registry_id in pointers:
            raise _invalid(f"/pointers/{index}/registry_id: {registry_id!r} appears twice", path)
        pointers[registry_id] = Pointer(
            registry_id,
            read_ref(registry_id, entry.get("active_ref")),
            entry["active_ref_known"],
            entry["active_asof_utc"],
            entry.get("notes", ""),
        )
    ours = ("pointer_contract_version", "last_updated_utc", "pointers")
    kept = {key: value for key, value in document.items() if key not in ours}
    return PointerFile(
        pointers,
        document.get("last_updated_utc", UNKNOWN),
        document.get("pointer_contract_version", CONTRACT_VERSION),
        kept,
        data.decode("utf-8"),
    )


def read_pointer_file(path: Path, schemas: SchemaCatalog) -> PointerFile:
    """The pointer file at `path` (empty when none yet); never a read that blocks or never ends."""
    try:
        data = read_regular_file(path, limit=MAX_CATALOG_FILE_BYTES, what="pointer file")
    except FileNotFoundError:
        return PointerFile()
    except OSError as exc:
        raise _invalid(f"cannot read: {exc.strerror or exc}", path) from None
    return parse_pointer_file(data, path, schemas)
