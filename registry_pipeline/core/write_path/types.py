"""Registry types: the catalog entries `registry add-entry` can write, and where their entries
live (one file holding a list or a map, or one file per entry)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import PurePosixPath

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.workspace.catalog import CatalogError, RegistryCatalog, RegistrySpec
from registry_pipeline.core.workspace.sources import is_pattern, pattern_base

LAYOUTS = ("list", "map", "files", "log")
"""log: a run index (`core.run_index`): one record per JSONL line, read here, appended by
`registry runs append`, never written by `add-entry`."""


@dataclass(frozen=True)
class EntryType:
    """One writable registry type, read from a catalog entry's `entries` block."""

    name: str
    """What `--type` takes."""
    registry_id: str
    layout: str
    """list: an array of objects at `container`; map: an object at `container`; files: one
    entry per file of a glob, named after its key; log: a JSONL record log (read only here)."""
    source: str
    """The workspace-relative file (list, map) or glob (files)."""
    container: str
    """JSON pointer to the list or map in the file ("" is the document); "" for files."""
    key: str | None
    """The field identifying an entry (list; files, where it also names the file)."""
    order: str
    """key: a new entry goes to its place in key order; append: at the end."""
    schema: str | None
    """Workspace-relative JSON Schema of one entry; None: the file's own schema decides."""
    purpose: str
    schema_id: str

    @property
    def folder(self) -> str:
        """The folder of a files layout's glob."""
        return pattern_base(self.source)

    @property
    def suffix(self) -> str:
        """`.yaml`, `.yml` or `.json`: the format of the type's files."""
        return PurePosixPath(self.source).suffix

    @property
    def is_yaml(self) -> bool:
        """Whether the type's files are YAML."""
        return self.suffix in (".yaml", ".yml")

    def file_of(self, key: str) -> str:
        """The workspace-relative file an entry with `key` lives in."""
        if self.layout != "files":
            return self.source
        return f"{self.folder}/{key}{self.suffix}"


def entry_types(catalog: RegistryCatalog) -> dict[str, EntryType]:
    """Every writable type of the catalog by name; CATALOG_INVALID naming each problem."""
    types: dict[str, EntryType] = {}
    problems: list[str] = []
    for index, spec in enumerate(catalog.registries):
        if spec.entries is None and spec.run_index is None:
            continue
        entry_type, problem = _entry_type(spec) if spec.entries is not None else _log_type(spec)
        if entry_type is None:
            problems.append(f"/registries/{index}/entries: {problem}")
        elif entry_type.name in types:
            problems.append(f"/registries/{index}/entries/type: duplicate type {entry_type.name!r}")
        else:
            types[entry_type.name] = entry_type
    if problems:
        raise CatalogError(str(catalog.path), problems)
    return types


def entry_type(types: dict[str, EntryType], name: str) -> EntryType:
    """The type `name`; UNKNOWN_TYPE (exit 2) with a "did you mean" and the known types."""
    if name in types:
        return types[name]
    close = difflib.get_close_matches(name, sorted(types), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    known = ", ".join(sorted(types)) or "none (no catalog entry has an `entries` block)"
    raise UsageError(f"unknown type {name!r}; {hint}known: {known}", code="UNKNOWN_TYPE")


def _log_type(spec: RegistrySpec) -> tuple[EntryType, None]:
    """A run index as a type coordination rules can name: its records by key, the latest line
    of a key standing for it (the catalog check made sure it has one .jsonl source)."""
    block = spec.run_index
    return (
        EntryType(
            name=block.get("type", spec.registry_id),
            registry_id=spec.registry_id,
            layout="log",
            source=spec.sources[0],
            container="",
            key=block["key"],
            order="append",
            schema=None,
            purpose=block.get("purpose") or spec.description,
            schema_id=spec.schema_id,
        ),
        None,
    )


def _entry_type(spec: RegistrySpec) -> tuple[EntryType, None] | tuple[None, str]:
    block = spec.entries
    layout = block["layout"]
    sources = spec.sources
    if len(sources) != 1:
        return None, f"a writable registry has exactly one source, not {len(sources)}"
    source = sources[0]
    suffix = PurePosixPath(source).suffix
    if suffix not in (".json", ".yaml", ".yml"):
        return None, f"the source {source!r} must end in .json, .yaml or .yml"
    if layout == "files":
        name = PurePosixPath(source).name
        if not is_pattern(source) or name != f"*{suffix}" or is_pattern(pattern_base(source)):
            return None, f"layout files needs a source like 'folder/*{suffix}', not {source!r}"
    elif is_pattern(source):
        return None, f"layout {layout} needs one file as its source, not the glob {source!r}"
    if layout == "map" and suffix != ".json":
        return None, "layout map is written in JSON files only"
    schema = block.get("schema")
    if schema is not None and relpath_problem(schema):
        return None, f"schema {schema!r} {relpath_problem(schema)}"
    return (
        EntryType(
            name=block.get("type", spec.registry_id),
            registry_id=spec.registry_id,
            layout=layout,
            source=source,
            container=block.get("container", ""),
            key=block.get("key"),
            order=block.get("order", "key"),
            schema=block.get("schema"),
            purpose=block.get("purpose") or spec.description,
            schema_id=spec.schema_id,
        ),
        None,
    )
