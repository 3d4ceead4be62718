"""The manifest diff between two sealed snapshots: tri-state, never a guess."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from registry_pipeline.core.delta_log._model import (
    MANIFEST_DIFF,
    UNKNOWN,
    DeltaRecord,
    SealedLogRef,
)
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.manifest import MANIFEST_JSON
from registry_pipeline.core.seal.manifest_parse import parse_manifest_json
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace

Files = Mapping[str, str]
"""relpath -> sha256 of every file a manifest.json lists (run.json included, like the seed)."""


def folder_of(workspace: Workspace, ref: SealedLogRef) -> Path | None:
    """The run folder a ref names, or None when its run_root or run_id would escape the root."""
    if relpath_problem(ref.run_root) or not is_folder_name(ref.run_id):
        return None
    return workspace.root / ref.run_root / ref.run_id


def is_folder_name(name: str) -> bool:
    """Whether `name` is one safe path component (checked before any filesystem call)."""
    return relpath_problem(name) is None and "/" not in name and name not in (".", "..")


def sealed_files(folder: Path | None, root_sha256: str, schemas: SchemaCatalog) -> Files | None:
    """What `folder`'s manifest.json lists, when the folder validates with root `root_sha256`.

    None (basis unknown) when it is missing, unreadable, fails validation or has another root.
    """
    if folder is None:
        return None
    try:
        report = inspect_run_folder(folder, schemas=schemas)
    except UsageError:
        return None
    if not report.ok or report.root_sha256 != root_sha256:
        return None
    try:
        data = (folder / MANIFEST_JSON).read_bytes()
    except OSError:
        return None
    problems: list[object] = []
    entries = parse_manifest_json(data, lambda *args, **kwargs: problems.append(args))
    if entries is None or problems:
        return None
    return {entry.relpath: entry.sha256 for entry in entries}


def diff_record(
    registry_id: str,
    from_ref: SealedLogRef | None,
    from_files: Files | None,
    to_ref: SealedLogRef,
    to_files: Files | None,
    *,
    created_utc: str,
    derivation_run_id: str,
) -> DeltaRecord:
    """The record from `from_ref` to `to_ref`; `unknown` with no paths unless both sides are known.

    For a bootstrap (`from_ref` None) only `to_files` must be known: every path is added.
    """
    before = {} if from_ref is None else from_files
    if before is None or to_files is None:
        return DeltaRecord(
            registry_id, from_ref, to_ref, UNKNOWN, (), (), (), created_utc, derivation_run_id
        )
    added = sorted(path for path in to_files if path not in before)
    removed = sorted(path for path in before if path not in to_files)
    modified = sorted(
        path for path in to_files if path in before and before[path] != to_files[path]
    )
    return DeltaRecord(
        registry_id,
        from_ref,
        to_ref,
        MANIFEST_DIFF,
        tuple(added),
        tuple(removed),
        tuple(modified),
        created_utc,
        derivation_run_id,
    )
