"""Promote a checked materialization to the active pointer: the one path the job and `registry
build` share. Dagster's event log says the blocking checks passed; the pointer store (core)
validates again under its lock and records the change in the journal.

The rule, in one function (`run_verdict`), for the CLI build and the sensor alike: the snapshots
of a build run are promoted only when that run finished successfully and every blocking check it
planned passed. A failed build promotes nothing, in either path.

Promotions are serialized by the pointer store's exclusive lock file, so concurrent job runs and
builds never lose an update; an already-active target is a no-op, so nothing is promoted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.checks import CHECK_NAMES, check_names
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.store import ANY, PointerRefused, PointerStore, pointer_relpath
from registry_pipeline.core.workspace.catalog import RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace

CHECK_SOURCE = "dagster asset check; validated again by the pointer store under its lock"
_HISTORY_PAGE = 50
_PAGE = 100


class Outcome(StrEnum):
    """What a promotion attempt did."""

    PROMOTED = "promoted"
    ALREADY_ACTIVE = "already active"
    SKIPPED = "skipped"
    """Not an error: NOT_NEWER, or a registry on hold (a rollback or `pointers hold`)."""
    NO_POINTER = "no pointer by design"
    CHECKS_NOT_PASSED = "checks not passed"
    REFUSED = "refused"


@dataclass(frozen=True)
class PromotionOutcome:
    """The result of `promote_materialization` for one registry snapshot."""

    registry_id: str
    run_id: str
    outcome: Outcome
    reason: str
    """One line for humans: "promoted", "already active", "NOT_NEWER: ...", ..."""
    code: str | None = None
    """The pointer store's refusal code (NOT_NEWER, CAS_CONFLICT, TARGET_INVALID, ...)."""
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal_seq: int | None = None

    @property
    def promoted(self) -> bool:
        """True only when this call moved the pointer."""
        return self.outcome is Outcome.PROMOTED

    @property
    def is_error(self) -> bool:
        """A refusal other than NOT_NEWER, or checks that did not pass."""
        return self.outcome in (Outcome.REFUSED, Outcome.CHECKS_NOT_PASSED)

    def as_json(self) -> dict[str, object]:
        """A JSON object (job logs, `registry build --json`)."""
        return {
            "registry_id": self.registry_id,
            "run_id": self.run_id,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "code": self.code,
            "checks": self.checks,
            "journal_seq": self.journal_seq,
        }


@dataclass(frozen=True)
class RunVerdict:
    """May the snapshots a Dagster build run materialized be promoted?"""

    finished: bool
    promotable: bool
    reason: str = ""
    """Why not, when not ("build failed: ...", "run not finished")."""


def run_verdict(
    instance: dg.DagsterInstance, dagster_run_id: str | None, *, in_run: bool = False
) -> RunVerdict:
    """The promotion rule: the run succeeded and every blocking check it planned was evaluated
    and passed. `in_run`: asked by the run itself at its end (`lib.build_run.finish`), where it
    has not finished yet: then no step may have failed or been skipped, and the run may not be
    being cancelled. `None` (a build with nothing for Dagster to do) is promotable."""
    if dagster_run_id is None:
        return RunVerdict(True, True)
    run = instance.get_run_by_id(dagster_run_id)
    if run is None:
        return RunVerdict(True, False, f"build failed: no Dagster run {dagster_run_id}")
    if in_run:
        if run.status != dg.DagsterRunStatus.STARTED:
            return RunVerdict(True, False, f"build stopped (Dagster run {run.status.value})")
        events = [e for kind in STEP_TROUBLE for e in _events(instance, dagster_run_id, kind)]
        troubled = sorted({str(event.step_key) for event in events})
        if troubled:
            return RunVerdict(True, False, f"build failed: step(s) {', '.join(troubled)} failed")
    elif not run.is_finished:
        return RunVerdict(False, False, "run not finished")
    elif run.status != dg.DagsterRunStatus.SUCCESS:
        return RunVerdict(True, False, f"build failed (Dagster run {run.status.value})")
    planned = {
        (event.event_specific_data.asset_key, event.event_specific_data.check_name)
        for event in _events(instance, dagster_run_id, CHECK_PLANNED)
    }
    evaluated: dict[tuple[Any, str], bool] = {}
    for event in _events(instance, dagster_run_id, CHECK_EVALUATION):
        data = event.event_specific_data
        evaluated[(data.asset_key, data.check_name)] = bool(data.passed)
    failing = sorted(
        f"{key.to_user_string()}.{name}" for (key, name), ok in evaluated.items() if not ok
    )
    missing = sorted(f"{k.to_user_string()}.{n}" for k, n in planned - evaluated.keys())
    if failing or missing:
        what = ", ".join([*(f"{f} FAILED" for f in failing), *(f"{m} NOT_RUN" for m in missing)])
        return RunVerdict(True, False, f"build failed: {what}")
    return RunVerdict(True, True)


CHECK_PLANNED = dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
CHECK_EVALUATION = dg.DagsterEventType.ASSET_CHECK_EVALUATION
STEP_TROUBLE = (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED)


def _events(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list[Any]:
    records = instance.get_records_for_run(run_id, of_type=kind).records
    return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]


def promote_materialization(
    instance: dg.DagsterInstance,
    workspace_root: Path,
    registry_id: str,
    run_id: str,
    dagster_run_id: str,
    actor: dict[str, str],
    verdict: RunVerdict | None = None,
) -> PromotionOutcome:
    """Promote snapshot `run_id`, materialized by Dagster run `dagster_run_id`, if that run is
    promotable (`verdict`, else `run_verdict` of the finished run) and the catalog gives the
    registry a pointer."""
    workspace = Workspace(workspace_root)

    def outcome(kind: Outcome, reason: str, **extra: Any) -> PromotionOutcome:
        return PromotionOutcome(registry_id, run_id, kind, reason, **extra)

    try:
        spec = load_catalog(workspace).get(registry_id)
    except RegistryError as exc:
        return outcome(Outcome.REFUSED, exc.message, code=exc.code)
    if not spec.active_pointer:
        return outcome(Outcome.NO_POINTER, Outcome.NO_POINTER.value)
    record = materialization_of(instance, registry_id, run_id, dagster_run_id)
    if record is None:
        reason = f"Dagster run {dagster_run_id} did not materialize {run_id}"
        return outcome(Outcome.CHECKS_NOT_PASSED, reason, code="NO_MATERIALIZATION")
    checks = blocking_checks(instance, record, check_names(spec))
    verdict = verdict or run_verdict(instance, dagster_run_id)
    if not verdict.promotable:
        return outcome(
            Outcome.CHECKS_NOT_PASSED, verdict.reason, code="CHECKS_NOT_PASSED", checks=checks
        )
    reason = f"blocking checks passed in Dagster run {dagster_run_id}"
    return promote_checked(workspace, spec, run_id, reason, actor, checks)


def promote_checked(
    workspace: Workspace,
    spec: RegistrySpec,
    run_id: str,
    reason: str,
    actor: dict[str, str],
    checks: dict[str, dict[str, Any]],
) -> PromotionOutcome:
    """Promote a snapshot whose checks passed (`checks` says where) through the pointer store,
    which validates it again under its lock; refusals become outcomes."""

    def outcome(kind: Outcome, text: str, **extra: Any) -> PromotionOutcome:
        return PromotionOutcome(spec.registry_id, run_id, kind, text, checks=checks, **extra)

    if not spec.active_pointer:
        return outcome(Outcome.NO_POINTER, Outcome.NO_POINTER.value)
    try:
        change = PointerStore(workspace).promote(
            spec.registry_id,
            run_id,
            relpath=pointer_relpath(spec.kind, spec.artifacts),
            reason=reason,
            actor=actor,
            admit=admission,
            checks=checks,
            expect=ANY,
            automatic=True,
        )
    except PointerRefused as exc:
        skipped = exc.code in ("NOT_NEWER", "HELD")
        kind = Outcome.SKIPPED if skipped else Outcome.REFUSED
        text = exc.message if exc.code == "HELD" else f"{exc.code}: {exc.message}"
        return outcome(kind, text, code=exc.code)
    except RegistryError as exc:  # a stale lock, an unreadable pointer file, ...
        return outcome(Outcome.REFUSED, f"{exc.code}: {exc.message}", code=exc.code)
    if change.record is None:
        return outcome(Outcome.ALREADY_ACTIVE, Outcome.ALREADY_ACTIVE.value)
    return outcome(Outcome.PROMOTED, Outcome.PROMOTED.value, journal_seq=change.record.seq)


def materialization_of(
    instance: dg.DagsterInstance, registry_id: str, run_id: str, dagster_run_id: str
) -> dg.EventLogRecord | None:
    """The materialization of `registry_id` in Dagster run `dagster_run_id` that wrote or reused
    snapshot `run_id` (from the asset index: its storage id is the one checks point at)."""
    run = instance.get_run_record_by_id(dagster_run_id)
    if run is None:
        return None
    records_filter = dg.AssetRecordsFilter(
        asset_key=dg.AssetKey(registry_id), after_timestamp=run.create_timestamp.timestamp()
    )
    cursor = None
    while True:
        result = instance.fetch_materializations(records_filter, limit=_PAGE, cursor=cursor)
        for record in result.records:
            materialization = record.asset_materialization
            value = materialization.metadata.get("run_id") if materialization else None
            if record.run_id == dagster_run_id and value is not None and value.value == run_id:
                return record
        if not result.has_more:
            return None
        cursor = result.cursor


def blocking_checks(
    instance: dg.DagsterInstance,
    materialization: dg.EventLogRecord,
    names: Sequence[str] = CHECK_NAMES,
) -> dict[str, dict[str, Any]]:
    """Each blocking check's verdict on that materialization, for the journal.

    `status` is SUCCEEDED, FAILED, PLANNED (not evaluated yet) or NOT_RUN (the run ended without
    evaluating it, or never planned it); `passed` is True, False, or None while it may still run.
    """
    dagster_run_id, asset_key = materialization.run_id, materialization.asset_key
    if asset_key is None:
        raise ValueError(f"event {materialization.storage_id} is not an asset materialization")
    finished = _run_finished(instance, dagster_run_id)
    verdicts: dict[str, dict[str, Any]] = {}
    for name in names:
        key = dg.AssetCheckKey(asset_key, name)
        execution = _execution_in_run(instance, key, dagster_run_id, materialization.storage_id)
        status = execution.status.value if execution is not None else "NOT_RUN"
        passed: bool | None = status == "SUCCEEDED"
        if status in ("PLANNED", "NOT_RUN") and not finished:
            status, passed = "PLANNED", None
        elif status == "PLANNED":
            status = "NOT_RUN"
        verdicts[name] = {
            "passed": passed,
            "status": status,
            "source": CHECK_SOURCE,
            "dagster_run_id": dagster_run_id,
        }
    return verdicts


def _execution_in_run(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, dagster_run_id: str, storage_id: int
) -> Any:
    """The check's execution in `dagster_run_id` that targets this materialization, if any."""
    storage = instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key([key]).get(key)
    candidates = [latest] if latest is not None else []
    if latest is not None and latest.run_id != dagster_run_id:
        candidates = []
        cursor = None
        while True:  # newest first: the wanted run is usually within the first page
            page = storage.get_asset_check_execution_history(key, _HISTORY_PAGE, cursor)
            candidates.extend(r for r in page if r.run_id == dagster_run_id)
            if candidates or len(page) < _HISTORY_PAGE:
                break
            cursor = page[-1].id
    for execution in candidates:
        if execution.run_id == dagster_run_id and _targets(execution, storage_id):
            return execution
    return None


def _targets(execution: Any, storage_id: int) -> bool:
    """False when the evaluation names another materialization than `storage_id`."""
    event = execution.event
    evaluation = event.dagster_event.event_specific_data if event and event.dagster_event else None
    target = getattr(evaluation, "target_materialization_data", None)
    return target is None or target.storage_id == storage_id


def _run_finished(instance: dg.DagsterInstance, dagster_run_id: str) -> bool:
    run = instance.get_run_by_id(dagster_run_id)
    return run is None or run.is_finished
