"""Core validation reports turned into Dagster asset check results."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from registry_pipeline.core.errors import Problem, ReasonCode, RegistryError, UsageError
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import FolderReport, inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace

SCHEMA_CODES = frozenset({ReasonCode.SCHEMA_VIOLATION})
MAX_LISTED = 50


def check_result(
    path: Path | None, problems_of: str, schemas: SchemaCatalog
) -> dg.AssetCheckResult:
    """Validate the run folder at `path` and keep the seal or the schema problems."""
    if path is None:
        return _not_materialized()
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


def append_only_result(path: Path | None) -> dg.AssetCheckResult:
    """The delta log's append-only check on the run folder at `path` (see core.delta_log)."""
    from registry_pipeline.core.delta_log import (
        LOG_ARTIFACT,
        LOG_REGISTRY_ID,
        DeltaCode,
        DeltaLogError,
        check_append_only,
        load_previous_log,
    )
    from registry_pipeline.core.workspace.snapshots import read_snapshot

    if path is None:
        return _not_materialized()
    try:
        inputs = read_snapshot(path, LOG_REGISTRY_ID).envelope().get("inputs")
        previous_ref = next(
            (
                ref
                for ref in (inputs if isinstance(inputs, list) else [])
                if isinstance(ref, dict) and ref.get("registry_id") == LOG_REGISTRY_ID
            ),
            None,
        )
        previous = None
        if previous_ref is not None:
            folder = path.parent / str(previous_ref["run_id"])
            previous = load_previous_log(read_snapshot(folder, LOG_REGISTRY_ID))
            if previous.root_sha256 != previous_ref.get("manifest_sha256"):
                raise DeltaLogError(
                    f"previous log {folder.name} has another root than run.json records",
                    code=DeltaCode.ROOT_MISMATCH,
                    path=str(folder),
                )
        findings = check_append_only(  # appended records must name this very folder
            (path / LOG_ARTIFACT).read_bytes(), previous, derivation_run_id=path.name
        )
    except (RegistryError, OSError) as exc:
        return _unreadable(exc)
    return dg.AssetCheckResult(
        passed=not findings,
        metadata={
            "previous_log": previous.run_id if previous else "(none: the first log)",
            "reason_codes": sorted({str(f.code) for f in findings}),
            "problems": dg.MetadataValue.json([f.as_json() for f in findings[:MAX_LISTED]]),
            "problem_count": len(findings),
        },
        description="; ".join(str(f) for f in findings[:5]) or None,
    )


def catalog_append_only_result(
    path: Path | None, workspace: Workspace, registry_id: str
) -> dg.AssetCheckResult:
    """The append-only check of a governed source's snapshot at `path`, decided again from its
    sealed files by the function that wrote its diagnostics (`governed_files`)."""
    from registry_pipeline.core.append_only.baseline import violation_rows
    from registry_pipeline.core.append_only.governed import governed_files, published_files
    from registry_pipeline.core.workspace.catalog import load_catalog

    if path is None:
        return _not_materialized()
    try:
        spec = load_catalog(workspace).get(registry_id)
        schemas = SchemaCatalog.for_workspace(workspace.root)
        files = published_files(path, registry_id) or {}  # the snapshot's own sealed files
        governed = governed_files(workspace, spec, files, schemas)
    except (RegistryError, OSError) as exc:
        return _unreadable(exc)
    violations = violation_rows(governed.reports)
    return dg.AssetCheckResult(
        passed=governed.ok,
        metadata={
            "baseline": governed.published or "(none: a first publish)",
            "reason_codes": sorted({str(v["code"]) for v in violations}),
            "violations": dg.MetadataValue.json(violations[:MAX_LISTED]),
            "violation_count": len(violations),
        },
        description="; ".join(
            f"{v['code']} {v['file']}{v['path']}: {v['message']}" for v in violations[:5]
        )
        or None,
    )


def coordination_result(
    path: Path | None, workspace: Workspace, registry_id: str
) -> dg.AssetCheckResult:
    """The coordination check of a written source's snapshot at `path`: its sealed entries
    against their schema and the coordination rules (`core.write_path.workspace_findings`)."""
    from registry_pipeline.core.append_only.governed import published_files
    from registry_pipeline.core.workspace.catalog import load_catalog
    from registry_pipeline.core.write_path import workspace_findings

    if path is None:
        return _not_materialized()
    try:
        files = published_files(path, registry_id) or {}
        findings = workspace_findings(workspace, load_catalog(workspace), registry_id, files)
    except (RegistryError, OSError) as exc:
        return _unreadable(exc)
    errors = [f for f in findings if f.severity == "error"]
    return dg.AssetCheckResult(
        passed=not errors,
        metadata={
            "reason_codes": sorted({f.code for f in errors}),
            "error_count": len(errors),
            "warning_count": sum(f.severity == "warning" for f in findings),
            "findings": dg.MetadataValue.json([f.as_json() for f in findings[:MAX_LISTED]]),
        },
        description="; ".join(str(f) for f in errors[:5]) or None,
    )


def log_prefix_result(
    path: Path | None, workspace: Workspace, registry_id: str
) -> dg.AssetCheckResult:
    """The append-only check of a log sealed from the workspace: the previous snapshot's log is
    an exact prefix of this one (`core.run_index.prefix.log_prefix`)."""
    from registry_pipeline.core.run_index.prefix import log_prefix
    from registry_pipeline.core.workspace.catalog import load_catalog

    if path is None:
        return _not_materialized()
    try:
        spec = load_catalog(workspace).get(registry_id)
        schemas = SchemaCatalog.for_workspace(workspace.root)
        with (path / spec.primary_artifact).open("rb") as current:
            report = log_prefix(workspace, spec, current, schemas)
    except (RegistryError, OSError) as exc:
        return _unreadable(exc)
    return dg.AssetCheckResult(
        passed=report.ok,
        metadata={
            "previous_log": report.baseline or "(none: the first snapshot)",
            "reason_codes": [] if report.ok else ["LOG_REWRITTEN"],
        },
        description=None if report.broken is None else report.broken.describe(),
    )


def run_rules_result(
    path: Path | None, workspace: Workspace, registry_id: str
) -> dg.AssetCheckResult:
    """The rules check of a run index's snapshot: its records in time order per key, the
    coordination rules and the declared warnings (`core.run_index.log_problems`, the checks
    `registry runs append` makes)."""
    from registry_pipeline.core.run_index import index_spec, log_problems
    from registry_pipeline.core.workspace.catalog import load_catalog

    if path is None:
        return _not_materialized()
    try:
        catalog = load_catalog(workspace)
        spec = index_spec(catalog, registry_id)
        data = (path / spec.artifact).read_bytes()
        problems = log_problems(workspace.root, catalog, spec, data)
    except (RegistryError, OSError) as exc:
        return _unreadable(exc)
    errors = [p for p in problems if p.severity == "error"]
    return dg.AssetCheckResult(
        passed=not errors,
        metadata={
            "reason_codes": sorted({p.code for p in errors}),
            "error_count": len(errors),
            "warning_count": sum(p.severity == "warning" for p in problems),
            "problems": dg.MetadataValue.json(
                [p.as_json() for p in (errors or problems)[:MAX_LISTED]]
            ),
        },
        description="; ".join(str(p) for p in errors[:5]) or None,
    )


def _unreadable(exc: RegistryError | OSError) -> dg.AssetCheckResult:
    """A check that could not read what it checks: failed, with the error's reason code."""
    code = getattr(exc, "code", "UNREADABLE")
    return dg.AssetCheckResult(
        passed=False, metadata={"reason_codes": [code]}, description=str(exc)
    )


def _not_materialized() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        metadata={"reason_codes": ["NO_MATERIALIZATION"]},
        description="no materialization of this asset in this run",
    )
