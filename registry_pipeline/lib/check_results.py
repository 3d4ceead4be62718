"""Core validation reports turned into Dagster asset check results."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from registry_pipeline.core.errors import Problem, ReasonCode, UsageError
from registry_pipeline.core.schemas import SchemaCatalog
from registry_pipeline.core.validate import FolderReport, inspect_run_folder

SCHEMA_CODES = frozenset({ReasonCode.SCHEMA_VIOLATION})
MAX_LISTED = 50


def check_result(
    path: Path | None, problems_of: str, schemas: SchemaCatalog
) -> dg.AssetCheckResult:
    """Validate the run folder at `path` and keep the seal or the schema problems."""
    if path is None:
        return dg.AssetCheckResult(
            passed=False,
            metadata={"reason_codes": ["NO_MATERIALIZATION"]},
            description="no materialization of this asset in this run",
        )
    try:
        report = inspect_run_folder(path, schemas=schemas)
    except UsageError as exc:
        return dg.AssetCheckResult(
            passed=False, metadata={"reason_codes": [exc.code]}, description=exc.message
        )
    problems = _select(report, problems_of)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "run_id": report.run_id or path.name,
            "path": dg.MetadataValue.path(str(path)),
            "reason_codes": sorted({p.code.value for p in problems}),
            "problems": dg.MetadataValue.json([p.as_json() for p in problems[:MAX_LISTED]]),
            "problem_count": len(problems),
        },
        description=_describe(problems),
    )


def _select(report: FolderReport, problems_of: str) -> list[Problem]:
    if problems_of == "schema":
        return [p for p in report.problems if p.code in SCHEMA_CODES]
    return [p for p in report.problems if p.code not in SCHEMA_CODES]


def _describe(problems: Iterable[Problem]) -> str | None:
    listed = [str(problem) for problem in problems]
    if not listed:
        return None
    more = f" (+{len(listed) - 5} more)" if len(listed) > 5 else ""
    return "; ".join(listed[:5]) + more
