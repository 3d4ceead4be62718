"""Whether `registry build` has anything to do: one decision for the CLI, the schedule and sensor.

A successful build of the whole catalog records what it read (`build_inputs`, taken before it
ran) and what it left: each run folder, each registry's active snapshot and whether it is held.
The workspace is up to date while:
- every input has the recorded digest (`inputs.current_inputs`);
- the run folders are the recorded ones, each unchanged; the folders named as snapshots of the
  catalog's registries that exist when the build is recorded are its outputs and are recorded
  with it, so the build's own folders never make the next build necessary, while any other new,
  changed or removed folder does;
- the pointer history verifies as a build verifies it first (a hand edit, a pending change, a
  lost target is a change), each active snapshot is the one recorded and still passes
  inspection through the build's verdict cache, and no hold was placed or released since.
The record is a cache (`.codex/cache/last_build.json`): unreadable, absent or a symlink means
"build". It only ever lets a build be skipped; nothing that publishes reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.freshness.inputs import current_inputs, is_own, run_folders
from registry_pipeline.core.fs import write_atomic
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder, inspection_cache
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.safe_write import require_safe

STATE_RELPATH = ".codex/cache/last_build.json"
FORMAT = "registry-last-build-2"
RECORDED = ("inputs", "folders", "active", "held")


@dataclass(frozen=True)
class Freshness:
    """The answer: up to date or not, and why."""

    up_to_date: bool
    changed: tuple[str, ...] = ()
    """What differs from the last successful build (`source:rolepack`, `runs:.codex/RUNS (1
    new)`, `active:drift_signals`, `held:rolepack`, `no successful build recorded`, ...)."""
    last_build: Mapping[str, Any] = field(default_factory=dict)
    """The record of the last successful build: `dagster_run_id`, `recorded_utc`, `active`."""

    def as_json(self) -> dict[str, Any]:
        """The object `registry build --json` prints for an up-to-date workspace."""
        last = dict(self.last_build)
        return {"up_to_date": self.up_to_date, "changed": list(self.changed), "last_build": last}

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
        folders = run_folders(workspace, catalog)
    except RegistryError as exc:  # the build reports it, as its own error
        return Freshness(False, (f"unreadable ({exc.code}: {exc.message})",))
    recorded = record["inputs"]
    changed = sorted(k for k in now.keys() | recorded.keys() if now.get(k) != recorded.get(k))
    changed.extend(_folder_changes(folders, record["folders"]))
    changed.extend(_active_changes(workspace, catalog, record["active"], record["held"]))
    last = {key: record.get(key) for key in ("dagster_run_id", "recorded_utc", "active")}
    return Freshness(not changed, tuple(changed), last)


def _folder_changes(
    now: Mapping[str, Mapping[str, str]], recorded: Mapping[str, Mapping[str, str]]
) -> list[str]:
    changes = []
    for run_root in sorted(now.keys() | recorded.keys()):
        here, then = now.get(run_root, {}), recorded.get(run_root, {})
        counts = {
            "new": len(here.keys() - then.keys()),
            "changed": sum(1 for name in here.keys() & then.keys() if here[name] != then[name]),
            "gone": len(then.keys() - here.keys()),
        }
        if any(counts.values()):
            said = ", ".join(f"{count} {what}" for what, count in counts.items() if count)
            changes.append(f"runs:{run_root} ({said})")
    return changes


def _active_changes(
    workspace: Workspace,
    catalog: RegistryCatalog,
    allowed: Mapping[str, list[str | None]],
    held: Mapping[str, bool],
) -> list[str]:
    """What a build would find about the active snapshots and refuse, repair or promote: a
    problem of `registry pointers verify`, an active snapshot other than the recorded one or
    failing inspection (the build's verdict cache: any write to a file is seen), a registry
    with a pointer that the record does not know, a hold placed or released."""
    store = PointerStore(workspace)
    try:
        pointers = store.read()
        report = store.verified(pointers, checkpoint=True, admit=admission)
        changes = [f"pointers ({problem.code})" for problem in report.problems]
        schemas = SchemaCatalog.for_workspace(workspace.root)
        with_pointer = [spec.registry_id for spec in catalog.registries if spec.active_pointer]
        with inspection_cache(workspace.verdicts_path):
            for registry_id in with_pointer:
                ref = pointers.active(registry_id)
                run_id = ref.run_id if ref else None
                if registry_id not in allowed or run_id not in allowed[registry_id]:
                    changes.append(f"active:{registry_id}")
                elif ref is not None and run_id is not None:
                    folder = workspace.root / (ref.run_root or RUNS_RELPATH) / run_id
                    if not inspect_run_folder(folder, schemas=schemas).ok:
                        changes.append(f"active:{registry_id} (fails inspection)")
                if (store.held(registry_id) is not None) != held.get(registry_id):
                    changes.append(f"held:{registry_id}")
    except RegistryError as exc:
        return [f"pointers ({exc.code})"]
    return changes


def build_inputs(workspace: Workspace) -> dict[str, Any]:
    """What a build about to run reads (to pass to `record_build` when it succeeded): the input
    digests, the run folders and each registry's active snapshot before it."""
    catalog = load_catalog(workspace)
    return {
        "inputs": current_inputs(workspace, catalog),
        "folders": run_folders(workspace, catalog),
        "before": active_snapshots(workspace),
    }


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
    it ran), with the registries' own folders as they are now (its outputs), and per registry
    with a pointer the snapshot that is active while nothing changes and whether it is held.
    UNSAFE_PATH (nothing written) when a symlink is on the way to the record."""
    catalog = load_catalog(workspace)
    folders = {root: dict(listing) for root, listing in read["folders"].items()}
    ids = set(catalog.ids)
    for run_root, listing in run_folders(workspace, catalog).items():
        own = {name: digest for name, digest in listing.items() if is_own(name, ids)}
        folders.setdefault(run_root, {}).update(own)
    store = PointerStore(workspace)
    document = {
        "format": FORMAT,
        "recorded_utc": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dagster_run_id": dagster_run_id,
        "inputs": dict(read["inputs"]),
        "folders": folders,
        "active": {rid: sorted(set(ids), key=str) for rid, ids in sorted(active.items())},
        "held": {rid: store.held(rid) is not None for rid in sorted(active)},
    }
    path = require_safe(workspace.root, workspace.root / STATE_RELPATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(document, indent=1, sort_keys=True).encode(), durable=False)


def _load(workspace: Workspace) -> dict[str, Any] | None:
    try:
        path: Path = require_safe(workspace.root, workspace.root / STATE_RELPATH)
        document = json.loads(path.read_bytes())
    except (RegistryError, OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    if not all(isinstance(document.get(key), dict) for key in RECORDED):
        return None
    if not all(isinstance(value, list) for value in document["active"].values()):
        return None
    return document
