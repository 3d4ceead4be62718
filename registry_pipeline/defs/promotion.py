"""The promotion job and the sensor that requests it when a build ends (lib/promotion.py)."""

import dagster as dg

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.workspace.build_slot import DEFAULT_WAIT
from registry_pipeline.lib.build_run import RegistryWorkspace
from registry_pipeline.lib.failures import step_failure
from registry_pipeline.lib.promotion import (
    PROMOTION_JOB,
    PROMOTION_OP,
    PROMOTION_SENSOR,
    pending_builds,
    promote_build,
    promotion_key,
)
from registry_pipeline.lib.runs import PROMOTES_TAG

SENSOR_INTERVAL = 5
"""Seconds between the sensor's looks: a build's promotion starts within ~10 s of its end."""


class PromotionConfig(dg.Config):
    """How long the promotion waits for the workspace's build slot (another build's run)."""

    wait_seconds: float = DEFAULT_WAIT


@dg.op(
    name=PROMOTION_OP,
    description="Run the publish gate on what the build named by this run's "
    "`registry-pipeline/promotes` tag sealed, move every pointer that passed by compare-and-swap "
    "through the journal, and record the build.",
)
def promote_build_op(
    context: dg.OpExecutionContext, config: PromotionConfig, registry_workspace: RegistryWorkspace
) -> None:
    try:
        for observation in promote_build(
            context.instance, context.run, registry_workspace.workspace, config.wait_seconds
        ):
            context.log_event(observation)
    except RegistryError as exc:
        raise step_failure(exc.code, exc.path, exc.message, exc.problems) from None


@dg.job(
    name=PROMOTION_JOB,
    description="Promote one build: the sensor `promote_after_build` requests it when a build "
    "run ends; `registry build` runs it itself right after its build, with the same run key.",
    executor_def=dg.in_process_executor,
)
def promotion_job() -> None:
    promote_build_op()


@dg.sensor(
    name=PROMOTION_SENSOR,
    job_name=PROMOTION_JOB,
    minimum_interval_seconds=SENSOR_INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When a build run ends (success or failure), request its promotion: one run "
    "per build (the run key names the build run), none for a build a command promotes itself.",
)
def promotion_sensor(
    context: dg.SensorEvaluationContext,
) -> dg.SensorResult | dg.SkipReason:
    builds = pending_builds(context.instance)
    if not builds:
        return dg.SkipReason("no ended build waits for its promotion")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=promotion_key(context.instance, run.run_id),
                tags={PROMOTES_TAG: run.run_id},
            )
            for run in builds
        ]
    )
