"""The build: check the inputs, compute every signal, and assemble both documents."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.drift_signals._comparisons import (
    _behind_signals,
    _schema_changed_signals,
    _SnapshotIndex,
    _threshold_signal,
    _version_signals,
)
from registry_pipeline.core.builders.drift_signals._model import (
    KIND_SEVERITY,
    UTC_STAMP,
    DriftResult,
    Signal,
    SnapshotRef,
)
from registry_pipeline.core.builders.drift_signals._runs import _run_folder_signals, _stale_signals
from registry_pipeline.core.builders.drift_signals._v01 import _v01_object
from registry_pipeline.core.errors import UsageError

DEFAULT_EXPECTED_SOURCE = "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"


def build_drift_signals(
    *,
    run_registry_lines: Sequence[Mapping[str, Any]],
    op_status_detail: Mapping[str, Any],
    expected_versions: Mapping[str, Any],
    observed_schema_versions: Mapping[str, str | None],
    observed_builder_versions: Mapping[str, str | None],
    observed_threshold_pack_version: str | None,
    active_snapshots: Mapping[str, SnapshotRef | None] | None,
    newest_valid_snapshots: Mapping[str, SnapshotRef | None],
    schema_hashes_now: Mapping[str, str],
    schema_hashes_at_active: Mapping[str, str | None],
    git_commit: str | None,
    working_tree_state: str | None,
    as_of: str,
    expected_versions_source: str = DEFAULT_EXPECTED_SOURCE,
) -> DriftResult:
    """Compute every drift signal from plain parsed inputs; the same inputs give the same bytes."""
    _check_inputs(as_of, working_tree_state)
    expected = _expected_block(expected_versions)
    refs = _SnapshotIndex(active_snapshots, newest_valid_snapshots)
    signals = (
        *_version_signals(
            "schema_version", expected.get("schema_version"), observed_schema_versions, refs
        ),
        *_version_signals(
            "builder_version",
            None,
            observed_builder_versions,
            refs,
            per_key=_string_map(expected.get("builder_versions")),
        ),
        _threshold_signal(expected.get("threshold_pack_version"), observed_threshold_pack_version),
        *_stale_signals(op_status_detail, run_registry_lines, as_of),
        *_run_folder_signals(run_registry_lines),
        *_behind_signals(active_snapshots, newest_valid_snapshots),
        *_schema_changed_signals(schema_hashes_now, schema_hashes_at_active, refs),
    )
    v01 = _v01_object(
        signals=signals,
        expected=expected,
        observed_schema_versions=observed_schema_versions,
        observed_threshold_pack_version=observed_threshold_pack_version,
        source=expected_versions_source,
        canon_tree_hash=canon_tree_hash(schema_hashes_now),
        git=(git_commit, working_tree_state),
        as_of=as_of,
    )
    return DriftResult(v01, signals, as_of)


def unknown_drift(
    *, as_of: str, reason: str, expected_versions_source: str = DEFAULT_EXPECTED_SOURCE
) -> DriftResult:
    """Every signal unknown, for a moment whose evidence is missing (e.g. no pointer history
    then): one signal per kind, value null, `reason` as its summary. Never a guess."""
    _check_inputs(as_of, None)
    signals = tuple(Signal(f"{kind}:no_history", kind, None, reason) for kind in KIND_SEVERITY)
    v01 = _v01_object(
        signals=signals,
        expected={},
        observed_schema_versions={},
        observed_threshold_pack_version=None,
        source=expected_versions_source,
        canon_tree_hash=canon_tree_hash({}),
        git=(None, None),
        as_of=as_of,
    )
    return DriftResult(v01, signals, as_of)


def canon_tree_hash(schema_hashes: Mapping[str, str]) -> str:
    """SHA-256 over the sorted `<hash>  <key>` lines of the schema files (see module doc)."""
    lines = sorted(f"{digest}  {key}\n".encode() for key, digest in schema_hashes.items())
    return hashlib.sha256(b"".join(lines)).hexdigest()


def _check_inputs(as_of: str, working_tree_state: str | None) -> None:
    """Refuse an `as_of` that is not a UTC stamp and an unknown working tree state."""
    if not UTC_STAMP.fullmatch(as_of):
        raise UsageError(
            "as_of must be YYYY-MM-DDTHH:MM:SSZ (the newest input's created_utc)",
            code="BAD_AS_OF",
            path=as_of,
        )
    if working_tree_state not in ("clean", "dirty", None):
        raise UsageError(
            "working_tree_state must be clean, dirty or null",
            code="BAD_WORKING_TREE_STATE",
            path=str(working_tree_state),
        )


def _expected_block(expected_versions: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `expected` object of EXPECTED_VERSIONS, or a usage error."""
    block = expected_versions.get("expected")
    if not isinstance(block, Mapping):
        raise UsageError("expected_versions has no `expected` object", code="BAD_EXPECTED_VERSIONS")
    return block


def _string_map(value: Any) -> Mapping[str, str | None]:
    """`value` if it is an object of strings (or nulls), else an empty mapping."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if v is None or isinstance(v, str)}
