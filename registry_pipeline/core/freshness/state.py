"""Whether `registry build` has anything to do: one decision for the CLI and the schedule.

A successful build of the whole catalog records what it read (`inputs.current_inputs`, taken
before it ran) and what it left active (each registry's snapshot before the build and the one
the build made). The workspace is up to date while every input has the recorded digest, the
pointer history is intact (the check a build starts with, which also inspects every active
snapshot) and each registry's active snapshot is one of the two recorded (the build's own
promotion may still be pending; a rollback or a hand promotion to a third snapshot is a change).
The record is a cache (`.codex/cache/last_build.json`): unreadable or absent means "build".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness.inputs import current_inputs
from registry_pipeline.core.pointers.integrity import verify_workspace
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal._fs import write_atomic
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder, inspection_cache
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.safe_write import require_safe

STATE_RELPATH = ".codex/cache/last_build.json"
FORMAT = "registry-last-build-1"


@dataclass(frozen=True)
class Freshness:
    """The answer: up to date or not, and why."""

    up_to_date: bool
    changed: tuple[str, ...] = ()
    """The inputs that differ from the last successful build (`source:rolepack`, `pointers`,
    `no successful build recorded`, ...); empty when up to date."""
    last_build: Mapping[str, Any] = field(default_factory=dict)
    """The record of the last successful build: `dagster_run_id`, `recorded_utc`, `active`."""

    def as_json(self) -> dict[str, Any]:
        """The object `registry build --json` prints for an up-to-date workspace."""
        return {
            "up_to_date": self.up_to_date,
            "changed": list(self.changed),
            "last_build": dict(self.last_build),
        }

    def summary(self) -> str:
        """One line for a terminal or a skip reason."""
        if self.up_to_date:
            run = self.last_build.get("dagster_run_id") or "no dagster run"
            return (
                f"up to date: nothing changed since the last successful build ({run}, "
                f"{self.last_build.get('recorded_utc')}); `registry build --force` rebuilds"
            )
        return "changed since the last successful build: " + ", ".join(self.changed)


def up_to_date(workspace: Workspace, catalog: RegistryCatalog | None = None) -> Freshness:
    """Whether a build of the whole catalog would have nothing to do (see the module)."""
    record = _load(workspace)
    if record is None:
        return Freshness(False, ("no successful build recorded",))
    try:
        catalog = catalog or load_catalog(workspace)
        now = current_inputs(workspace, catalog)
    except RegistryError as exc:  # the build reports it, as its own error
        return Freshness(False, (f"unreadable ({exc.code}: {exc.message})",))
    recorded = record["inputs"]
    changed = sorted(
        name for name in now.keys() | recorded.keys() if now.get(name) != recorded.get(name)
    )
    changed.extend(_active_changes(workspace, record["active"]))
    last = {key: record[key] for key in ("dagster_run_id", "recorded_utc", "active")}
    return Freshness(not changed, tuple(changed), last)


def _active_changes(workspace: Workspace, allowed: Mapping[str, list[str]]) -> list[str]:
    """What a build would find about the active snapshots and refuse or repair: a problem of
    `registry pointers verify` (a journal the file does not follow, a pending change, a lost
    target), an active snapshot that is not one the last build left, or whose folder no longer
    passes inspection (the verdict cache the build trusts: any write to a file is seen)."""
    store = PointerStore(workspace)
    try:
        pointers = store.read()
        report = verify_workspace(workspace, store.journal_path, pointers, checkpoint=True)
    except RegistryError as exc:
        return [f"pointers ({exc.code})"]
    changes = [f"pointers ({problem.code})" for problem in report.problems]
    try:
        schemas = SchemaCatalog.for_workspace(workspace.root)
        with inspection_cache(workspace.verdicts_path):
            for registry_id, run_ids in sorted(allowed.items()):
                ref = pointers.active(registry_id)
                if (ref.run_id if ref else None) not in run_ids:
                    changes.append(f"active:{registry_id}")
                elif ref is not None and ref.run_id is not None:
                    folder = workspace.root / (ref.run_root or RUNS_RELPATH) / ref.run_id
                    if not inspect_run_folder(folder, schemas=schemas).ok:
                        changes.append(f"active:{registry_id} (fails inspection)")
    except RegistryError as exc:
        changes.append(f"active snapshots ({exc.code})")
    return changes


def build_inputs(workspace: Workspace) -> dict[str, Any]:
    """What a build about to run reads (to pass to `record_build` when it succeeded): the input
    digests and each pointer-enabled registry's active snapshot before it."""
    catalog = load_catalog(workspace)
    return {"inputs": current_inputs(workspace, catalog), "before": active_snapshots(workspace)}


def active_snapshots(workspace: Workspace) -> dict[str, str | None]:
    """The active snapshot (run id, or None) of each registry with a pointer."""
    pointers = PointerStore(workspace).read()
    return {
        spec.registry_id: ref.run_id if (ref := pointers.active(spec.registry_id)) else None
        for spec in load_catalog(workspace).registries
        if spec.active_pointer
    }


def record_build(
    workspace: Workspace,
    read: Mapping[str, Any],
    active: Mapping[str, Iterable[str | None]],
    dagster_run_id: str | None,
) -> None:
    """Record a successful build of the whole catalog: `read` from `build_inputs` (taken before
    it ran) and, per registry with a pointer, the snapshots that may be active while nothing
    changes (the one active after the build; or, while a promotion is still to come, the one
    before and the one the build made)."""
    document = {
        "format": FORMAT,
        "recorded_utc": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dagster_run_id": dagster_run_id,
        "inputs": dict(read["inputs"]),
        "active": {rid: sorted(set(ids), key=str) for rid, ids in sorted(active.items())},
    }
    path = require_safe(workspace.root, workspace.root / STATE_RELPATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(document, indent=1, sort_keys=True).encode(), durable=False)


def _load(workspace: Workspace) -> dict[str, Any] | None:
    path: Path = workspace.root / STATE_RELPATH
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    inputs, active = document.get("inputs"), document.get("active")
    if not isinstance(inputs, dict) or not isinstance(active, dict):
        return None
    if not all(isinstance(value, list) for value in active.values()):
        return None
    document.setdefault("dagster_run_id", None)
    document.setdefault("recorded_utc", None)
    return document
