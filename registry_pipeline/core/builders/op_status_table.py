"""op_status_table: for each operation of the operations catalog, its last run, success and status.

A pure, deterministic function of three inputs: the run registry's lines, the `allowed_operations`
document and the threshold packs. It reads no clock: `as_of` is the moment the table describes,
given by the caller, and is the `created_utc` of the run registry snapshot it reads, so the same
sealed inputs always give byte-identical artifacts. Ages (`staleness_days`, staleness against
`stale_after_hours`) are measured from it.

Two artifacts are rendered:
- `OPERATION_STATUS_TABLE_v0_1.json`: the seed system's v0.1 array, one row per operation in
  catalog order. Whatever v0.1 has no field for goes into each row's `warnings` as codes.
- `OPERATION_STATUS_DETAIL_v0_2.json`: our companion (schema `op_status_detail_v0_2`): last
  success, run and failure counts, status, evidence run keys, and the unauthorized operations.

Meanings:
- A run belongs to an operation when its line's `operation_id` names it. The "last" run is the
  newest by `created_utc` (unknown times count as oldest), ties broken by `run_key`.
- A run's seal status is read from its `seal:...` warnings (the first gives PASS, FAIL or
  UNSEALED; a `seal:TAMPERED` anywhere overrides it): PASS is a success; FAIL and TAMPERED are
  failures; UNSEALED, or no seal warning at all (UNKNOWN), are neither.
- status: `never_run` without runs; `failing` when the last run failed; `stale` when there is no
  success, or the last success is older than `stale_after_hours` (the operation's threshold pack's
  `max_age_hours`) at `as_of`; otherwise `ok`.
- run_evidence_state: OBSERVED with runs; LEGACY_ONLY without runs while the registry holds
  pre-envelope folders (no `run.json`), which may be this operation's runs but cannot be
  attributed; UNOBSERVED otherwise.
- op_drift (tri-state): true when the last run was built from a dirty working tree, or from a
  commit other than `reference_commit` when one is given; false when its seal is PASS, its tree
  was clean and its commit is known (and equal to `reference_commit`, if given); null (unknown)
  when that evidence is missing: no run, a seal that is not PASS (its run.json cannot be trusted),
  no git state. The reason for null is a `op_drift_unknown:<why>` warning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_pipeline.core._json import dumps_pretty
from registry_pipeline.core.errors import UsageError

STATUS_VERSION = "0.1"
DETAIL_VERSION = "0.2"
TABLE_ARTIFACT = "OPERATION_STATUS_TABLE_v0_1.json"
DETAIL_ARTIFACT = "OPERATION_STATUS_DETAIL_v0_2.json"
ROW_FIELDS = (
    "status_version",
    "option",
    "operation_id",
    "operation_name",
    "coverage_level",
    "last_run_id",
    "last_run_created_utc",
    "run_evidence_state",
    "manifest_state",
    "run_json_state",
    "staleness_days",
    "op_drift",
    "op_drift_reasons",
    "warnings",
)
STATUSES = ("ok", "failing", "stale", "never_run")
SEAL_STATES = ("PASS", "FAIL", "TAMPERED", "UNSEALED")
_OLDEST = datetime.min.replace(tzinfo=UTC)


class OpStatusInputError(UsageError):
    """An input of the builder is unusable; `path` points at the offending field."""

    code = "OP_STATUS_INPUT_INVALID"


@dataclass(frozen=True)
class RunFact:
    """What the builder reads from one run registry line."""

    run_key: str
    """`<run_root>::<run_id>`, unique across roots."""
    run_id: str
    """The run folder's name."""
    operation_id: str | None
    """The operation the run's `run.json` names, if any."""
    created_utc: str | None
    """The run's `created_utc` as written."""
    created: datetime | None
    """`created_utc` parsed (timezone-aware), or None when absent or unreadable."""
    seal: str
    """PASS, FAIL, TAMPERED, UNSEALED, or UNKNOWN when the line carries no seal warning."""
    seal_warnings: tuple[str, ...]
    """The line's `seal:...` warnings, in order (reason codes and paths when it fails)."""
    has_run_json: bool | None
    """Whether the folder has a `run.json` (None when the line does not say)."""
    has_manifest_sha256: bool | None
    """Whether the folder has a `MANIFEST.sha256` (None when the line does not say)."""
    git_commit: str | None
    """The commit the run was built from, if recorded."""
    working_tree_state: str | None
    """`clean`, `dirty`, or None when unknown."""

    @property
    def order(self) -> tuple[datetime, str]:
        """Sort key: creation time (unknown is oldest), then run key."""
        return (self.created or _OLDEST, self.run_key)


@dataclass(frozen=True)
class Operation:
    """One entry of the operations catalog, as the builder needs it."""

    operation_id: str
    name: str
    option: str
    enforcement_level: str
    threshold_pack: str | None


@dataclass(frozen=True)
class OpStatusResult:
    """The v0.1 table rows (seed field order) and the v0.2 companion document."""

    table: list[dict[str, Any]]
    """`OPERATION_STATUS_TABLE_v0_1.json`: one row per operation, catalog order."""
    detail: dict[str, Any]
    """`OPERATION_STATUS_DETAIL_v0_2.json`: per-operation detail, unauthorized ops, counts."""


def build_op_status_table(
    run_registry_lines: Sequence[Mapping[str, Any]],
    allowed_operations: Mapping[str, Any],
    threshold_packs: Mapping[str, Mapping[str, Any]],
    *,
    as_of: str,
    reference_commit: str | None = None,
) -> OpStatusResult:
    """Status of every catalogued operation at `as_of`; see the module docstring for meanings."""
    moment = _parse_utc(as_of)
    if moment is None:
        raise OpStatusInputError(f"as_of {as_of!r} is not an ISO 8601 UTC time", path="as_of")
    facts = [_run_fact(line, index) for index, line in enumerate(run_registry_lines)]
    operations = _operations(allowed_operations)
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
        row = _row(op, runs, moment, legacy, detail["status"], reference_commit)
        row["warnings"].extend(pack_warnings)
        table.append(row)
    known = {op.operation_id for op in operations}
    unauthorized = _unauthorized(by_op, known)
    document = {
        "detail_version": DETAIL_VERSION,
        "as_of": as_of,
        "reference_commit": reference_commit,
        "operations": details,
        "unauthorized": unauthorized,
        "counts": _counts(details, unauthorized, facts),
    }
    return OpStatusResult(table=table, detail=document)


def render(result: OpStatusResult) -> dict[str, bytes]:
    """Artifact file name -> bytes: two-space JSON with a final newline; v0.1 rows in seed order."""
    rows = [{name: row[name] for name in ROW_FIELDS} for row in result.table]
    return {
        TABLE_ARTIFACT: dumps_pretty(rows, sort_keys=False),
        DETAIL_ARTIFACT: dumps_pretty(result.detail, sort_keys=True),
    }


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
    """TAMPERED if flagged anywhere, else the first warning's state; UNKNOWN when none."""
    if "seal:TAMPERED" in seal_warnings:
        return "TAMPERED"
    if not seal_warnings:
        return "UNKNOWN"
    state = seal_warnings[0].split(":")[1]
    return state if state in SEAL_STATES else "UNKNOWN"


def _operations(document: Mapping[str, Any]) -> list[Operation]:
    """The catalog's operations in catalog order; duplicates and missing fields are errors."""
    entries = document.get("operations")
    if not isinstance(entries, list):
        raise OpStatusInputError("allowed_operations has no operations array", path="/operations")
    operations: list[Operation] = []
    for index, entry in enumerate(entries):
        where = f"/operations/{index}"
        for key in ("operation_id", "name", "option", "enforcement_level"):
            if not isinstance(entry, Mapping) or not isinstance(entry.get(key), str):
                raise OpStatusInputError(f"missing or non-string {key}", path=f"{where}/{key}")
        if any(op.operation_id == entry["operation_id"] for op in operations):
            raise OpStatusInputError(
                f"duplicate operation {entry['operation_id']!r}", path=f"{where}/operation_id"
            )
        operations.append(
            Operation(
                entry["operation_id"],
                entry["name"],
                entry["option"],
                entry["enforcement_level"],
                _text(entry.get("threshold_pack")),
            )
        )
    return operations


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


def _status(runs: Sequence[RunFact], limit: int | float | None, as_of: datetime) -> str:
    """never_run, failing, stale or ok, by the rules in the module docstring."""
    if not runs:
        return "never_run"
    if runs[-1].seal in ("FAIL", "TAMPERED"):
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
        "last_run_id": last.run_id if last else None,
        "last_run_key": last.run_key if last else None,
        "last_seal_status": last.seal if last else None,
        "last_success_run_id": success.run_id if success else None,
        "last_success_utc": success.created_utc if success else None,
        "run_count": len(runs),
        "failed_count": sum(1 for run in runs if run.seal in ("FAIL", "TAMPERED")),
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
) -> dict[str, int]:
    """Totals of the companion: operations by status, runs, unauthorized operations and runs."""
    by_status = Counter(str(detail["status"]) for detail in details)
    counts = {status: by_status[status] for status in STATUSES}
    counts.update(
        {
            "operations": len(details),
            "runs_indexed": len(facts),
            "runs_with_operation_id": sum(1 for fact in facts if fact.operation_id),
            "unauthorized_operations": len(unauthorized),
            "unauthorized_runs": sum(int(entry["run_count"]) for entry in unauthorized),
        }
    )
    return counts
