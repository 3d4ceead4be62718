"""The build: every catalogued operation's entry and row, the totals, and the rendered artifacts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.op_status_table._coverage import Coverage
from registry_pipeline.core.builders.op_status_table._inputs import (
    _operations,
    _parse_utc,
    _run_fact,
    _stale_after_hours,
)
from registry_pipeline.core.builders.op_status_table._model import (
    DETAIL_ARTIFACT,
    DETAIL_VERSION,
    ROW_FIELDS,
    STATUSES,
    TABLE_ARTIFACT,
    CatalogWarning,
    OpStatusInputError,
    OpStatusResult,
    RunFact,
)
from registry_pipeline.core.builders.op_status_table._rows import _detail, _row
from registry_pipeline.core.json_strict import dumps_pretty

MAX_WARNINGS = 50
"""Catalog warnings the detail lists (`catalog_warnings_total` counts them all)."""


def build_op_status_table(
    run_registry_lines: Sequence[Mapping[str, Any]],
    allowed_operations: Mapping[str, Any],
    threshold_packs: Mapping[str, Mapping[str, Any]],
    *,
    as_of: str,
    reference_commit: str | None = None,
    coverage: Mapping[str, Coverage] | None = None,
    catalog_warnings: Sequence[CatalogWarning] = (),
) -> OpStatusResult:
    """Status of every catalogued operation at `as_of`; see the module docstring for meanings.

    `coverage`: each operation's level from the enforcement coverage matrices (None: the
    workspace has none, the catalog's own levels count); `catalog_warnings`: the lines of the
    catalog and matrices that could not be read, listed in the detail.
    """
    moment = _parse_utc(as_of)
    if moment is None:
        raise OpStatusInputError(f"as_of {as_of!r} is not an ISO 8601 UTC time", path="as_of")
    facts = [_run_fact(line, index) for index, line in enumerate(run_registry_lines)]
    found = list(catalog_warnings)
    operations = _operations(allowed_operations, coverage, found)
    by_op: dict[str, list[RunFact]] = {}
    for fact in sorted(facts, key=lambda f: f.order):
        if fact.operation_id:
            by_op.setdefault(fact.operation_id, []).append(fact)
    legacy = any(fact.has_run_json is False for fact in facts)
    table: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    for op in operations:
        runs = by_op.get(op.operation_id, [])
        limit, pack_warnings = _stale_after_hours(op, threshold_packs)
        detail = _detail(op, runs, limit, moment)
        details.append(detail)
        if not op.canonical:
            continue  # in the detail only: the v0.1 table (and the seed's) has no row for it
        row = _row(op, runs, moment, legacy, detail["status"], reference_commit)
        row["warnings"].extend(pack_warnings)
        table.append(row)
    known = {op.operation_id for op in operations}
    unauthorized = _unauthorized(by_op, known)
    non_canonical = [op.operation_id for op in operations if not op.canonical]
    document = {
        "detail_version": DETAIL_VERSION,
        "as_of": as_of,
        "reference_commit": reference_commit,
        "operations": details,
        "non_canonical": {"count": len(non_canonical), "operation_ids": non_canonical},
        "catalog_warnings": [warning.as_json() for warning in found[:MAX_WARNINGS]],
        "catalog_warnings_total": len(found),
        "unauthorized": unauthorized,
        "counts": _counts(details, unauthorized, facts, table),
    }
    return OpStatusResult(table=table, detail=document)


def render(result: OpStatusResult) -> dict[str, bytes]:
    """Artifact file name -> bytes: two-space JSON with a final newline; v0.1 rows in seed order."""
    rows = [{name: row[name] for name in ROW_FIELDS} for row in result.table]
    return {
        TABLE_ARTIFACT: dumps_pretty(rows, sort_keys=False),
        DETAIL_ARTIFACT: dumps_pretty(result.detail, sort_keys=True),
    }


def _unauthorized(by_op: Mapping[str, Sequence[RunFact]], known: set[str]) -> list[dict[str, Any]]:
    """Operations seen in runs but absent from the catalog, by operation id."""
    return [
        {
            "operation_id": operation_id,
            "run_count": len(runs),
            "run_keys": sorted(run.run_key for run in runs),
        }
        for operation_id, runs in sorted(by_op.items())
        if operation_id not in known
    ]


def _counts(
    details: Sequence[Mapping[str, Any]],
    unauthorized: Sequence[Mapping[str, Any]],
    facts: Sequence[RunFact],
    table: Sequence[Mapping[str, Any]],
) -> dict[str, int]:
    """Totals of the companion: operations by status, canonical or not, below C3 (table rows),
    runs, unauthorized operations and runs."""
    by_status = Counter(str(detail["status"]) for detail in details)
    counts = {status: by_status[status] for status in STATUSES}
    canonical = sum(1 for detail in details if detail["canonical"])
    counts.update(
        {
            "operations": len(details),
            "canonical_operations": canonical,
            "non_canonical_operations": len(details) - canonical,
            "coverage_below_c3": sum(
                1 for row in table if row["coverage_level"] in ("C0", "C1", "C2")
            ),
            "runs_indexed": len(facts),
            "runs_with_operation_id": sum(1 for fact in facts if fact.operation_id),
            "unauthorized_operations": len(unauthorized),
            "unauthorized_runs": sum(int(entry["run_count"]) for entry in unauthorized),
        }
    )
    return counts
