"""The registry_delta_log builder: previous log plus a record per new snapshot; DELTA_LOG.md."""

from __future__ import annotations

from registry_pipeline.core.builders.model import BuildInputs, BuildResult, SealPlan
from registry_pipeline.core.delta_log import (
    LOG_REGISTRY_ID,
    CoveredRegistry,
    build_delta_log,
    load_previous_log,
    newest_valid_log,
)
from registry_pipeline.core.pointers.store import pointer_relpath
from registry_pipeline.core.seal.run_id import MAX_SEQ, base_run_id, created_moment, now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.snapshots import (
    read_snapshot,
    unchanged_snapshot,
)


def build(inputs: BuildInputs) -> BuildResult:
    """Append the covered registries' new snapshots to the newest valid log."""
    workspace = inputs.workspace
    schemas = SchemaCatalog.for_workspace(workspace.root)
    catalog = load_catalog(workspace)
    others = [spec for spec in catalog.registries if spec.registry_id != LOG_REGISTRY_ID]
    covered = [
        CoveredRegistry(spec.registry_id, pointer_relpath(spec.kind, spec.artifacts))
        for spec in others
        if spec.delta_log.covered
    ]
    excluded = {s.registry_id: s.delta_log.reason or "" for s in others if not s.delta_log.covered}
    baseline = newest_valid_log(workspace, schemas, strict_derivation=True)
    previous = load_previous_log(baseline) if baseline is not None else None
    draft = build_delta_log(workspace, covered, previous, PENDING, schemas)
    if baseline is not None and draft.appended == 0:
        summary = {**draft.summary, "excluded": excluded, "derivation_run_id": baseline.run_id}
        moment = created_moment(baseline.created_utc) or now_utc()  # a valid log has its time
        plan = SealPlan(baseline.run_id, moment, reuse=baseline)
        return BuildResult(draft.files, draft.records, summary, plan)
    # the log as of its newest record, never before its baseline: it sorts after what it extends
    stamps = [record.created_utc for record in draft.new_records]
    stamps += [baseline.created_utc] if baseline is not None else []
    stamps = stamps or [snapshot.created_utc for snapshot in inputs.inputs.values()]
    moment = max(filter(None, map(created_moment, stamps)), default=None) or now_utc()
    base = base_run_id(LOG_REGISTRY_ID, moment)
    for sequence in range(MAX_SEQ + 1):
        run_id = base if sequence == 0 else f"{base}__{sequence:03d}"
        result = build_delta_log(workspace, covered, previous, run_id, schemas)
        folder = workspace.runs_dir / run_id
        if folder.exists() and unchanged_snapshot(folder, result.files, schemas) != (True, True):
            continue  # taken by another log: the next id (records name it, so build again)
        reuse = read_snapshot(folder, LOG_REGISTRY_ID) if folder.exists() else None
        summary = {**result.summary, "excluded": excluded, "derivation_run_id": run_id}
        extra = (previous.ref(),) if previous is not None else ()
        plan = SealPlan(run_id, moment, reuse=reuse, extra_inputs=extra)
        return BuildResult(result.files, result.records, summary, plan)
    raise RuntimeError(f"no free run id after {base}")  # pragma: no cover - 1,000 collisions


PENDING = "pending__registry_delta_log_build"
"""The derivation id of the draft that finds the new records (never sealed)."""
