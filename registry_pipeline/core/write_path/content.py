"""Registry types, their entries, files and findings: one reader for the write path and build."""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import (
    Problem,
    RegistryError,
    UsageError,
    problem_object,
    render,
)
from registry_pipeline.core.json_strict import (
    JSONDecodeProblem,
    loads_strict,
    pointer_tokens,
    resolve_pointer,
)
from registry_pipeline.core.seal.hashing import jsonl_records
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.workspace.catalog import (
    RegistryCatalog,
    RegistrySpec,
    catalog_error,
    guess,
)
from registry_pipeline.core.workspace.sources import (
    TORN_TAIL,
    is_pattern,
    only_missing,
    pattern_base,
    source_paths,
)
from registry_pipeline.core.yaml_io import parse_yaml

_E = TypeVar("_E", bound=RegistryError)
FILE_INVALID = "REGISTRY_FILE_INVALID"
"""A registry file the write path reads is broken: the code of each problem and of the error."""


def finding(
    code: str,
    severity: str,
    type_name: str,
    key: str | None,
    where: str,
    message: str,
    file: str | None = None,
    related: tuple[str, str] | None = None,
) -> Problem:
    """One problem of the entry (type, key) at `where` (a JSON pointer), about entry `related`."""
    subject = (type_name,) if key is None else (type_name, key)
    return Problem(
        code=code, severity=severity, subject=subject, field=where, message=message, path=file,
        related=related or (),
    )  # fmt: skip


def finding_json(problem: Problem) -> dict[str, object]:
    """A finding as `--json`, the check's metadata and the logs show it."""
    type_name, key = entry_of(problem)
    return problem_object(
        str(problem.code), problem.message, path=problem.path, line=problem.line,
        field=problem.field, column=problem.column, severity=problem.severity, type=type_name,
        key=key, related=list(problem.related) or None,
    )  # fmt: skip


def entry_of(problem: Problem) -> tuple[str, str | None]:
    """(type, key) of the entry a finding is about (key None: the type's files as a whole)."""
    return problem.subject[0], problem.subject[1] if len(problem.subject) > 1 else None


def where(problem: Problem) -> str:
    """`type[key]/field`: the entry, and the field in it, a finding is about."""
    type_name, key = entry_of(problem)
    return f"{type_name}{'' if key is None else f'[{key}]'}{problem.field}"


def finding_text(problem: Problem) -> str:
    """`severity: CODE type[key]/field: message`."""
    return f"{problem.severity}: {problem.code} {where(problem)}: {problem.message}"


def errors(findings: Iterable[Problem]) -> list[Problem]:
    """The findings that block a write."""
    return [finding for finding in findings if finding.severity == "error"]


def entry_error(details: Iterable[Problem], *, code: str = "ENTRY_INVALID") -> UsageError:
    """The entry itself is bad input (unparsable, wrong shape, schema violation): exit 2."""
    return _refusal(UsageError, details, code, "with the entry", finding_text)


def registry_file_error(details: Iterable[Problem]) -> RegistryError:
    """A registry file the write path reads is broken (unparsable, duplicate keys...): exit 1."""
    return _refusal(RegistryError, details, FILE_INVALID, "in the registry files",
                    lambda p: f"{p.path or p.subject[0]}: {finding_text(p)}")  # fmt: skip


def _refusal(
    kind: type[_E], details: Iterable[Problem], code: str, of: str, text: Callable[[Problem], str]
) -> _E:
    details = tuple(details)
    message = f"{len(details)} problem(s) {of}; nothing was written"
    return kind(message, code=code, problems=details, text=text, as_json=finding_json)


@dataclass(frozen=True)
class EntryType:
    """One writable registry type, read from a catalog entry's `entries` block."""

    name: str
    """What `--type` takes."""
    registry_id: str
    layout: str
    """list or map (objects at `container`), files (an entry per file of a glob), or a JSONL log."""
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

    def file_of(self, key: str) -> str:
        """The workspace-relative file an entry with `key` lives in."""
        return self.source if self.layout != "files" else f"{self.folder}/{key}{self.suffix}"


def entry_types(catalog: RegistryCatalog) -> dict[str, EntryType]:
    """Every writable type of the catalog by name; CATALOG_INVALID naming each problem."""
    types: dict[str, EntryType] = {}
    problems: list[str] = []
    for index, spec in enumerate(catalog.registries):
        if spec.entries is None and spec.run_index is None:
            continue
        try:
            entry_type = _entry_type(spec)
        except ValueError as exc:
            problems.append(f"/registries/{index}/entries: {exc}")
            continue
        if entry_type.name in types:
            problems.append(f"/registries/{index}/entries/type: duplicate type {entry_type.name!r}")
        else:
            types[entry_type.name] = entry_type
    if problems:
        raise catalog_error(str(catalog.path), problems)
    return types


def entry_type(types: dict[str, EntryType], name: str) -> EntryType:
    """The type `name`; UNKNOWN_TYPE (exit 2) with a "did you mean" and the known types."""
    if name in types:
        return types[name]
    known = ", ".join(sorted(types)) or "none (no catalog entry has an `entries` block)"
    raise RegistryError.of("UNKNOWN_TYPE", type=name, guess=guess(name, types), known=known)


def _entry_type(spec: RegistrySpec) -> EntryType:
    """The type of a catalog entry's `entries` (or `run_index`: a log) block; ValueError why not."""
    block, log = spec.entries or spec.run_index, spec.entries is None
    layout, sources = "log" if log else block["layout"], spec.sources
    if len(sources) != 1:
        raise ValueError(f"a writable registry has exactly one source, not {len(sources)}")
    source = sources[0]
    suffix = PurePosixPath(source).suffix
    if not log and suffix not in (".json", ".yaml", ".yml"):
        raise ValueError(f"the source {source!r} must end in .json, .yaml or .yml")
    if layout == "files":
        name = PurePosixPath(source).name
        if not is_pattern(source) or name != f"*{suffix}" or is_pattern(pattern_base(source)):
            raise ValueError(f"layout files needs a source like 'folder/*{suffix}', not {source!r}")
    elif not log and is_pattern(source):
        raise ValueError(f"layout {layout} needs one file as its source, not the glob {source!r}")
    if layout == "map" and suffix != ".json":
        raise ValueError("layout map is written in JSON files only")
    schema = None if log else block.get("schema")
    if schema is not None and relpath_problem(schema):
        raise ValueError(f"schema {schema!r} {relpath_problem(schema)}")
    return EntryType(
        name=block.get("type", spec.registry_id),
        registry_id=spec.registry_id,
        layout=layout,
        source=source,
        container="" if log else block.get("container", ""),
        key=block.get("key"),
        order="append" if log else block.get("order", "key"),
        schema=schema,
        purpose=block.get("purpose") or spec.description,
        schema_id=spec.schema_id,
    )


@dataclass(frozen=True)
class Entry:
    """One entry: its key, its value, where it lives."""

    key: str
    value: Any
    """The entry object, or the value under its key (map, files without a key)."""
    file: str
    """Workspace-relative file."""
    index: int | None = None
    """Its position in the file's list (list layout)."""


@dataclass(frozen=True)
class ParsedFile:
    """One file: its bytes, its document and, for a YAML list, each item's line span."""

    data: bytes
    document: Any
    spans: tuple[tuple[int, int], ...] | None = None
    """(first, last) 0-based lines of each list item; None when not block style (round-trip)."""


@dataclass
class TypeContent:
    """Every entry of one type, and every problem reading them."""

    type: EntryType
    entries: dict[str, Entry] = field(default_factory=dict)
    files: dict[str, ParsedFile] = field(default_factory=dict)
    """Workspace-relative path -> the parsed file."""
    problems: list[Problem] = field(default_factory=list)

    def refuse(
        self,
        key: str | None,
        where: str,
        message: str,
        path: str,
        code: str = FILE_INVALID,
        at: JSONDecodeProblem | None = None,
    ) -> None:
        """Note an error in the type's files (`at`: the parse error, for its line and column)."""
        found = finding(code, "error", self.type.name, key, where, message, path)
        self.problems.append(replace(found, line=at.line, column=at.column) if at else found)


def parse_file(relpath: str, data: bytes, container: str | None = None) -> ParsedFile:
    """The strict parse of one registry file; with `container`, its YAML list's item spans."""
    if not relpath.endswith((".yaml", ".yml")):
        return ParsedFile(data, loads_strict(data))
    parsed = parse_yaml(data)
    spans = None
    if container is not None and parsed.node is not None:
        spans = _item_spans(parsed.node, container, data)
    return ParsedFile(data, parsed.value, spans)


Parse = Callable[[str, bytes, "str | None"], "ParsedFile"]
"""How a file is parsed: `parse_file`, or the cached parse of `write_path.cache`."""


def read_type(root: Path, entry_type: EntryType, parse: Parse | None = None) -> TypeContent:
    """The type's entries as its files in the workspace hold them now."""
    try:
        files = source_paths(root, [entry_type.source]).read().files
    except UsageError as exc:
        if not only_missing(exc):
            raise
        files = {}  # no entry yet: the first add-entry creates the file
    return content_of(entry_type, files, parse)


def content_of(
    entry_type: EntryType, files: Mapping[str, bytes], parse: Parse | None = None
) -> TypeContent:
    """The type's entries from its files (relpath as sealed -> bytes)."""
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
            content.refuse(None, "", exc.message, path, exc.code, exc)
            continue
        content.files[path] = parsed
        if entry_type.layout == "files":
            _file_entry(content, path, parsed.document)
        else:
            _container_entries(content, path, parsed.document)
    return content


def _file_entry(content: TypeContent, path: str, document: Any) -> None:
    entry_type, name = content.type, Path(path).name
    stem = name[: -len(entry_type.suffix)]
    key = document.get(entry_type.key) if isinstance(document, dict) else None
    if entry_type.key is None or key == stem:
        _add(content, Entry(stem, document, path))
    elif not isinstance(document, dict):
        content.refuse(stem, "", render(FILE_INVALID, shape="one entry (a mapping)"), path)
    else:
        why = render("KEY_MISMATCH", key=key, name=name)
        content.refuse(stem, f"/{entry_type.key}", why, path, "KEY_MISMATCH")


def _container_entries(content: TypeContent, path: str, document: Any) -> None:
    entry_type, pointer = content.type, content.type.container
    if document is None:
        return  # an empty file (comments only): no entries yet
    try:
        container = resolve_pointer(document, pointer)
    except KeyError:
        shape = "list" if entry_type.layout == "list" else "object"
        token = pointer_tokens(pointer)[-1]
        why = render("CONTAINER_MISSING", shape=shape, pointer=pointer or "/", token=token)
        content.refuse(None, pointer, why, path, "CONTAINER_MISSING")
        return
    if entry_type.layout == "map" and not isinstance(container, dict):
        content.refuse(None, pointer, render(FILE_INVALID, shape="an object"), path)
    elif entry_type.layout == "map":
        for key, value in container.items():
            _add(content, Entry(key, value, path))
    elif container is not None and not isinstance(container, list):
        content.refuse(None, pointer or "/", render(FILE_INVALID, shape="a list"), path)
    elif container is not None:
        for index, item in enumerate(container):
            key = item.get(entry_type.key or "") if isinstance(item, dict) else None
            if isinstance(key, str) and key:
                _add(content, Entry(key, item, path, index))
                continue
            why, where = render("KEY_MISSING", what="entry"), f"/{entry_type.key or ''}"
            content.refuse(None, f"{pointer}/{index}{where}", why, path, "KEY_MISSING")


def _add(content: TypeContent, entry: Entry) -> None:
    known = content.entries.setdefault(entry.key, entry)
    if known is not entry:
        where = f" (index {entry.index})" if entry.index is not None else ""
        why = render("DUPLICATE_KEY", index=where, first=known.file)
        content.refuse(entry.key, "", why, entry.file, "DUPLICATE_KEY")


DASH_PREFIX = re.compile(r"( *)- +")
"""An item's first-key prefix in a list the writer splices: indentation, a dash, spaces only."""


def _item_spans(root: Any, container: str, data: bytes) -> tuple[tuple[int, int], ...] | None:
    """Line spans of the block list at `container`; None when the writer cannot splice it."""
    node = root
    for part in pointer_tokens(container):
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
        end = leaf.end_mark  # a block ending at column 0 ends on the line before
        back = end.column == 0 and end.line > leaf.start_mark.line
        last = max(first, int(end.line) - back)
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


Keep = Callable[[Any], bool]
"""Which latest views of a log to hold (the others are left out; their problems still count)."""
Source = Path | bytes
"""A file of the log, or its bytes."""


def log_content(
    entry_type: EntryType, files: Iterable[Source], keep: Keep | None = None
) -> TypeContent:
    """The entries of the log `entry_type` in `files` whose latest view `keep` keeps (None: all)."""
    reader = _LogReader(TypeContent(entry_type), keep)
    for file in files:
        reader.read(file)
    reader.order()
    return reader.content


class _LogReader:
    """One pass over each file; with `keep`, each line's key hash, to order the kept entries."""

    def __init__(self, content: TypeContent, keep: Keep | None) -> None:
        self.content = content
        self.keep = keep
        self.hashes = array("q")
        """With `keep`: per line of the files read, the hash of its record's key (0: none)."""
        self.spans: list[tuple[Source, int, int]] = []
        """Each file read, with the positions of its first line and past its last line read."""
        self.entered: dict[str, int] = {}
        """Position of the line that last put each kept key in the entries."""

    def read(self, file: Source) -> None:
        """The records of one file, as `content_of` reads one file of a log."""
        entry_type, content = self.content.type, self.content
        source = entry_type.source
        if not jsonl.ends_cleanly(file):  # said first; the lines before it are read all the same
            torn = jsonl.torn(source, policy=TORN_TAIL)
            content.refuse(None, "", torn.message, source, torn.code)
        base = len(self.hashes)
        taken = itertools.count()  # zip draws one number per line taken, the last one too
        lines = (line for line, _number in zip(_complete_lines(file), taken, strict=False))
        try:
            for line, record in jsonl_records(lines):
                key = record.get(entry_type.key) if isinstance(record, dict) else None
                if not isinstance(key, str) or not key:
                    why = render("KEY_MISSING", what=f"record (line {line})")
                    where = f"/{entry_type.key}"
                    content.refuse(None, where, why, source, "KEY_MISSING")
                    continue
                self._add(base + line - 1, key, record, line)
        except JSONDecodeProblem as exc:
            content.refuse(None, "", exc.message, source, exc.code, exc)
        end = base + next(taken)
        if self.keep is not None:
            self.hashes.frombytes(bytes(8 * (end - len(self.hashes))))  # zeros: blank to the end
        self.spans.append((file, base, end))

    def _add(self, position: int, key: str, record: Any, line: int) -> None:
        """`record` (at `line` of its file) is `key`'s latest view now."""
        entries = self.content.entries
        if self.keep is None:
            entries[key] = Entry(key, record, self.content.type.source, line)
            return
        hashes = self.hashes
        if len(hashes) < position:
            hashes.frombytes(bytes(8 * (position - len(hashes))))  # zeros: blank or keyless lines
        hashes.append(hash(key))
        if not self.keep(record):
            if entries.pop(key, None) is not None:
                del self.entered[key]
            return
        if key not in entries:
            self.entered[key] = position
        entries[key] = Entry(key, record, self.content.type.source, line)  # a kept key stays put

    def order(self) -> None:
        """The kept entries in the order of each key's first line (hash-matching lines re-read)."""
        entries = self.content.entries
        if self.keep is None or len(entries) < 2:
            return
        wanted: dict[int, list[str]] = {}
        for key in entries:
            wanted.setdefault(hash(key), []).append(key)
        earlier: dict[str, list[int]] = {}
        for position, value in enumerate(self.hashes):
            for key in wanted.get(value, ()):
                if position < self.entered[key]:
                    earlier.setdefault(key, []).append(position)
        if not earlier:
            return  # every key was first given where it entered the entries
        keys = self._keys_at({p for positions in earlier.values() for p in positions})
        first = dict(self.entered)
        for key, positions in earlier.items():
            first[key] = next((p for p in positions if keys.get(p) == key), first[key])
        self.content.entries = dict(sorted(entries.items(), key=lambda item: first[item[0]]))

    def _keys_at(self, positions: set[int]) -> dict[int, str]:
        """The key of the record at each of `positions` (those lines read again)."""
        found: dict[int, str] = {}
        field = self.content.type.key or ""
        for file, base, end in self.spans:
            if not any(base <= position < end for position in positions):
                continue
            for position, raw in enumerate(_complete_lines(file), start=base):
                if position >= end:
                    break
                if position not in positions:
                    continue
                try:
                    record = loads_strict(raw)
                except JSONDecodeProblem:
                    continue  # not what the first pass read: not the key it had
                key = record.get(field) if isinstance(record, dict) else None
                if isinstance(key, str):
                    found[position] = key
        return found


def _complete_lines(file: Source) -> Iterator[bytes]:
    """The lines of `file` that end in a newline, without it (a torn last line: said by `read`)."""
    lines = jsonl.Lines(file, TORN_TAIL)
    try:
        yield from (line for _number, line in lines)
    except RegistryError:
        if lines.torn_at is None:
            raise
