"""A Markdown operations catalog read as an allowed_operations document (the seed system's form).

Repositories of the seed system keep their operations in `OVC_ALLOWED_OPERATIONS_CATALOG_v*.md`.
Their own ids are the catalog, so that none of their operations is "unauthorized" and none of ours
is invented. An operation is defined by either:

- a heading `### OP-QA07 — Name` (any level; the separator may be an em or en dash, a hyphen or a
  colon, as in v0.1's `### OP-A01: Name`), with the fields of the section below it: the rows of
  its `| Field | Value |` tables and its `Key: value` lines, up to the next heading of the same or
  a higher level or the next operation heading; or
- a table row whose first cell is exactly an id (`| OP-A01 | Name | A | C3 |`), whose other cells
  are fields named by the table's header (a column `Name`/`Operation`/`Title`, else the second).

An id is `OP-<uppercase letters><digits>` (OP-A01, OP-QA11, OP-NC29). Text that only mentions an
id (`ADD OP-QA07`, `OP-NC01 through OP-NC29`) or sits in a fenced code block defines nothing.

The fields of an entry: `option` from an Option field (`Option A` or `A`), else the id's letters;
`enforcement_level` from an Enforcement Level / Coverage (Level) field (`C0`..`C5`), else null:
the catalog does not say it (the seed system keeps levels in its enforcement coverage matrix, and
"Enforcement Surfaces" E1..E7 are not levels); `builder` the one registry of ours whose artifact or
builder script the Outputs and Bound Executables fields name, null when they name none or several;
`threshold_pack` null. Problems are `OperationsMarkdownError`s carrying their 1-based lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry_pipeline.core.builders.op_status_table._model import OpStatusInputError

OPERATION_ID = re.compile(r"OP-([A-Z]+)[0-9]+")
"""The id forms accepted: `OP-`, uppercase letters (the option family), digits."""

_HEADING = re.compile(r"(#{1,6})\s+(.*?)(?:\s+#+)?\s*")
_OP_HEADING = re.compile(r"(OP-[A-Z]+[0-9]+)(?:\s*[:—–-]\s*(.*))?")
_KEY_VALUE = re.compile(r"(?:[-*+]\s+)?([A-Za-z][A-Za-z0-9 _/-]{0,40}?)\s*:\s+(.*)")
_SEPARATOR = re.compile(r":?-+:?")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TITLE_VERSION = re.compile(r"\bv(\d+(?:\.\d+)*)\b", re.IGNORECASE)
_LEVEL = re.compile(r"(C[0-5])(?![0-9])")
_OPTION = re.compile(r"(?:option\s+)?([A-Z]+)(?![A-Za-z0-9])", re.IGNORECASE)
_NOT_SAID = frozenset({"", "-", "—", "–", "?", "n/a", "na", "none", "unknown", "tbd"})
_KEYS = {
    "operation id": "operation_id",
    "op id": "operation_id",
    "id": "operation_id",
    "name": "name",
    "operation name": "name",
    "operation": "name",
    "title": "name",
    "option": "option",
    "option family": "option",
    "enforcement level": "enforcement_level",
    "enforcement": "enforcement_level",
    "coverage level": "enforcement_level",
    "coverage": "enforcement_level",
    "level": "enforcement_level",
    "c level": "enforcement_level",
    "outputs": "outputs",
    "output": "outputs",
    "bound executables": "executables",
    "bound executable": "executables",
    "executables": "executables",
}
_BUILDERS = (
    ("run_registry", re.compile(r"\bRUN_REGISTRY_v\d|\bbuild_run_registry")),
    ("op_status_table", re.compile(r"\bOPERATION_STATUS_TABLE_v\d|\bbuild_op_status_table")),
    ("drift_signals", re.compile(r"\bDRIFT_SIGNALS_v\d|\bbuild_drift_signals")),
    (
        "system_health_report",
        re.compile(r"\bSYSTEM_HEALTH(?:_REPORT|_SUMMARY)?_v\d|\brender_system_health"),
    ),
    ("registry_delta_log", re.compile(r"\bREGISTRY_DELTA_LOG_v\d|\bbuild_registry_delta_log")),
)
"""Our registries, by the artifact names and builder scripts the seed system gives them."""


class OperationsMarkdownError(OpStatusInputError):
    """A Markdown operations catalog that cannot be read; `lines` are the 1-based lines at fault
    (both definitions for a duplicated id), `path` is `<source>:<last of them>`."""

    def __init__(self, message: str, *, source: str, lines: Sequence[int]) -> None:
        super().__init__(message, path=f"{source}:{lines[-1]}")
        self.source = source
        self.lines = tuple(lines)


@dataclass
class _Definition:
    """One operation as found: its id, line, heading name and fields (key -> value, line)."""

    operation_id: str
    line: int
    name: str | None
    fields: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Block:
    """A heading, a table row (with its table's header keys, if any) or another line."""

    kind: str
    line: int
    text: str = ""
    level: int = 0
    cells: tuple[str, ...] = ()
    header: tuple[str, ...] = ()


def operations_from_markdown(text: str, *, source: str) -> dict[str, Any]:
    """The allowed_operations document of a Markdown catalog, operations in document order.

    `source` names the catalog in errors (`<source>:<line>`) and in the document's description.
    """
    definitions, title, version = _read(text)
    first: dict[str, int] = {}
    for found in definitions:
        if found.operation_id in first:
            lines = (first[found.operation_id], found.line)
            raise OperationsMarkdownError(
                f"{found.operation_id} is defined at line {lines[0]} and again at line {lines[1]}",
                source=source,
                lines=lines,
            )
        first[found.operation_id] = found.line
    if not definitions:
        raise OperationsMarkdownError(
            "no operation found: no `### OP-<letters><digits> — Name` heading and no table row "
            "whose first cell is an operation id",
            source=source,
            lines=(1,),
        )
    title_version = _TITLE_VERSION.search(title or "")
    return {
        "catalog_version": title_version.group(1) if title_version else version,
        "description": f"Operations read from the Markdown catalog {source}.",
        "operations": [_entry(found, source) for found in definitions],
    }


def catalog_version_key(name: str) -> tuple[int, ...]:
    """The version a catalog's file name carries (`..._v0.2.md` -> (0, 2)); () when none, so a
    catalog without one sorts first."""
    found = re.search(r"_v(\d+(?:\.\d+)*)\.md$", name, re.IGNORECASE)
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()


def merged_operations(catalogs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Several Markdown catalogs `(text, source)`, oldest first, read as one document.

    A newer catalog supersedes an older one and inherits what it does not redefine (the seed
    system's v0.2 "inherits v0.1 verbatim"): an id defined in both takes the newer definition,
    in the older one's place; ids new in the newer catalog follow. The version is the newest's.
    """
    merged: dict[str, dict[str, Any]] = {}
    document: dict[str, Any] = {}
    for text, source in catalogs:
        document = operations_from_markdown(text, source=source)
        for entry in document["operations"]:
            merged[entry["operation_id"]] = entry
    sources = ", ".join(source for _text, source in catalogs)
    return {
        "catalog_version": document.get("catalog_version"),
        "description": f"Operations read from the Markdown catalogs {sources} (newest last).",
        "operations": list(merged.values()),
    }


def _read(text: str) -> tuple[list[_Definition], str | None, str | None]:
    """(operations found in order, the first level-1 title, a `Version:` line before them)."""
    definitions: list[_Definition] = []
    title: str | None = None
    version: str | None = None
    section: _Definition | None = None
    depth = 0
    for block in _blocks(text.removeprefix("\ufeff")):
        if block.kind == "heading":
            found = _OP_HEADING.fullmatch(block.text)
            if found:
                section, depth = _Definition(found[1], block.line, found[2] or None), block.level
                definitions.append(section)
            elif section is not None and block.level <= depth:
                section = None
            if block.level == 1 and title is None:
                title = block.text
        elif block.kind == "row":
            operation_id = _operation_id(block.cells[0])
            if operation_id is not None:
                definitions.append(_row(operation_id, block))
            elif section is not None and len(block.cells) >= 2:
                _add(section, block.cells[0], block.cells[1], block.line)
        elif (pair := _KEY_VALUE.fullmatch(block.text)) is not None:
            if section is not None:
                _add(section, pair[1], pair[2], block.line)
            elif not definitions and version is None and _key(pair[1]) == "version":
                version = _plain(pair[2])
    return definitions, title, version


def _blocks(text: str) -> Iterator[_Block]:
    """The document's headings, table rows and other lines; code fences and table header and
    separator rows are not blocks (a header is kept on its rows)."""
    fence: str | None = None
    header: tuple[str, ...] = ()
    lines = text.splitlines()
    for index, raw in enumerate(lines):
        line = raw.strip()
        if fence is not None or line.startswith(("```", "~~~")):
            fence = line[:3] if fence is None else (None if line.startswith(fence) else fence)
            continue
        if not line.startswith("|"):
            header = ()
            heading = _HEADING.fullmatch(line)
            if heading:
                yield _Block("heading", index + 1, _plain(heading[2]), level=len(heading[1]))
            else:
                yield _Block("line", index + 1, _plain(line))
            continue
        cells = _cells(line)
        if _is_separator(cells):
            continue
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if _is_separator(_cells(following)) and _operation_id(cells[0]) is None:
            header = tuple(_key(cell) for cell in cells)
            continue
        yield _Block("row", index + 1, cells=tuple(cells), header=header)


def _row(operation_id: str, block: _Block) -> _Definition:
    """A table row defining an operation: fields by header name; the name is the column the
    header calls Name (or Operation, Title), else the second column unless named otherwise."""
    found = _Definition(operation_id, block.line, None)
    for key, cell in list(zip(block.header, block.cells, strict=False))[1:]:
        _add(found, key, cell, block.line)
    second = _KEYS.get(block.header[1]) if len(block.header) > 1 else None
    if "name" not in found.fields and second is None and len(block.cells) > 1:
        found.fields["name"] = (_plain(block.cells[1]), block.line)
    return found


def _add(found: _Definition, key: str, value: str, number: int) -> None:
    """Record a field under its canonical key (the first one given wins)."""
    canonical = _KEYS.get(_key(key))
    if canonical is not None and canonical not in found.fields:
        found.fields[canonical] = (_plain(value), number)


def _entry(found: _Definition, source: str) -> dict[str, Any]:
    """The allowed_operations entry of one definition; unreadable fields are refused."""
    fields = found.fields
    name = found.name or fields.get("name", ("", found.line))[0]
    if not name:
        raise _refusal(found, source, "no name (after the id in its heading, or a Name field)")
    said_id = fields.get("operation_id")
    if said_id is not None and said_id[0] != found.operation_id:
        raise _refusal(found, source, f"its Operation ID field says {said_id[0]!r}", said_id[1])
    return {
        "operation_id": found.operation_id,
        "name": name,
        "option": _option(found, source),
        "builder": _builder(fields),
        "enforcement_level": _level(found, source),
        "threshold_pack": None,
    }


def _option(found: _Definition, source: str) -> str:
    """The Option field's family (`QA`, `Option B`, `A (ingest)`), else the id's letters."""
    value, number = found.fields.get("option", ("", found.line))
    if value.lower() in _NOT_SAID:
        return found.operation_id[3:].rstrip("0123456789")
    said = _OPTION.fullmatch(value.split(" (")[0].strip())
    if said is None or not said[1].isupper():
        raise _refusal(found, source, f"option {value!r} is not an uppercase family", number)
    return said[1]


def _level(found: _Definition, source: str) -> str | None:
    """The enforcement level field's `C0`..`C5`; None when there is none or it says unknown."""
    value, number = found.fields.get("enforcement_level", ("", found.line))
    if value.lower() in _NOT_SAID:
        return None
    said = _LEVEL.match(value)
    if said is None:
        raise _refusal(found, source, f"enforcement level {value!r} is not C0..C5", number)
    return said[1]


def _builder(fields: dict[str, tuple[str, int]]) -> str | None:
    """Our registry whose artifacts or builder the Outputs and Bound Executables name, if one."""
    said = " ".join(fields.get(key, ("", 0))[0] for key in ("outputs", "executables"))
    named = [registry_id for registry_id, pattern in _BUILDERS if pattern.search(said)]
    return named[0] if len(named) == 1 else None


def _refusal(
    found: _Definition, source: str, message: str, number: int | None = None
) -> OperationsMarkdownError:
    return OperationsMarkdownError(
        f"{found.operation_id}: {message}", source=source, lines=(number or found.line,)
    )


def _operation_id(cell: str) -> str | None:
    plain = _plain(cell)
    return plain if OPERATION_ID.fullmatch(plain) else None


def _cells(line: str) -> list[str]:
    """The cells of a table row (`\\|` is a literal bar); empty for a line that is not a row."""
    if not line.startswith("|"):
        return []
    inner = line[1:-1] if line.endswith("|") and len(line) > 1 else line[1:]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _is_separator(cells: Sequence[str]) -> bool:
    """Whether a row is a table's `|---|:--:|` delimiter row."""
    return bool(cells) and all(_SEPARATOR.fullmatch(cell) for cell in cells)


def _plain(text: str) -> str:
    """Text without emphasis markers, code ticks and link targets."""
    text = _LINK.sub(r"\1", text).replace("**", "").replace("__", "").replace("`", "")
    return text.strip()


def _key(text: str) -> str:
    """A field or column name compared case- and punctuation-blind (`**Operation ID**:`)."""
    return " ".join(_plain(text).lower().replace("_", " ").replace("-", " ").strip(":").split())
