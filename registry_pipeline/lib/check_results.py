"""The core gate's check verdicts as Dagster asset check results."""

from __future__ import annotations

from typing import Any

import dagster as dg

from registry_pipeline.core.gate.verdict import CheckVerdict

_PATH_KEYS = frozenset({"path"})


def as_check_result(verdict: CheckVerdict) -> dg.AssetCheckResult:
    """`verdict` as an AssetCheckResult: lists and objects become JSON metadata, `path` a path."""
    metadata: dict[str, Any] = {}
    for key, value in verdict.metadata.items():
        if key in _PATH_KEYS and isinstance(value, str):
            metadata[key] = dg.MetadataValue.path(value)
        elif isinstance(value, dict) or (isinstance(value, list) and key != "reason_codes"):
            metadata[key] = dg.MetadataValue.json(value)
        else:
            metadata[key] = value
    if verdict.inputs:
        metadata["inputs"] = dg.MetadataValue.json([ref.as_json() for ref in verdict.inputs])
    return dg.AssetCheckResult(
        passed=verdict.passed, metadata=metadata, description=verdict.description
    )
