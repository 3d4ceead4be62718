"""The build: every folder of every root, reused or indexed, into both artifacts and the stats."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry_pipeline.core.builders.run_registry._folder import _envelope, _manifest_root, _scan
from registry_pipeline.core.builders.run_registry._model import (
    FAIL,
    HASHED,
    REUSED,
    UNSEALED,
    FolderRecord,
    RunRegistryResult,
    RunRegistryStats,
    RunRoot,
)
from registry_pipeline.core.builders.run_registry._previous import PreviousSnapshot
from registry_pipeline.core.builders.run_registry._render import _dumps_line
from registry_pipeline.core.builders.run_registry._reuse import _reuse_line
from registry_pipeline.core.builders.run_registry._verdict import _verdict
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256
from registry_pipeline.core.seal.manifest import RUN_JSON as RUN_JSON_NAME
from registry_pipeline.core.seal.paths import printable, relpath_problem, sort_key
from registry_pipeline.core.seal.schemas import SchemaCatalog


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, status: dict[str, Any]) -> None:
        verdict, verification = status["status"], status["verification"]
        for name, hit in (
            ("folders", True),
            ("hashed", verification == HASHED),
            ("reused", verification == REUSED),
            ("failed", verdict == FAIL),
            ("tampered", status["tampered"]),
            ("unsealed", verdict == UNSEALED),
        ):
            self.counts[name] = self.counts.get(name, 0) + int(hit)

    def stats(self) -> RunRegistryStats:
        return RunRegistryStats(**self.counts, warnings=tuple(self.warnings))


def build_run_registry(
    run_roots: Sequence[RunRoot],
    *,
    previous: PreviousSnapshot | None,
    full_audit: bool,
    schemas: SchemaCatalog,
) -> RunRegistryResult:
    """Index every folder of every root into both artifacts, in the seed's order (`order_key`)."""
    _check_labels(run_roots)
    tally = _Tally()
    rows: list[tuple[tuple[str, int, str, str], bytes, bytes]] = []
    fast = previous is not None and previous.lines is not None and not full_audit
    for root in run_roots:
        for name in _folder_names(root, tally.warnings):
            reused = _reuse_line(root, name, previous, schemas) if fast and previous else None
            if reused is not None:
                line, created_utc, verdict = reused
            else:
                record = index_folder(
                    root, name, previous=previous, full_audit=full_audit, schemas=schemas
                )
                line, created_utc, verdict = (
                    _dumps_line(record.line),
                    record.line["created_utc"],
                    record.status,
                )
            rows.append(
                (order_key(root.label, created_utc, printable(name)), line, _dumps_line(verdict))
            )
            tally.add(verdict)
    rows.sort(key=lambda row: row[0])
    registry = b"".join(line for _, line, _ in rows)
    status = b"".join(verdict for _, _, verdict in rows)
    return RunRegistryResult(registry, status, tally.stats())


def order_key(run_root: str, created_utc: str | None, run_id: str) -> tuple[str, int, str, str]:
    """The seed builder's record order: by run root, then dated records by `created_utc` (as
    text) before undated ones, then by run id."""
    if created_utc is None:
        return (run_root, 1, "", run_id)
    return (run_root, 0, created_utc, run_id)


def _check_labels(run_roots: Sequence[RunRoot]) -> None:
    seen: set[str] = set()
    for root in run_roots:
        reason = relpath_problem(root.label)
        if reason or root.label in seen:
            raise UsageError(
                f"run root label {reason or 'is configured twice'}",
                code="BAD_RUN_ROOT",
                path=root.label,
            )
        seen.add(root.label)


def _folder_names(root: RunRoot, warnings: list[str]) -> Iterator[str]:
    """Names of the run folders of `root` in byte order; problems with the root become warnings."""
    if not root.path.exists():
        warnings.append(f"root:MISSING:{root.label}")
        return
    names: list[str] = []
    try:
        with os.scandir(root.path) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    names.append(entry.name)
                elif entry.is_symlink():
                    warnings.append(f"root:SYMLINK_SKIPPED:{root.label}/{printable(entry.name)}")
    except NotADirectoryError:
        warnings.append(f"root:NOT_A_DIRECTORY:{root.label}")
    except OSError:
        warnings.append(f"root:UNREADABLE:{root.label}")
    yield from sorted(names, key=sort_key)


def index_folder(
    root: RunRoot,
    name: str,
    *,
    previous: PreviousSnapshot | None,
    full_audit: bool,
    schemas: SchemaCatalog,
) -> FolderRecord:
    """The record of folder `name` under `root`; problems are findings, never exceptions."""
    run_id = printable(name)
    run_key = f"{root.label}::{run_id}"
    folder = root.path / name
    scan = _scan(folder)
    envelope, warnings = _envelope(folder, scan)
    manifest_root = _manifest_root(folder) if scan.has(MANIFEST_SHA256) else None
    prior = previous.get(run_key) if previous is not None else None
    status = _verdict(folder, scan, manifest_root, prior, full_audit, schemas)
    status = {"run_key": run_key, **status}
    warnings.extend(scan.warnings)
    top_level, nested = scan.split()
    line = {
        "registry_version": "0.1",
        "run_id": run_id,
        "run_root": root.label,
        "run_key": run_key,
        "run_path": f"{root.label}/{run_id}/",
        **envelope,
        "has_run_json": scan.has(RUN_JSON_NAME),
        "has_manifest_sha256": scan.has(MANIFEST_SHA256),
        "has_manifest_json": scan.has(MANIFEST_JSON),
        "manifest_root_sha256": manifest_root,
        "files": _files(top_level),
        "warnings": warnings,
    }
    return FolderRecord(line, {**status, "nested_files": _files(nested)})


def _files(items: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"relpath": printable(relpath), "bytes": size} for relpath, size in items]
