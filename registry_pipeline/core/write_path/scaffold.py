"""`registry init --with-write-path`: seed 003's registry types; existing files are kept."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.fs import require_safe_all, write_atomic
from registry_pipeline.core.json_strict import dumps_pretty
from registry_pipeline.core.workspace.catalog import CATALOG_RELPATH, check_catalog
from registry_pipeline.core.workspace.layout import RUNS_RELPATH
from registry_pipeline.core.write_path.content import entry_types
from registry_pipeline.core.write_path.table import types_markdown

RULES_RELPATH = "registries/COORDINATION_v0_1.yaml"
SCHEMAS_DIR = ".system/registry/schemas"
AGENTS_RELPATH = ".system/registry/AGENTS.md"
DATA = resources.files(__package__) / "scaffold"
"""The package data: rules, entry schemas, types, the catalog's fixed part, templates."""
TYPES: list[dict[str, Any]] = json.loads((DATA / "types.json").read_bytes())
"""Seed 003's eight types: a YAML list at `container`, or (null) one `*.yaml` per entry."""


def scaffold_targets(root: Path) -> list[Path]:
    """Every file `scaffold` may write under `root`."""
    return [root / relpath for relpath in (*_files(), AGENTS_RELPATH, CATALOG_RELPATH)]


def require_placeable(root: Path, targets: list[Path]) -> None:
    """INIT_CONFLICT (exit 2) naming every path in the way, before anything is written."""
    conflicts: dict[Path, str] = {}
    for target in targets:
        if os.path.lexists(target) and not (target.is_file() and not target.is_symlink()):
            conflicts.setdefault(target, "a file must go there, but a folder or other is")
        for folder in (target.parent, *target.parent.parents):
            if os.path.lexists(folder) and not folder.is_dir():
                conflicts.setdefault(folder, f"a folder must go there (for {target.name})")
            if folder == root or not folder.is_relative_to(root):
                break
    if conflicts:
        listed = "; ".join(f"{path}: {why}" for path, why in conflicts.items())
        first = next(iter(conflicts))
        raise UsageError.of("INIT_CONFLICT", path=first, count=len(conflicts), listed=listed)


def scaffold(root: Path) -> tuple[list[str], list[str]]:
    """Write the registry types under `root`; one phrase per file made or kept. UNSAFE_PATH."""
    catalog = root / CATALOG_RELPATH
    if catalog.exists() or catalog.is_symlink():
        return [], [f"kept {CATALOG_RELPATH} (exists): no registry types added"]
    require_safe_all(root, scaffold_targets(root))
    created: list[str] = []
    kept: list[str] = []
    for relpath, data in _files().items():
        (created if _create(root / relpath, data) else kept).append(relpath)
    document = _catalog()
    checked = check_catalog(document, root, str(catalog))
    agents = types_markdown(checked, entry_types(checked)).encode("utf-8")
    last = {AGENTS_RELPATH: agents, CATALOG_RELPATH: dumps_pretty(document, sort_keys=False)}
    for relpath, data in last.items():
        (created if _create(root / relpath, data) else kept).append(relpath)
    return _said(created, kept)


def _files() -> dict[str, bytes]:
    """The rules, the schemas and the empty registries, by workspace-relative path."""
    files = {RULES_RELPATH: (DATA / "COORDINATION_v0_1.yaml").read_bytes()}
    for t in TYPES:
        name = f"{t['name']}.schema.yaml"
        files[f"{SCHEMAS_DIR}/{name}"] = (DATA / name).read_bytes()
    header = (DATA / "registry.yaml").read_text("utf-8")
    for t in TYPES:
        if t["container"] is None:
            files[f"{t['source'].rsplit('/', 1)[0]}/.gitkeep"] = b""
        else:
            given = {**t, "container": t["container"].strip("/"), "schemas": SCHEMAS_DIR}
            files[t["source"]] = header.format(**given).encode()
    return files


def _catalog() -> dict[str, Any]:
    """The catalog: its fixed part (the delta log last), one source registry per type."""
    document: dict[str, Any] = json.loads((DATA / "catalog.json").read_bytes())
    document["run_roots"] = [RUNS_RELPATH]
    document["registries"][-1]["depends_on"] = [t["name"] for t in TYPES]
    document["registries"][:0] = [_registry(t) for t in TYPES]
    return document


def _registry(t: dict[str, Any]) -> dict[str, Any]:
    entries = {"schema": f"{SCHEMAS_DIR}/{t['name']}.schema.yaml", "key": t["key"]}
    entries["layout"] = "files" if t["container"] is None else "list"
    if t["container"] is not None:
        entries["container"] = t["container"]
    entries["purpose"] = t["purpose"]
    return {
        "registry_id": t["name"],
        "schema_id": f"urn:registry-types:schema:{t['name']}",
        "schema_version": "0.1",
        "artifact_type": "json_snapshot",
        "description": t["purpose"],
        "write_policy": "mutable_pointer_only",
        "build_operation_id": None,
        "kind": "source",
        "artifacts": [t["source"].rsplit("/", 1)[1]],
        "depends_on": t["depends_on"],
        "active_pointer": True,
        "delta_log": {"covered": True},
        "sources": [t["source"]],
        "entries": entries,
    }


def _create(path: Path, data: bytes) -> bool:
    """Write `path` atomically unless something is there (False then): never replaced."""
    if path.exists() or path.is_symlink():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(path, data, replace=False)
    except FileExistsError:
        return False
    return True


def _said(created: list[str], kept: list[str]) -> tuple[list[str], list[str]]:
    """One phrase per file written (schemas, empty lists and folders grouped), one per kept."""
    schemas = [p for p in created if p.startswith(f"{SCHEMAS_DIR}/")]
    lists = [p for p in created if p.startswith("modules/overview/")]
    folders = [p.removesuffix(".gitkeep") for p in created if p.endswith("/.gitkeep")]
    said = [f"created {RULES_RELPATH}"] if RULES_RELPATH in created else []
    if schemas:
        said.append(f"created {len(schemas)} entry schema(s) in {SCHEMAS_DIR}/")
    if lists:
        said.append(f"created {len(lists)} empty registr(ies) in modules/overview/")
    if folders:
        said.append(f"created {len(folders)} folder(s) of one entry per file: {', '.join(folders)}")
    said.extend(f"created {p}" for p in (AGENTS_RELPATH, CATALOG_RELPATH) if p in created)
    return said, [f"kept {relpath} (exists)" for relpath in kept]
