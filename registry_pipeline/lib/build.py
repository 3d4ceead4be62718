"""`registry build`: run the build job in process against the workspace's Dagster instance."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from registry_pipeline.core.validate import inspection_cache
from registry_pipeline.definitions import BUILD_JOB, build_definitions

DAGSTER_HOME_RELPATH = ".codex/dagster_home"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Dagster's run log stays in the instance (the UI shows it); the CLI prints its own summary."""


@dataclass(frozen=True)
class RegistryBuild:
    """What one build did to one registry."""

    registry_id: str
    status: str
    """`built`, `reused`, `failed` (a step or a check failed) or `skipped` (upstream failed)."""
    run_id: str | None = None
    root_sha256: str | None = None
    record_count: int | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The object `registry build --json` prints for this registry."""
        return {
            "registry_id": self.registry_id,
            "status": self.status,
            "run_id": self.run_id,
            "root_sha256": self.root_sha256,
            "record_count": self.record_count,
            "checks": self.checks,
            "promoted": False,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class BuildSummary:
    """The Dagster run and one entry per registry in build order."""

    dagster_run_id: str
    success: bool
    registries: list[RegistryBuild]


def dagster_home(root: Path) -> Path:
    """The workspace's persistent Dagster instance; `dagster dev` with this DAGSTER_HOME sees it."""
    home = root / DAGSTER_HOME_RELPATH
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


def run_build(root: Path, *, select: Sequence[str] = (), full_audit: bool = False) -> BuildSummary:
    """Build the selected registries (all when empty) and summarize what happened."""
    home = dagster_home(root)
    os.environ["DAGSTER_HOME"] = str(home)
    definitions = build_definitions(root, full_audit=full_audit)
    job = definitions.resolve_job_def(BUILD_JOB)
    keys = [dg.AssetKey(registry_id) for registry_id in select] or None
    with dg.DagsterInstance.from_config(str(home)) as instance, inspection_cache():
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, asset_selection=keys, run_config=QUIET_LOGS
        )
        order = [
            key
            for key in definitions.resolve_asset_graph().toposorted_asset_keys
            if keys is None or key in keys
        ]
        entries = [_entry(result, key) for key in order]
    return BuildSummary(
        result.run_id,
        result.success and all(e.status in ("built", "reused") for e in entries),
        entries,
    )


def _entry(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> RegistryBuild:
    checks = {
        evaluation.check_name: evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key == key
    }
    problems = [
        f"{evaluation.check_name}: {evaluation.description}"
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key == key and not evaluation.passed and evaluation.description
    ]
    materialized = list(result.asset_materializations_for_node(key.to_python_identifier()))
    if not materialized:
        failed = any(
            e.is_step_failure and e.step_key == key.to_python_identifier()
            for e in result.all_events
        )
        return RegistryBuild(
            key.to_user_string(),
            "failed" if failed else "skipped",
            problems=problems or _step_errors(result, key),
        )
    metadata = materialized[-1].metadata
    reused = bool(metadata["reused_snapshot"].value) if "reused_snapshot" in metadata else False
    status = "failed" if not all(checks.values()) else ("reused" if reused else "built")
    count = metadata.get("record_count")
    return RegistryBuild(
        key.to_user_string(),
        status,
        str(metadata["run_id"].value),
        str(metadata["root_sha256"].value),
        int(str(count.value)) if count is not None else None,
        checks,
        problems,
    )


def _step_errors(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> list[str]:
    errors = []
    for event in result.all_events:
        if event.is_step_failure and event.step_key == key.to_python_identifier():
            error = event.step_failure_data.error
            errors.append(error.message.strip() if error else "step failed")
    return errors
