"""Sensors around the fixed point: build when an input changed, record a successful build."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness import build_inputs, record_build, up_to_date
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.defs.schedules import BUILD_INPUTS_TAG

RECORD_SENSOR = "record_successful_build"
CHANGE_SENSOR = "build_when_inputs_change"


def change_sensor(
    job_name: str,
    root: Path,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Request a build of `job_name` when the workspace is not up to date (the decision of
    `registry build` and the daily schedule), once per set of inputs (the run key is their
    digest): a build that fails is not requested again until an input changes."""

    @dg.sensor(
        name=CHANGE_SENSOR,
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=default_status,
        description="Build every registry when a source, the catalog, a schema, the tool, a "
        "run folder or an active snapshot changed since the last successful build.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        workspace = Workspace(root)
        freshness = up_to_date(workspace)
        if freshness.up_to_date:
            return dg.SkipReason(freshness.summary())
        try:
            read = json.dumps(build_inputs(workspace), sort_keys=True)
        except RegistryError as exc:
            return dg.SkipReason(f"{exc.code}: {exc.message}")
        key = hashlib.sha256(read.encode()).hexdigest()
        return dg.RunRequest(run_key=key, tags={BUILD_INPUTS_TAG: read})

    return _sensor


def build_record_sensor(
    job_name: str,
    root: Path,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """On each successful run of `job_name` that carries what it read (`BUILD_INPUTS_TAG`, set
    by the daily schedule and the change sensor), record it with the snapshots it made, as
    `registry build` does, so the next tick finds the workspace up to date."""

    @dg.run_status_sensor(
        name=RECORD_SENSOR,
        run_status=dg.DagsterRunStatus.SUCCESS,
        default_status=default_status,
        description="Record a successful scheduled build: the next one skips when nothing changed.",
    )
    def _sensor(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
        run = context.dagster_run
        read = run.tags.get(BUILD_INPUTS_TAG)
        if run.job_name != job_name or read is None:
            return dg.SkipReason(f"run {run.run_id} is not a scheduled or sensed build")
        before = json.loads(read)
        made = _made(context.instance, run.run_id)
        active = {  # what the promotion sensor makes active; a registry not built keeps its own
            rid: [made.get(rid) or run_id] for rid, run_id in before["before"].items()
        }
        record_build(Workspace(root), before, active, run.run_id)
        return None

    return _sensor


def _made(instance: dg.DagsterInstance, run_id: str) -> dict[str, str | None]:
    """The snapshot each registry materialized in the run (its `run_id` metadata)."""
    made: dict[str, str | None] = {}
    event_type = dg.DagsterEventType.ASSET_MATERIALIZATION
    for record in instance.get_records_for_run(run_id, of_type=event_type).records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        value = materialization.metadata.get("run_id")
        made[materialization.asset_key.to_user_string()] = str(value.value) if value else None
    return made
