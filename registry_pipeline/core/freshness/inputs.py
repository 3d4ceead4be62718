"""What a build reads, as digests of file identities: the question "did anything change?" cheaply.

Each input is named (`tool`, `catalog`, `coordination`, `schemas`, `source:<registry id>`,
`runs:<run root>`) and summarized as the SHA-256 of the sorted (relpath, type, size, mtime,
ctime, inode) of its files, as git's index and make do: no file is read. Any write to a file
changes its ctime, which user space cannot set back, so an edit, a `touch`, a copy over or a
replaced folder is always a change; a change that leaves the bytes equal costs one build that
finds nothing to do (the settled-source path) and is recorded as the new fixed point.

A run root's own folders are the pipeline's outputs, not its inputs: a folder named as a snapshot
of one of the catalog's registries (`<time>__<registry id>_build`) is left out of `runs:*`, so the
folders a build seals never make the next build necessary. Every other run folder (evidence runs,
a day of drift signals, an adopted repository's seal-promotion folders) is an input.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from registry_pipeline._version import __version__
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256, RUN_JSON
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.seal.schemas import builtin_schema_dir
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import is_pattern, pattern_base

PACKAGE = Path(__file__).resolve().parents[2]
"""The installed `registry_pipeline` package: its code is the tool, and an input."""

SEAL_FILES = (RUN_JSON, MANIFEST_JSON, MANIFEST_SHA256)


def current_inputs(workspace: Workspace, catalog: RegistryCatalog) -> dict[str, str]:
    """Every input of a build of `catalog` in `workspace`, by name, as a digest."""
    root = workspace.root
    items = {
        "tool": _digest([("version", __version__), *_tree(PACKAGE, code_only=True)]),
        "catalog": _digest(_files(root, [catalog.path])),
        "schemas": _digest([*_tree(workspace.schemas_dir), *_tree(builtin_schema_dir())]),
    }
    if catalog.coordination is not None:
        items["coordination"] = _digest(_files(root, [root / catalog.coordination]))
    for spec in catalog.registries:
        if spec.is_source:
            items[f"source:{spec.registry_id}"] = _digest(_source_entries(root, spec))
    own = set(catalog.ids)
    for run_root in catalog.run_roots:
        items[f"runs:{run_root}"] = _digest(_run_folders(root / run_root, own))
    return items


def _source_entries(root: Path, spec: RegistrySpec) -> list[tuple[object, ...]]:
    """The identities of everything a source's entries can read: a file, a folder's tree, or
    the whole folder a glob looks in (a file it leaves out is reported, so it counts too)."""
    entries: list[tuple[object, ...]] = []
    for source in spec.sources:
        path = root / (pattern_base(source) if is_pattern(source) else source)
        entries.append((source,))
        entries.extend(_tree(path) if path.is_dir() else _files(root, [path]))
    return entries


def _run_folders(run_root: Path, own: set[str]) -> list[tuple[object, ...]]:
    """The run folders under `run_root` that are not the pipeline's own snapshots, each by its
    name and the identities of its seal files (what the run registry's reuse path looks at)."""
    try:
        names = sorted(
            entry.name for entry in os.scandir(run_root) if not entry.name.startswith(".")
        )
    except FileNotFoundError:
        return [("absent",)]
    except NotADirectoryError:
        return [("not a folder",)]
    entries: list[tuple[object, ...]] = []
    for name in names:
        if registry_of(name) in own:
            continue
        folder = run_root / name
        entries.append((name, *_identity(folder)))
        if stat.S_ISDIR(_mode(folder)):
            entries.extend((name, seal, *_identity(folder / seal)) for seal in SEAL_FILES)
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


def _mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


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
