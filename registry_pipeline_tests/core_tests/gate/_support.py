"""A build of source registries in the core's terms (seal, check, promote the set), no Dagster."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry_pipeline.core.append_only.baseline import governed_files
from registry_pipeline.core.gate.gate import admission, evaluate, record, sealed_together
from registry_pipeline.core.gate.receipts import Receipt, ReceiptStore
from registry_pipeline.core.pointers.store import Move, PointerStore, pointer_relpath
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline.core.workspace.sources import source_paths
from registry_pipeline_tests._helpers import reseal

PERSON = {"kind": "cli_user", "id": "tester@host"}
BUILD = {"kind": "dagster_run", "id": "test-build"}
ROLEPACK = "registries/rolepack/atelier_rolepack_v1.json"
PACKS = "registries/threshold_packs"
OPERATIONS = "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
DEMO_SOURCES = ("rolepack", "threshold_packs_file", "allowed_operations", "expected_versions")
"""The demo's source registries these tests move (run_index and the others stay unbuilt)."""


def seal(root: Path, registry_id: str) -> Path:
    """A snapshot of `registry_id`'s sources as they are now, sealed as its source asset seals."""
    workspace = Workspace(root)
    spec = load_catalog(workspace).get(registry_id)
    files = source_paths(root, spec.sources, spec.kind).files
    governed = governed_files(workspace, spec, files, SchemaCatalog.for_workspace(root))
    return seal_files(RunStore(workspace), RunSpec(registry_id=registry_id), governed.files).path


def check(
    root: Path, registry_id: str, folder: Path, pinned: Mapping[str, Path] | None = None
) -> Receipt:
    """The gate's checks on `folder`, recorded as a build's step records them."""
    workspace, sealed = Workspace(root), read_snapshot(folder, registry_id)
    verdicts = evaluate(workspace, registry_id, folder, pinned)
    return record(workspace, registry_id, folder, str(sealed.root_sha256), verdicts, BUILD)


def build(root: Path, *registry_ids: str) -> dict[str, tuple[str, str]]:
    """Each registry's new snapshot and outcome: promoted, failed (checks) or the refusal's code."""
    workspace, store = Workspace(root), PointerStore(Workspace(root))
    store.require_intact(admit=admission)  # its first step: nothing built on a broken history
    sealed = {rid: seal(root, rid) for rid in registry_ids}
    pinned = {rid: folder for rid, folder in sealed.items() if store.held(rid) is None}
    passed = {
        rid: folder
        for rid, folder in sealed.items()
        if check(root, rid, folder, {k: v for k, v in pinned.items() if k != rid}).passed
    }
    catalog = load_catalog(workspace)
    moves = [Move(rid, folder.name, pointer_relpath(catalog.get(rid).kind,
                                                    catalog.get(rid).artifacts))
             for rid, folder in passed.items()]  # fmt: skip
    admit = functools.partial(admission, pinned=sealed_together(workspace, passed))
    outcomes = store.promote_set(moves, reason="a build", actor=BUILD, admit=admit)
    said = {o.registry_id: o.refusal.code if o.refusal else "promoted" for o in outcomes}
    return {rid: (folder.name, said.get(rid, "failed")) for rid, folder in sealed.items()}


def move(root: Path, action: str, registry_id: str, run_id: str) -> None:
    """`registry pointers promote` (or `rollback`) of `run_id` by a person, through the gate."""
    spec = load_catalog(Workspace(root)).get(registry_id)
    getattr(PointerStore(Workspace(root)), action)(
        registry_id, run_id, relpath=pointer_relpath(spec.kind, spec.artifacts), reason="by hand",
        actor=PERSON, admit=admission,
    )  # fmt: skip


def active(root: Path, registry_id: str) -> str | None:
    """The run id the pointer file names for `registry_id`."""
    ref = PointerStore(Workspace(root)).read().active(registry_id)
    return ref.run_id if ref else None


def failures(root: Path, run_id: str, registry_id: str) -> dict[str, list[str]]:
    """The failed checks of the receipts of snapshot `run_id`, with their reason codes."""
    root_sha256 = read_snapshot(Workspace(root).runs_dir / run_id, registry_id).root_sha256
    return {str(check["name"]): list(check.get("reason_codes") or [])
            for receipt in ReceiptStore(Workspace(root)).verdicts(root_sha256).receipts
            for check in receipt.checks if not check.get("passed")}  # fmt: skip


def edit_json(path: Path, change: Any) -> None:
    """`path`'s JSON document after `change(document)` (which edits it in place)."""
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2) + "\n")


def point_by_hand(root: Path, registry_id: str, run_id: str | None, **ref: str) -> bytes:
    """The pointer file edited by hand to snapshot `run_id`, or `ref`'s fields; its bytes before."""
    path = PointerStore(Workspace(root)).pointers_path
    before = path.read_bytes()
    if run_id is not None:
        sealed = read_snapshot(Workspace(root).runs_dir / run_id, registry_id)
        ref.update(run_id=run_id, manifest_sha256=str(sealed.root_sha256))

    def repoint(document: dict[str, Any]) -> None:
        for pointer in document["pointers"]:
            if pointer["registry_id"] == registry_id:
                pointer["active_ref"].update(ref)

    edit_json(path, repoint)
    return before


def dated_copy(
    root: Path, run_id: str, new_run_id: str, created_utc: str, registry_id: str = "alpha"
) -> str:
    """A checked copy of folder `run_id` named `new_run_id`, dated `created_utc`, resealed."""
    runs = Workspace(root).runs_dir
    folder = runs / new_run_id
    folder.mkdir()
    for item in (runs / run_id).iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    edit_json(folder / "run.json", lambda d: d.update(run_id=new_run_id, created_utc=created_utc))
    reseal(folder)
    check(root, registry_id, folder)
    return new_run_id
