"""A registry type's current entries, read from its files' bytes (the workspace's, or a sealed
snapshot's: the same function reads both)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import ReasonCode
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.workspace.sources import SourceError, read_source_files
from registry_pipeline.core.write_path.findings import Finding
from registry_pipeline.core.write_path.log_content import log_content
from registry_pipeline.core.write_path.type_content import Entry, ParsedFile, TypeContent
from registry_pipeline.core.write_path.types import EntryType
from registry_pipeline.core.yaml_io import parse_yaml

__all__ = ["Entry", "ParsedFile", "TypeContent", "content_of", "parse_file", "read_type"]


def parse_file(relpath: str, data: bytes, container: str | None = None) -> ParsedFile:
    """The strict parse of one registry file (JSON or YAML by its suffix); JSONDecodeProblem
    (YAMLDecodeProblem for YAML) when it does not parse. With `container`, a YAML list there
    gets its items' line spans."""
    if not relpath.endswith((".yaml", ".yml")):
        return ParsedFile(data, loads_strict(data))
    parsed = parse_yaml(data)
    spans = None
    if container is not None and parsed.node is not None:
        spans = _item_spans(parsed.node, container, data)
    return ParsedFile(data, parsed.value, spans)


def resolve(document: Any, pointer: str) -> Any:
    """The value at JSON pointer `pointer`; KeyError when absent."""
    current = document
    for part in _parts(pointer):
        if isinstance(current, dict):
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(part)
    return current


Parse = Callable[[str, bytes, "str | None"], "ParsedFile"]
"""How a file is parsed: `parse_file`, or the cached parse of `write_path.cache`."""


def read_type(root: Path, entry_type: EntryType, parse: Parse | None = None) -> TypeContent:
    """The type's entries as its files in the workspace hold them now."""
    try:
        files = read_source_files(root, [entry_type.source]).files
    except SourceError as exc:
        if all(p.code == ReasonCode.MISSING_FILE for p in exc.details):
            files = {}  # no entry yet: the first add-entry creates the file
        else:
            raise
    return content_of(entry_type, files, parse)


def content_of(
    entry_type: EntryType, files: Mapping[str, bytes], parse: Parse | None = None
) -> TypeContent:
    """The type's entries from its files (relpath as sealed -> bytes): the one reader of the
    write path and of the build's blocking check (which parses every file: no cache)."""
    if entry_type.layout == "log":  # one reader of record logs, streamed or not
        return log_content(entry_type, files.values())
    content = TypeContent(entry_type)
    for relpath, data in sorted(files.items()):
        path = (
            f"{entry_type.folder}/{relpath}" if entry_type.layout == "files" else entry_type.source
        )
        container = entry_type.container if entry_type.layout == "list" else None
        try:
            parsed = (parse or parse_file)(path, data, container)
        except JSONDecodeProblem as exc:
            found = _problem(entry_type, None, "", exc.message, path, exc.code)
            content.problems.append(replace(found, line=exc.line, column=exc.column))
            continue
        content.files[path] = parsed
        if entry_type.layout == "files":
            _file_entry(content, path, parsed.document)
        else:
            _container_entries(content, path, parsed.document)
    return content


def _file_entry(content: TypeContent, path: str, document: Any) -> None:
    entry_type = content.type
    stem = Path(path).name[: -len(entry_type.suffix)]
    if entry_type.key is None:
        _add(content, Entry(stem, document, path))
        return
    if not isinstance(document, dict):
        content.problems.append(
            _problem(entry_type, stem, "", "the file must hold one entry (a mapping)", path)
        )
        return
    key = document.get(entry_type.key)
    if key != stem:
        content.problems.append(
            _problem(
                entry_type,
                stem,
                f"/{entry_type.key}",
                f"{key!r} does not match the file name {Path(path).name!r}",
                path,
                "KEY_MISMATCH",
            )
        )
        return
    _add(content, Entry(stem, document, path))


def _container_entries(content: TypeContent, path: str, document: Any) -> None:
    entry_type = content.type
    if document is None:
        return  # an empty file (comments only): no entries yet
    try:
        container = resolve(document, entry_type.container)
    except KeyError:
        shape = "list" if entry_type.layout == "list" else "object"
        content.problems.append(
            _problem(
                entry_type,
                None,
                entry_type.container,
                f"the file has no {shape} at {entry_type.container or '/'} (the catalog's "
                f"container); add one (`{_parts(entry_type.container)[-1]}: []`) or fix its name",
                path,
                "CONTAINER_MISSING",
            )
        )
        return
    if entry_type.layout == "map":
        if not isinstance(container, dict):
            content.problems.append(
                _problem(entry_type, None, entry_type.container, "must be an object", path)
            )
            return
        for key, value in container.items():
            _add(content, Entry(key, value, path))
        return
    if container is None:
        return
    if not isinstance(container, list):
        content.problems.append(
            _problem(entry_type, None, entry_type.container or "/", "must be a list", path)
        )
        return
    key_field = entry_type.key or ""
    for index, item in enumerate(container):
        key = item.get(key_field) if isinstance(item, dict) else None
        if not isinstance(key, str) or not key:
            content.problems.append(
                _problem(
                    entry_type,
                    None,
                    f"{entry_type.container}/{index}/{key_field}",
                    "every entry needs a non-empty string key",
                    path,
                    "KEY_MISSING",
                )
            )
            continue
        _add(content, Entry(key, item, path, index))


def _add(content: TypeContent, entry: Entry) -> None:
    known = content.entries.get(entry.key)
    if known is not None:
        where = f" (index {entry.index})" if entry.index is not None else ""
        content.problems.append(
            _problem(
                content.type,
                entry.key,
                "",
                f"duplicate key{where}; first in {known.file}",
                entry.file,
                "DUPLICATE_KEY",
            )
        )
        return
    content.entries[entry.key] = entry


def _problem(
    entry_type: EntryType,
    key: str | None,
    field_: str,
    message: str,
    path: str,
    code: str = "REGISTRY_FILE_INVALID",
) -> Finding:
    return Finding(code, "error", entry_type.name, key, field_, message, path)


def _parts(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


DASH_PREFIX = re.compile(r"( *)- +")
"""What precedes an item's first key on its line in a list the writer splices: indentation, a
dash, spaces (nothing else: no comment, no second dash, no tab)."""


def _item_spans(root: Any, container: str, data: bytes) -> tuple[tuple[int, int], ...] | None:
    """Line spans of the block list at `container`, or None when the writer must not splice it
    (not a block list of mappings, an item whose first key is not on its dash's line, dashes at
    different columns, or an item ending in a block scalar, whose trailing lines are content)."""
    node = root
    for part in _parts(container):
        if type(node).__name__ != "MappingNode":
            return None
        node = next((v for k, v in node.value if k.value == part), None)
        if node is None:
            return None
    if type(node).__name__ != "SequenceNode" or node.flow_style:
        return None
    lines = data.decode("utf-8-sig").splitlines()
    spans = []
    columns = set()
    for item in node.value:
        if type(item).__name__ != "MappingNode" or not item.value:
            return None
        first = int(item.start_mark.line)
        dash = DASH_PREFIX.fullmatch(lines[first][: item.start_mark.column])
        leaf = _last_leaf(item)
        if dash is None or getattr(leaf, "style", None) in ("|", ">"):
            return None
        columns.add(len(dash.group(1)))
        last = max(first, _end_line(leaf))
        while last > first and not lines[last].strip():
            last -= 1
        spans.append((first, last))
    return tuple(spans) if len(columns) <= 1 else None


def _last_leaf(node: Any) -> Any:
    """The node whose text ends the block collection `node` (itself when it is not one)."""
    while type(node).__name__ in ("MappingNode", "SequenceNode") and not node.flow_style:
        if not node.value:
            return node
        last = node.value[-1]
        node = last[1] if type(node).__name__ == "MappingNode" else last
    return node


def _end_line(node: Any) -> int:
    end = node.end_mark
    if end.column == 0 and end.line > node.start_mark.line:
        return int(end.line) - 1
    return int(end.line)
