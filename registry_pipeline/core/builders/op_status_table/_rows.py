"""One operation's companion entry and v0.1 row: status, staleness, last-run codes, op_drift."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from registry_pipeline.core.builders.op_status_table._model import (
    STATUS_VERSION,
    Operation,
    RunFact,
)

SEAL_FAILING = ("FAIL", "TAMPERED", "CONVERTED", "INTACT_OLDER_FORMAT")
"""Verdicts under which a run's folder does not hold this seal contract byte for byte, so the
operation counts as failing, as the seed's builder decides (its seal check fails them all):
`registry validate` does not count the last two as failures, and the row's note says why."""


def _status(runs: Sequence[RunFact], limit: int | float | None, as_of: datetime) -> str:
    """never_run, failing, stale or ok, by the rules in the module docstring."""
    if not runs:
        return "never_run"
    if runs[-1].seal in SEAL_FAILING:
        return "failing"
    successes = [run for run in runs if run.seal == "PASS"]
    if not successes:
        return "stale"
    if limit is None:
        return "ok"
    created = successes[-1].created
    if created is None or as_of - created > timedelta(hours=limit):
        return "stale"
    return "ok"


def _detail(
    op: Operation, runs: Sequence[RunFact], limit: int | float | None, as_of: datetime
) -> dict[str, Any]:
    """The companion's entry for one operation (`runs` oldest first)."""
    successes = [run for run in runs if run.seal == "PASS"]
    last = runs[-1] if runs else None
    success = successes[-1] if successes else None
    return {
        "operation_id": op.operation_id,
        "option": op.option,
        "canonical": op.canonical,
        "defined_in": op.defined_in,
        "coverage_level": op.enforcement_level if op.canonical else None,
        "coverage_source": op.coverage_source,
        "executables": list(op.executables),
        "notes": _notes(last),
        "last_run_id": last.run_id if last else None,
        "last_run_key": last.run_key if last else None,
        "last_seal_status": last.seal if last else None,
        "last_success_run_id": success.run_id if success else None,
        "last_success_utc": success.created_utc if success else None,
        "run_count": len(runs),
        "failed_count": sum(1 for run in runs if run.seal in SEAL_FAILING),
        "status": _status(runs, limit, as_of),
        "stale_after_hours": limit,
        "evidence": sorted(run.run_key for run in runs),
    }


def _row(
    op: Operation,
    runs: Sequence[RunFact],
    as_of: datetime,
    legacy: bool,
    status: str,
    reference_commit: str | None,
) -> dict[str, Any]:
    """The v0.1 row of one operation, fields in the seed's order."""
    last = runs[-1] if runs else None
    warnings = [f"status:{status}"]
    if last is None:
        warnings.append("runs_legacy_only" if legacy else "runs_unobserved")
    else:
        warnings.extend(_last_run_warnings(last, as_of))
    drift, reasons, unknown = _op_drift(last, reference_commit)
    if unknown:
        warnings.append(f"op_drift_unknown:{unknown}")
        warnings.extend(_notes(last))
    if op.enforcement_level in ("C0", "C1", "C2"):
        warnings.append(f"coverage_below_C3:{op.enforcement_level}")
    return {
        "status_version": STATUS_VERSION,
        "option": op.option,
        "operation_id": op.operation_id,
        "operation_name": op.name,
        "coverage_level": op.enforcement_level,
        "last_run_id": last.run_id if last else None,
        "last_run_created_utc": last.created_utc if last else None,
        "run_evidence_state": "OBSERVED" if last else ("LEGACY_ONLY" if legacy else "UNOBSERVED"),
        "manifest_state": _presence(last.has_manifest_sha256 if last else None),
        "run_json_state": _presence(last.has_run_json if last else None),
        "staleness_days": _staleness_days(last, as_of),
        "op_drift": drift,
        "op_drift_reasons": reasons,
        "warnings": warnings,
    }


def _presence(flag: bool | None) -> str:
    return "UNKNOWN" if flag is None else ("PRESENT" if flag else "MISSING")


def _staleness_days(last: RunFact | None, as_of: datetime) -> int | None:
    """Whole days from the last run to `as_of` (never negative), or None when unknown."""
    if last is None or last.created is None:
        return None
    return max(0, (as_of - last.created) // timedelta(days=1))


def _last_run_warnings(last: RunFact, as_of: datetime) -> list[str]:
    """Codes for what v0.1 cannot say about the last run: its seal, missing files, odd times."""
    warnings = [f"last_run_{warning}" for warning in last.seal_warnings]
    warnings = warnings or ["last_run_seal:UNKNOWN"]
    if last.has_manifest_sha256 is False:
        warnings.append("last_run_manifest_missing")
    if last.created is None:
        warnings.append("last_run_created_utc_unknown")
    elif last.created > as_of:
        warnings.append("last_run_after_as_of")
    return warnings


def _op_drift(
    last: RunFact | None, reference_commit: str | None
) -> tuple[bool | None, list[str], str | None]:
    """(op_drift, reasons, why unknown) for the last run, by the module docstring's rules."""
    if last is None:
        return None, [], "no_run"
    if last.seal != "PASS":
        return None, [], f"last_run_seal_{last.seal}"
    reasons: list[str] = []
    if last.working_tree_state == "dirty":
        reasons.append("op_drift_last_run_dirty")
    if reference_commit and last.git_commit and last.git_commit != reference_commit:
        reasons.append("op_drift_commit_mismatch")
    if reasons:
        return True, reasons, None
    if last.git_commit is None:
        return None, [], "no_git_commit"
    if last.working_tree_state != "clean":
        return None, [], "no_working_tree_state"
    return False, [], None


def _notes(last: RunFact | None) -> list[str]:
    """Why op_drift cannot be decided from the last run, in plain words (none when it can)."""
    if last is None or last.seal == "PASS":
        return []
    if last.line_endings_converted:
        return [
            f"op_drift unknown: the evidence folder {last.folder} was converted by git "
            "line-ending normalization (its files match their seal once their line endings "
            "are converted back), so its run.json cannot be trusted; see "
            "`registry restore-line-endings`"
        ]
    if last.seal == "INTACT_OLDER_FORMAT":
        return [
            f"op_drift unknown: the evidence folder {last.folder} is sealed in an older format "
            "(a plain sha256sum list, every line verified, no run.json or manifest.json), so "
            "nothing sealed proves its run"
        ]
    if last.seal in ("FAIL", "TAMPERED"):
        codes = sorted({w.split(":")[2] for w in last.seal_warnings if w.count(":") >= 2})
        said = f" ({', '.join(codes)})" if codes else ""
        return [
            f"op_drift unknown: the evidence folder {last.folder} fails its seal{said}, so its "
            f"run.json cannot be trusted; see `registry validate {last.folder}`"
        ]
    if last.seal == "UNSEALED":
        return [
            f"op_drift unknown: the evidence folder {last.folder} carries no seal "
            "(no MANIFEST.sha256 and manifest.json), so nothing proves its run.json"
        ]
    return [f"op_drift unknown: the run registry gives no seal verdict for {last.folder}"]
