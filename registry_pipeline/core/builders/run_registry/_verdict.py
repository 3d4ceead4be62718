"""A folder's seal verdict: reused, unsealed or verified, tampering, and its warning strings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry_pipeline.core.builders.run_registry._folder import _Scan
from registry_pipeline.core.builders.run_registry._model import (
    FAIL,
    HASHED,
    NONE,
    PASS,
    REUSED,
    UNSEALED,
)
from registry_pipeline.core.builders.run_registry._previous import PreviousStatus
from registry_pipeline.core.errors import Hint, ReasonCode, RegistryError
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256
from registry_pipeline.core.seal.manifest import RUN_JSON as RUN_JSON_NAME
from registry_pipeline.core.seal.paths import sort_key
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder, passed_unchanged
from registry_pipeline.core.seal.verdicts import CONVERTED, line_endings_explain
from registry_pipeline.core.workspace.snapshots import FUTURE_DATED, folder_verdict

MAX_PROBLEMS = 50
"""Problems listed per folder (in the companion and in `warnings`); the count says how many."""
LINE_ENDINGS_CONVERTED = Hint.LINE_ENDINGS_CONVERTED.value
"""The diagnosis of a folder whose every problem is a file that matches its seal once its line
endings are converted back (git's normalization, not tampering with content)."""
INTEGRITY_CODES = frozenset(ReasonCode) - {
    ReasonCode.SCHEMA_VIOLATION,
    ReasonCode.JSON_INVALID,
    ReasonCode.RUN_JSON_INVALID,
}
"""Codes that mean the bytes changed; a schema change or an unreadable folder is not tampering."""


def _verdict(
    folder: Path,
    scan: _Scan,
    root: str | None,
    prior: PreviousStatus | None,
    full_audit: bool,
    schemas: SchemaCatalog,
) -> dict[str, Any]:
    """The companion fields (without run_key): reuse, unsealed, or a full verification."""
    if scan.unreadable:
        return _status(root, [("UNREADABLE", None)], NONE, prior)
    sealed_before = prior is not None and prior.status != UNSEALED
    if not sealed_before and not scan.has(MANIFEST_SHA256) and not scan.has(MANIFEST_JSON):
        return _status(None, [], NONE, None, unsealed=True)
    if not full_audit and _reusable(scan, root, prior) and passed_unchanged(folder, schemas):
        return _status(root, [], REUSED, None)
    try:
        report = inspect_run_folder(folder, schemas=schemas)
    except RegistryError as exc:
        return _status(root, [(exc.code, None)], HASHED, prior)
    verdict, dated = folder_verdict(report)
    problems = [(p.code.value, p.path) for p in (*report.problems, *verdict.problems)]
    if dated:
        problems.append((FUTURE_DATED, None))
    status = _status(root, problems, HASHED, prior, verdict=verdict.status)
    if line_endings_explain(report.problems):
        status["diagnosis"] = LINE_ENDINGS_CONVERTED
    return status


def _reusable(scan: _Scan, root: str | None, prior: PreviousStatus | None) -> bool:
    """Passed before with this very root, and the seal files are all still there (the caller
    also requires `passed_unchanged`: the folder is exactly as it was when it last passed)."""
    return (
        prior is not None
        and prior.status == PASS
        and root is not None
        and prior.manifest_root_sha256 == root
        and all(scan.has(name) for name in (RUN_JSON_NAME, MANIFEST_JSON, MANIFEST_SHA256))
    )


def _status(
    root: str | None,
    problems: list[tuple[str, str | None]],
    verification: str,
    prior: PreviousStatus | None,
    unsealed: bool = False,
    verdict: str | None = None,
) -> dict[str, Any]:
    """The companion line; `verdict`: the folder's one verdict (`folder_verdict`, as `registry
    validate` says it), else the status (a folder never inspected: unsealed, reused, unreadable)."""
    distinct = sorted(set(problems), key=lambda p: (sort_key(p[1] or ""), p[0]))
    status = UNSEALED if unsealed else FAIL if distinct else PASS
    integrity = any(code in INTEGRITY_CODES for code, _path in distinct)
    tampered = (
        status == FAIL
        and prior is not None
        and ((prior.status == PASS and integrity) or prior.tampered)
    )
    return {
        "manifest_root_sha256": root,
        "status": status,
        "verdict": verdict or status,
        "problems": [{"code": code, "path": path} for code, path in distinct[:MAX_PROBLEMS]],
        "problem_count": len(distinct),
        "verification": verification,
        "tampered": tampered,
    }


def verdict_of_line(status: Mapping[str, Any]) -> str:
    """A companion line's verdict (`registry validate`'s word); a line written before verdicts
    were recorded: its status, CONVERTED when its diagnosis says so."""
    verdict = status.get("verdict")
    if isinstance(verdict, str):
        return verdict
    if status.get("diagnosis") == LINE_ENDINGS_CONVERTED:
        return CONVERTED
    return str(status["status"])


def _seal_warnings(status: Mapping[str, Any]) -> list[str]:
    """The verdict as stable warning strings: `seal:<VERDICT>`, then its problems as
    `seal:<VERDICT>:<code>[:<path>]` (a folder that is not PASS)."""
    verdict = verdict_of_line(status)
    warnings = [f"seal:{verdict}"]
    for problem in status["problems"]:
        where = "" if problem["path"] is None else f":{problem['path']}"
        warnings.append(f"seal:{verdict}:{problem['code']}{where}")
    hidden = status["problem_count"] - len(status["problems"])
    if hidden > 0:
        warnings.append(f"seal:{verdict}:TRUNCATED:{hidden}")
    if status["tampered"]:
        warnings.append("seal:TAMPERED")
    if "diagnosis" in status:
        warnings.append(f"seal:DIAGNOSIS:{status['diagnosis']}")
    return warnings
