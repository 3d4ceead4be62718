"""The registry_delta_log builder: the previous valid log plus one record per new snapshot.

The records name the build that derived them (`derivation_run_id`), so the run id is decided
before sealing and made deterministic: `<as_of>__registry_delta_log_build` (with the usual
`__NNN` suffix when taken), `as_of` being the newest input snapshot's created_utc; the folder is
sealed with the store's clock at that moment. A rebuild from the same sealed inputs produces
the same files under the same id, so the existing snapshot is reused instead of sealing a copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from registry_pipeline.core.builders.registry import BuildInputs, BuildResult, SealPlan, register
from registry_pipeline.core.catalog import load_catalog
from registry_pipeline.core.delta_log import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    STATE_ARTIFACT,
    CoveredRegistry,
    build_delta_log,
    load_previous_log,
    newest_valid_log,
)
from registry_pipeline.core.pointer_store import pointer_relpath
from registry_pipeline.core.run_id import MAX_SEQ, base_run_id
from registry_pipeline.core.schemas import SchemaCatalog
from registry_pipeline.core.snapshots import read_snapshot


@register(LOG_REGISTRY_ID)
def build_registry_delta_log(build: BuildInputs) -> BuildResult:
    """Append the covered registries' new snapshots to the newest valid log."""
    workspace = build.workspace
    schemas = SchemaCatalog.for_workspace(workspace.root)
    catalog = load_catalog(workspace)
    covered = [
        CoveredRegistry(spec.registry_id, pointer_relpath(spec.kind, spec.artifacts))
        for spec in catalog.registries
        if spec.delta_log.covered and spec.registry_id != LOG_REGISTRY_ID
    ]
    excluded = {
        spec.registry_id: spec.delta_log.reason or ""
        for spec in catalog.registries
        if not spec.delta_log.covered and spec.registry_id != LOG_REGISTRY_ID
    }
    baseline = newest_valid_log(workspace, schemas)
    previous = load_previous_log(baseline) if baseline is not None else None
    moment = max(_moment(snapshot.created_utc) for snapshot in build.inputs.values())
    base = base_run_id(LOG_REGISTRY_ID, moment)
    for sequence in range(MAX_SEQ + 1):
        run_id = base if sequence == 0 else f"{base}__{sequence:03d}"
        result = build_delta_log(workspace, covered, previous, run_id, schemas)
        folder = workspace.runs_dir / run_id
        if folder.exists() and not _same_files(folder, result.files):
            continue  # taken by another log: the next id (records name it, so build again)
        reuse = read_snapshot(folder, LOG_REGISTRY_ID) if folder.exists() else None
        if previous is not None and result.appended == 0:
            reuse = read_snapshot(previous.path, LOG_REGISTRY_ID)  # nothing new: keep the log
        summary = {**result.summary, "excluded": excluded, "derivation_run_id": run_id}
        return BuildResult(
            result.files,
            result.records,
            summary,
            SealPlan(
                run_id,
                moment,
                reuse=reuse,
                extra_inputs=(previous.ref(),) if previous is not None else (),
            ),
        )
    raise RuntimeError(f"no free run id after {base}")  # pragma: no cover - 1,000 collisions


def _moment(created_utc: str) -> datetime:
    return datetime.strptime(created_utc[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def _same_files(folder: Path, files: Mapping[str, bytes]) -> bool:
    """Whether the sealed folder already holds exactly these log artifacts."""
    return all(
        (folder / name).is_file() and (folder / name).read_bytes() == files[name]
        for name in (LOG_ARTIFACT, STATE_ARTIFACT)
    )
