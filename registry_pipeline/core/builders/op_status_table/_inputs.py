"""Reading the inputs: run registry lines as run facts, the catalog's operations, pack limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from registry_pipeline.core.builders.op_status_table._coverage import Coverage
from registry_pipeline.core.builders.op_status_table._model import (
    CatalogWarning,
    Operation,
    OpStatusInputError,
    RunFact,
)
from registry_pipeline.core.builders.run_registry import seal_status, tampered


def _parse_utc(text: object) -> datetime | None:
    """A timezone-aware datetime from ISO 8601 text, or None (absent, unreadable or naive)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _run_fact(line: Mapping[str, Any], index: int) -> RunFact:
    """Read one run registry line; a line without run_key or run_id is an input error."""
    for key in ("run_key", "run_id"):
        if not isinstance(line.get(key), str) or not line[key]:
            raise OpStatusInputError(f"run registry line has no {key}", path=f"line {index + 1}")
    seal_warnings = tuple(
        warning
        for warning in line.get("warnings") or ()
        if isinstance(warning, str) and warning.startswith("seal:")
    )
    return RunFact(
        run_key=line["run_key"],
        run_id=line["run_id"],
        operation_id=_text(line.get("operation_id")),
        created_utc=_text(line.get("created_utc")),
        created=_parse_utc(line.get("created_utc")),
        seal=_seal_status(seal_warnings),
        seal_warnings=seal_warnings,
        has_run_json=_flag(line.get("has_run_json")),
        has_manifest_sha256=_flag(line.get("has_manifest_sha256")),
        git_commit=_text(line.get("git_commit")),
        working_tree_state=_text(line.get("working_tree_state")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _seal_status(seal_warnings: Sequence[str]) -> str:
    """TAMPERED if flagged anywhere, else the folder's verdict as `registry validate` says it
    (`run_registry.seal_status`); UNKNOWN when none."""
    if tampered(seal_warnings):
        return "TAMPERED"
    verdict, _ = seal_status(seal_warnings)
    return verdict or "UNKNOWN"


UNKNOWN_ENFORCEMENT_LEVEL = "C0"
"""The level of an operation no coverage matrix lists and whose catalog entry says none
(`enforcement_level: null`). C0, "no enforcement evidence", is the floor and what the seed's own
builder writes for an operation its matrix does not list; the row then warns
`coverage_below_C3:C0`."""
CANONICAL_OPTIONS = frozenset({"A", "B", "C", "D", "QA"})
"""The option families of canonical operations: the v0.1 table's schema enum, as the seed's
builder filters its rows. An operation of another family is not canonical, whatever its
catalog says (it is in the detail only, with a catalog warning when the catalog said it was)."""


def _operations(
    document: Mapping[str, Any],
    coverage: Mapping[str, Coverage] | None = None,
    warnings: list[CatalogWarning] | None = None,
) -> list[Operation]:
    """The catalog's operations in catalog order, each with its coverage level: the matrices'
    (`coverage`, when the workspace has any), else the entry's own, else C0; a non-canonical
    operation has no level. Duplicates and missing fields are errors; an operation said to be
    canonical whose family is none of CANONICAL_OPTIONS is appended to `warnings`."""
    entries = document.get("operations")
    if not isinstance(entries, list):
        raise OpStatusInputError("allowed_operations has no operations array", path="/operations")
    operations: list[Operation] = []
    for index, entry in enumerate(entries):
        where = f"/operations/{index}"
        for key in ("operation_id", "name", "option", "enforcement_level"):
            if not isinstance(entry, Mapping) or not isinstance(entry.get(key), str):
                if key == "enforcement_level" and key in entry and entry[key] is None:
                    continue
                raise OpStatusInputError(f"missing or non-string {key}", path=f"{where}/{key}")
        if any(op.operation_id == entry["operation_id"] for op in operations):
            raise OpStatusInputError(
                f"duplicate operation {entry['operation_id']!r}", path=f"{where}/operation_id"
            )
        said = entry.get("canonical")
        canonical = entry["option"] in CANONICAL_OPTIONS and said is not False
        if said is True and not canonical and warnings is not None:
            warnings.append(_not_a_family(entry))
        level, source = _level(entry, coverage)
        executables = entry.get("executables")
        operations.append(
            Operation(
                entry["operation_id"],
                entry["name"],
                entry["option"],
                level if canonical else UNKNOWN_ENFORCEMENT_LEVEL,
                _text(entry.get("threshold_pack")),
                canonical=canonical,
                executables=tuple(item for item in executables or () if isinstance(item, str)),
                coverage_source=source if canonical else None,
                defined_in=_text(entry.get("defined_in")),
            )
        )
    return operations


def _not_a_family(entry: Mapping[str, Any]) -> CatalogWarning:
    where = _text(entry.get("defined_in")) or "allowed_operations:0"
    source, _, line = where.rpartition(":")
    return CatalogWarning(
        source,
        int(line) if line.isdigit() else 0,
        entry["operation_id"],
        f"option {entry['option']} is none of the canonical families "
        f"({', '.join(sorted(CANONICAL_OPTIONS))}): counted as non-canonical",
    )


def _level(
    entry: Mapping[str, Any], coverage: Mapping[str, Coverage] | None
) -> tuple[str, str | None]:
    """(level, where it was read): the matrices', else the catalog entry's, else the floor."""
    found = coverage.get(entry["operation_id"]) if coverage is not None else None
    if found is not None:
        return found.level, found.source
    if entry["enforcement_level"] is not None:
        return entry["enforcement_level"], "catalog"
    return UNKNOWN_ENFORCEMENT_LEVEL, None


def _stale_after_hours(
    op: Operation, packs: Mapping[str, Mapping[str, Any]]
) -> tuple[int | float | None, list[str]]:
    """The pack's `thresholds.max_age_hours` (or a flat pack's `max_age_hours`), by pack name."""
    if op.threshold_pack is None:
        return None, []
    pack = packs.get(op.threshold_pack, packs.get(f"{op.threshold_pack}.json"))
    if pack is None:
        return None, [f"threshold_pack_missing:{op.threshold_pack}"]
    thresholds = pack.get("thresholds")
    value = (
        thresholds.get("max_age_hours")
        if isinstance(thresholds, Mapping)
        else pack.get("max_age_hours")
    )
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None, [f"threshold_pack_without_max_age_hours:{op.threshold_pack}"]
    return value, []
