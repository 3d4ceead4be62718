"""Whether `registry build` has anything to do, one decision; see docs/ASSET_GRAPH.md."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline._version import __version__
from registry_pipeline.core.errors import RegistryError, io_error
from registry_pipeline.core.fs import file_stamp, write_atomic
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.gate.receipts import ReceiptStore
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.pointers.targets import target_verdict
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.run_id import RUN_ID_STAMP, created_moment, now_utc, registry_of
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspection_cache
from registry_pipeline.core.verified import Verified, read_cache
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import CLOCK_SKEW
from registry_pipeline.core.workspace.sources import is_pattern, pattern_base, workspace_relpath

STATE_RELPATH = ".codex/cache/last_build.json"
PENDING_RELPATH = ".codex/cache/build_inputs"
"""What each build of the whole catalog read, kept until its promotion records it."""
MAX_PENDING = 256 << 20
VERSION = "registry-last-build-3"
RECORDED = ("inputs", "folders", "active", "held")
BUILT = "build"
"""The check a recorded build passed: a successful build of the whole catalog."""


@dataclass(frozen=True)
class Freshness:
    """The answer: up to date or not, and why."""

    up_to_date: bool
    changed: tuple[str, ...] = ()
    """What differs from the last successful build (`source:rolepack`, `held:rolepack`, ...)."""
    last_build: Mapping[str, Any] = field(default_factory=dict)
    """The record of the last successful build: `dagster_run_id`, `recorded_utc`, `active`."""

    @property
    def not_active(self) -> dict[str, str]:
        """Registry -> why the last build's snapshot of it is not the active one (`HELD: ...`):
        what "up to date" says beside, so an edit refused is never taken for one applied."""
        found = self.last_build.get("not_active")
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def as_json(self) -> dict[str, Any]:
        """The object `registry build --json` prints for an up-to-date workspace."""
        last = dict(self.last_build)
        return {"up_to_date": self.up_to_date, "changed": list(self.changed), "last_build": last,
                "not_active": self.not_active}  # fmt: skip

    def summary(self) -> str:
        """One line for a terminal or a skip reason."""
        if self.up_to_date:
            run = self.last_build.get("dagster_run_id") or "no dagster run"
            refused = "; ".join(f"{rid}: {why}" for rid, why in sorted(self.not_active.items()))
            return (
                f"up to date: nothing changed since the last successful build ({run}, "
                f"{self.last_build.get('recorded_utc')}); `registry build --force` rebuilds"
                + (f"; not active, as that build left them: {refused}" if refused else "")
            )
        return "changed since the last successful build: " + ", ".join(self.changed)


def up_to_date(workspace: Workspace, catalog: RegistryCatalog | None = None) -> Freshness:
    """Whether a build of the whole catalog would have nothing to do (see the module)."""
    loaded = _load(workspace)
    if loaded is None:
        return Freshness(False, ("no successful build recorded",))
    key, record = loaded
    try:
        catalog = catalog or load_catalog(workspace)
        now = current_inputs(workspace, catalog)
        folders = run_folders(workspace, catalog)
    except RegistryError as exc:  # the build reports it, as its own error
        return Freshness(False, (f"unreadable ({exc.code}: {exc.message})",))
    changed: list[str] = []
    if fingerprint(now, folders) != key:  # else the inputs and folders are the recorded ones
        recorded = record["inputs"]
        changed = sorted(k for k in now.keys() | recorded.keys() if now.get(k) != recorded.get(k))
        changed.extend(_folder_changes(folders, record["folders"]))
    changed.extend(_come_due(folders, record.get("started_utc") or record.get("recorded_utc")))
    changed.extend(_active_changes(workspace, catalog, record["active"], record["held"]))
    kept = ("dagster_run_id", "recorded_utc", "active", "not_active")
    last = {name: record.get(name) for name in kept if name in record}
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


def _come_due(folders: Mapping[str, Mapping[str, str]], recorded: object) -> list[str]:
    """Folders future-dated at the recorded build whose date has come: a build reads them now."""
    then = created_moment(recorded)
    if then is None:
        return []
    low, high = (f"{moment + CLOCK_SKEW:%Y-%m-%d__%H%M%S}" for moment in (then, now_utc()))
    return [
        f"runs:{run_root} ({name} is no longer dated in the future)"
        for run_root, listing in sorted(folders.items())
        for name in sorted(listing)
        if low < name[:18] <= high and RUN_ID_STAMP.match(name)
    ]


def _active_changes(
    workspace: Workspace,
    catalog: RegistryCatalog,
    allowed: Mapping[str, list[str | None]],
    held: Mapping[str, bool],
) -> list[str]:
    """What a build would refuse, repair or promote against the recorded pointers and holds."""
    store = PointerStore(workspace)
    try:
        pointers = store.read()
        report = store.verified(pointers, checkpoint=True, admit=admission)
        changes = [f"pointers ({problem.code})" for problem in report.problems]
        schemas = SchemaCatalog.for_workspace(workspace.root)
        with_pointer = [spec.registry_id for spec in catalog.registries if spec.active_pointer]
        receipts = ReceiptStore(workspace)
        with inspection_cache(workspace.root):
            for registry_id in with_pointer:
                ref = pointers.active(registry_id)
                run_id = ref.run_id if ref else None
                if registry_id not in allowed or run_id not in allowed[registry_id]:
                    changes.append(f"active:{registry_id}")
                elif (
                    ref is not None and not target_verdict(workspace, registry_id, ref, schemas).ok
                ):  # the one verdict `validate --active` prints
                    changes.append(f"active:{registry_id} (fails inspection)")
                holds = store.held(registry_id) is not None
                if holds != held.get(registry_id):
                    changes.append(f"held:{registry_id}")
                elif ref is not None and not holds and receipts.verdicts(ref.root).failed:
                    changes.append(f"active:{registry_id} (a failed receipt)")  # the gate's no

    except RegistryError as exc:
        return [f"pointers ({exc.code})"]
    return changes


def build_inputs(workspace: Workspace) -> dict[str, Any]:
    """What a build about to run reads, for `record_build` once it succeeded."""
    catalog = load_catalog(workspace)
    return {
        "started_utc": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "inputs": current_inputs(workspace, catalog),
        "folders": run_folders(workspace, catalog),
        "before": active_snapshots(workspace),
    }


def stash_inputs(workspace: Workspace, dagster_run_id: str, read: Mapping[str, Any]) -> None:
    """Keep what build `dagster_run_id` read (`build_inputs`) until its promotion records it."""
    path = workspace.root / PENDING_RELPATH / f"{dagster_run_id}.json"
    workspace.require_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(read, sort_keys=True).encode())
    except OSError as exc:
        failed = io_error(exc, path, done="the build did not start")
        raise RegistryError(f"cannot keep what the build read: {failed.message}",
                            code=failed.code, path=failed.path) from None  # fmt: skip


def stashed_inputs(workspace: Workspace, dagster_run_id: str) -> dict[str, Any] | None:
    """What build `dagster_run_id` read, if it kept it (a build of the whole catalog), else None."""
    # a torn, foreign, oversize file or a FIFO: the build is not recorded, the next one runs
    read = read_cache(workspace.root / PENDING_RELPATH / f"{dagster_run_id}.json", MAX_PENDING)
    if not isinstance(read, dict) or not isinstance(read.get("inputs"), dict):
        return None
    return read if _listings(read.get("folders")) else None


def stashed_runs(workspace: Workspace) -> list[str]:
    """The build runs whose reads are kept (`stash_inputs`), unrecorded yet."""
    try:
        entries = list(os.scandir(workspace.root / PENDING_RELPATH))
    except OSError:
        return []
    return sorted(e.name[: -len(".json")] for e in entries if e.name.endswith(".json"))


def drop_stashed(workspace: Workspace, dagster_run_ids: Iterable[str]) -> None:
    """Forget what these builds read: recorded, or superseded by a recorded later build;
    UNSAFE_PATH (nothing removed) where the folder leads out of the workspace."""
    paths = [workspace.root / PENDING_RELPATH / f"{run_id}.json" for run_id in dagster_run_ids]
    workspace.require_writable(*paths)
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


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
    not_active: Mapping[str, str] | None = None,
) -> None:
    """Record a successful build of the whole catalog, with why any snapshot it sealed is not
    active (`not_active`: registry -> `CODE: reason`); UNSAFE_PATH (no write) at a symlink."""
    catalog = load_catalog(workspace)
    folders = {root: dict(listing) for root, listing in read["folders"].items()}
    ids = set(catalog.ids)
    for run_root, listing in run_folders(workspace, catalog).items():
        own = {name: digest for name, digest in listing.items() if registry_of(name) in ids}
        folders.setdefault(run_root, {}).update(own)
    store = PointerStore(workspace)
    record: dict[str, Any] = {
        "recorded_utc": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started_utc": read.get("started_utc"),
        "dagster_run_id": dagster_run_id,
        "inputs": dict(read["inputs"]),
        "folders": folders,
        "active": {rid: sorted(set(ids), key=str) for rid, ids in sorted(active.items())},
        "held": {rid: store.held(rid) is not None for rid in sorted(active)},
        "not_active": dict(sorted((not_active or {}).items())),
    }
    cache = Verified(workspace.root, STATE_RELPATH, version=VERSION, latest=True)
    cache.put(fingerprint(record["inputs"], folders), [BUILT], record)
    cache.save()


def recorded_run(workspace: Workspace) -> str | None:
    """The Dagster run id of the last recorded build, if one is recorded."""
    loaded = _load(workspace)
    run_id = loaded[1].get("dagster_run_id") if loaded is not None else None
    return run_id if isinstance(run_id, str) else None


def fingerprint(inputs: Mapping[str, Any], folders: Mapping[str, Any]) -> str:
    """The SHA-256 of a build's input digests and run folders: the record's key."""
    text = json.dumps({"inputs": inputs, "folders": folders}, sort_keys=True)
    return sha256_bytes(text.encode())


def _load(workspace: Workspace) -> tuple[str, Mapping[str, Any]] | None:
    """The last successful build's key and record, or None when there is none readable."""
    try:
        last = Verified(workspace.root, STATE_RELPATH, version=VERSION, latest=True).last()
    except RegistryError:  # UNSAFE_PATH: a record read from elsewhere is not ours
        return None
    if last is None or BUILT not in last[1].checks:
        return None
    key, record = last[0], last[1].payload
    if not all(isinstance(record.get(name), dict) for name in RECORDED):
        return None
    if not all(isinstance(value, list) for value in record["active"].values()):
        return None
    return (key, record) if _listings(record["folders"]) else None


def _listings(folders: object) -> bool:
    """Whether a kept `folders` is what `run_folders` gives: run root -> {folder: digest}."""
    return isinstance(folders, dict) and all(isinstance(v, dict) for v in folders.values())


PACKAGE = Path(__file__).resolve().parents[2]
"""The installed `registry_pipeline` package: its code is the tool, and an input."""


def current_inputs(workspace: Workspace, catalog: RegistryCatalog) -> dict[str, str]:
    """Every input of a build of `catalog` in `workspace` but the run folders, by name."""
    root = workspace.root
    items = {
        "tool": _digest([("version", __version__), *_tree(PACKAGE, code_only=True)]),
        "catalog": _digest(_files(root, [catalog.path])),
        "schemas": SchemaCatalog.for_workspace(root).fingerprint,
    }
    if catalog.coordination is not None:
        items["coordination"] = _digest(_files(root, [root / catalog.coordination]))
    for spec in catalog.registries:
        if spec.is_source:
            items[f"source:{spec.registry_id}"] = _digest(_source_entries(root, spec))
    return items


def run_folders(workspace: Workspace, catalog: RegistryCatalog) -> dict[str, dict[str, str]]:
    """Each run root's folders (dot-folders aside), by name: the digest of every file in it."""
    listing: dict[str, dict[str, str]] = {}
    for run_root in catalog.run_roots:
        folder = str(workspace.root / run_root)
        try:
            entries = [entry for entry in os.scandir(folder) if not entry.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        listing[run_root] = {
            entry.name: _digest([_identity(entry.path), *_tree(Path(entry.path))])
            for entry in entries
        }
    return listing


def _source_entries(root: Path, spec: RegistrySpec) -> list[tuple[object, ...]]:
    """The identities of everything a source's entries can read (a glob: its whole folder)."""
    entries: list[tuple[object, ...]] = []
    for source in spec.sources:
        path = root / (pattern_base(source) if is_pattern(source) else source)
        entries.append((source,))
        entries.extend(_tree(path) if path.is_dir() else _files(root, [path]))
    return entries


def _tree(folder: Path, *, code_only: bool = False) -> list[tuple[object, ...]]:
    """(relpath, identity) of every file under `folder`, stably; `code_only`: sources only."""
    return list(_walk(str(folder), "", code_only)) or [("empty or absent",)]


def _walk(folder: str, prefix: str, code_only: bool) -> Iterator[tuple[object, ...]]:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        relpath = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            if not (code_only and entry.name == "__pycache__"):
                yield from _walk(entry.path, relpath + "/", code_only)
        elif not code_only or entry.name.endswith((".py", ".json")):
            yield (relpath, *_identity(entry.path))


def _files(root: Path, paths: Iterable[Path]) -> list[tuple[object, ...]]:
    return [(workspace_relpath(root, path), *_identity(path)) for path in paths]


def _identity(path: str | Path) -> tuple[object, ...]:
    """Type and `file_stamp` of `path` itself (a symlink is not followed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return ("absent",)
    if stat.S_ISDIR(info.st_mode):  # a folder's own times change with its entries, listed anyway
        return ("d",)
    return ("f" if stat.S_ISREG(info.st_mode) else "other", *file_stamp(info))


def _digest(entries: Iterable[tuple[object, ...]]) -> str:
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(repr(entry).encode("utf-8", "surrogateescape"))
        hasher.update(b"\n")
    return hasher.hexdigest()
