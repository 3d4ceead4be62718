"""What a build reads, as digests of file identities: the question "did anything change?" cheaply.

Each input is named (`tool`, `catalog`, `coordination`, `schemas`, `source:<registry id>`) and
summarized as the SHA-256 of the sorted (relpath, type, size, mtime, ctime, inode) of its files,
as git's index and make do: no file is read. Any write to a file changes its ctime, which user
space cannot set back, so an edit, a `touch`, a copy over or a replaced folder is always a
change; a change that leaves the bytes equal costs one build that finds nothing to do (the
settled-source path) and is recorded as the new fixed point. The schemas are compared by
content (`SchemaCatalog.fingerprint`, bound files outside `schemas/` included).

The run folders are listed one by one (`run_folders`): each by the identities of every file in
it, as the run registry's reuse path fingerprints them, so an edit to any indexed folder is seen.
Which new folders are outputs rather than inputs is `state.record_build`'s to say.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from registry_pipeline._version import __version__
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import is_pattern, pattern_base

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
            listing[run_root] = {}
            continue
        listing[run_root] = {
            entry.name: _digest([_identity(entry.path), *_tree(Path(entry.path))])
            for entry in entries
        }
    return listing


def is_own(name: str, registry_ids: set[str]) -> bool:
    """Whether a run folder is named as a snapshot of one of these registries (the catalog's)."""
    return registry_of(name) in registry_ids


def _source_entries(root: Path, spec: RegistrySpec) -> list[tuple[object, ...]]:
    """The identities of everything a source's entries can read: a file, a folder's tree, or
    the whole folder a glob looks in (a file it leaves out is reported, so it counts too)."""
    entries: list[tuple[object, ...]] = []
    for source in spec.sources:
        path = root / (pattern_base(source) if is_pattern(source) else source)
        entries.append((source,))
        entries.extend(_tree(path) if path.is_dir() else _files(root, [path]))
    return entries


def _tree(folder: Path, *, code_only: bool = False) -> list[tuple[object, ...]]:
    """(relpath, identity) of every file under `folder`, in a stable order; `code_only` keeps
    Python sources and JSON data and skips bytecode caches (they change without a code change)."""
    found: list[tuple[object, ...]] = []
    _walk(str(folder), "", code_only, found)
    return found or [("empty or absent",)]


def _walk(folder: str, prefix: str, code_only: bool, found: list[tuple[object, ...]]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        relpath = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            if not (code_only and entry.name == "__pycache__"):
                _walk(entry.path, relpath + "/", code_only, found)
        elif not code_only or entry.name.endswith((".py", ".json")):
            found.append((relpath, *_identity(entry.path)))


def _files(root: Path, paths: Iterable[Path]) -> list[tuple[object, ...]]:
    return [(_relative(root, path), *_identity(path)) for path in paths]


def _identity(path: str | Path) -> tuple[object, ...]:
    """Type, size, mtime, ctime and inode of `path` itself (a symlink is not followed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return ("absent",)
    kind = "d" if stat.S_ISDIR(info.st_mode) else "f" if stat.S_ISREG(info.st_mode) else "other"
    if kind == "d":  # a folder's own times change with its entries, which are listed anyway
        return (kind,)
    return (kind, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _digest(entries: Iterable[tuple[object, ...]]) -> str:
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(repr(entry).encode("utf-8", "surrogateescape"))
        hasher.update(b"\n")
    return hasher.hexdigest()
