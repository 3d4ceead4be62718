"""A Markdown operations catalog read as allowed_operations; invalid only with no operation."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.errors import Problem, RegistryError

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

OPERATION_ID = re.compile(r"OP-([A-Z]+)[0-9]+")
"""The id forms accepted: `OP-`, uppercase letters (the option family), digits."""
NON_CANONICAL = "NC"
"""The option of a non-canonical operation."""

_OP_HEADING = re.compile(r"(OP-[A-Z]+[0-9]+)(?:\s*[:—–-]\s*(.*))?")
_OPTION_HEADING = re.compile(r"option\s+([A-Za-z]+)\b.*", re.IGNORECASE)
_NON_CANONICAL_TEXT = re.compile(r"\bnon[\s_-]?canonical\b", re.IGNORECASE)
_KEY_VALUE = re.compile(r"(?:[-*+]\s+)?([A-Za-z*][A-Za-z0-9 _/*-]{0,44}?)\s*:\s+(.*)")
_KEY_ONLY = re.compile(r"([A-Za-z*][A-Za-z0-9 _/*-]{0,44}?)\s*:\s*")
_BULLET = re.compile(r"[-*+]\s+(.*)")
_CODE = re.compile(r"`([^`]+)`")
_TITLE_VERSION = re.compile(r"\bv(\d+(?:\.\d+)*)\b", re.IGNORECASE)
_LEVEL = re.compile(r"(C[0-5])(?![0-9])")
_OPTION = re.compile(r"(?:option\s+)?([A-Z]+)(?![A-Za-z0-9])", re.IGNORECASE)
_NOT_SAID = frozenset({"", "-", "—", "–", "?", "n/a", "na", "none", "unknown", "tbd"})
_KEYS = {
    key: canonical
    for canonical, keys in (
        ("operation_id", ("operation id", "op id", "id")),
        ("name", ("name", "operation name", "operation", "title")),
        ("option", ("option", "option family")),
        ("enforcement_level", ("enforcement level", "enforcement", "coverage level", "coverage")),
        ("enforcement_level", ("level", "c level")),
        ("outputs", ("outputs", "output")),
        ("executables", ("bound executables", "bound executable", "executables")),
    )
    for key in keys
}
"""A field or column name (`field_key`) -> the entry's key it gives."""
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


INPUT_INVALID = "OP_STATUS_INPUT_INVALID"
"""The reason code of every unusable input of the status table (a `UsageError`)."""


def input_error(reason: str, path: str) -> RegistryError:
    """An unusable input of the status table: a UsageError with INPUT_INVALID."""
    return RegistryError.of(INPUT_INVALID, path=path, reason=reason)


LINE_NOT_UNDERSTOOD = "CATALOG_LINE_NOT_UNDERSTOOD"
"""The reason code of a catalog warning."""


def catalog_warning(source: str, line: int, op: str | None, reason: str) -> Problem:
    """A catalog or matrix line not understood (the build goes on): `field` is its operation."""
    return Problem.of(LINE_NOT_UNDERSTOOD, path=source, line=line, field=op, reason=reason)


def warning_json(problem: Problem) -> dict[str, Any]:
    """A catalog warning as the status detail lists it: `{source, line, operation_id, message}`."""
    return {
        "source": problem.path,
        "line": problem.line,
        "operation_id": problem.field,
        "message": problem.message,
    }


@dataclass
class _Definition:
    """One operation as found: id, line, heading name, where it stands, and its fields."""

    operation_id: str
    line: int
    name: str | None
    heading_option: str | None = None
    canonical: bool = True
    fields: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Canonical key -> (raw text, line); a list's items joined by spaces."""


@dataclass
class _Context:
    """Where the reader stands: the open section, the Option heading, the NC section."""

    section: _Definition | None = None
    depth: int = 0
    option: tuple[str, int] | None = None
    non_canonical: int | None = None
    """The level of the NON_CANONICAL heading once seen."""
    listing: str | None = None
    """The field a `Key:` line opened, whose bullet items follow."""


def read_operations_markdown(text: str, *, source: str) -> tuple[dict[str, Any], list[Problem]]:
    """A Markdown catalog's allowed_operations document, and warnings for lines not understood."""
    definitions, title, version = _read(text.removeprefix("\ufeff"))
    if not definitions:
        raise input_error(
            "no operation found: no `### OP-<letters><digits> — Name` heading and no table row "
            "whose first cell is an operation id",
            path=f"{source}:1",
        )
    warnings: list[Problem] = []
    first: dict[str, int] = {}
    entries = []
    for found in definitions:
        if found.operation_id in first:
            again = f"defined again (first at line {first[found.operation_id]})"
            message = f"{again}: this definition is ignored"
            warnings.append(catalog_warning(source, found.line, found.operation_id, message))
            continue
        first[found.operation_id] = found.line
        entries.append(_entry(found, source, warnings))
    title_version = _TITLE_VERSION.search(title or "")
    document = {
        "catalog_version": title_version.group(1) if title_version else version,
        "description": f"Operations read from the Markdown catalog {source}.",
        "operations": entries,
    }
    return document, warnings


def catalog_version_key(name: str) -> tuple[int, ...]:
    """The version in a catalog's file name (`..._v0.2.md` -> (0, 2)); () when none: first."""
    found = re.search(r"_v(\d+(?:\.\d+)*)\.md$", name, re.IGNORECASE)
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()


def merged_operations(
    catalogs: Sequence[tuple[str, str]],
) -> tuple[dict[str, Any], list[Problem]]:
    """Markdown catalogs, oldest first, as one document: a newer definition replaces an older."""
    merged: dict[str, dict[str, Any]] = {}
    document: dict[str, Any] = {}
    warnings: list[Problem] = []
    for text, source in catalogs:
        document, found = read_operations_markdown(text, source=source)
        warnings.extend(found)
        for entry in document["operations"]:
            merged[entry["operation_id"]] = entry
    sources = ", ".join(source for _text, source in catalogs)
    return {
        "catalog_version": document.get("catalog_version"),
        "description": f"Operations read from the Markdown catalogs {sources} (newest last).",
        "operations": list(merged.values()),
    }, warnings


def _read(text: str) -> tuple[list[_Definition], str | None, str | None]:
    """(operations found in order, the first level-1 title, a `Version:` line before them)."""
    definitions: list[_Definition] = []
    title: str | None = None
    version: str | None = None
    at = _Context()
    for block in blocks(text):
        if block.kind == "heading":
            _heading(block, at, definitions)
            if block.level == 1 and title is None:
                title = block.text
        elif block.kind == "row":
            at.listing = None
            first = plain(block.cells[0])
            if OPERATION_ID.fullmatch(first):
                definitions.append(_row(first, block, at))
            elif at.section is not None and len(block.cells) >= 2:
                _add(at.section, block.cells[0], block.cells[1], block.line)
        elif at.section is not None:
            _line(block, at)
        elif not definitions and version is None:
            pair = _KEY_VALUE.fullmatch(block.raw)
            if pair is not None and field_key(pair[1]) == "version":
                version = plain(pair[2])
    return definitions, title, version


def _heading(block: Block, at: _Context, definitions: list[_Definition]) -> None:
    """An operation heading opens a section; others close it and move the Option and NC bounds."""
    at.listing = None
    found = _OP_HEADING.fullmatch(block.text)
    if found:
        at.section = _definition(found[1], block.line, found[2] or None, at)
        at.depth = block.level
        definitions.append(at.section)
        return
    if at.section is not None and block.level <= at.depth:
        at.section = None
    option = _OPTION_HEADING.fullmatch(block.text)
    if option and option[1].isupper():
        at.option = (option[1], block.level)
        if at.non_canonical is not None and block.level <= at.non_canonical:
            at.non_canonical = None
    elif _NON_CANONICAL_TEXT.search(block.text.replace("_", " ")):
        at.non_canonical, at.option = block.level, None
    elif at.option is not None and block.level <= at.option[1]:
        at.option = None


def _definition(operation_id: str, line: int, name: str | None, at: _Context) -> _Definition:
    """An operation found where the reader stands (its Option heading, its NC section)."""
    option = at.option[0] if at.option else None
    return _Definition(operation_id, line, name, option, at.non_canonical is None)


def _line(block: Block, at: _Context) -> None:
    """A line inside an operation's section: `Key: value`, `Key:` opening a list, or an item."""
    assert at.section is not None
    item = _BULLET.fullmatch(block.raw)
    if at.listing is not None and item is not None:
        value, number = at.section.fields.get(at.listing, ("", block.line))
        at.section.fields[at.listing] = (f"{value} {item[1]}".strip(), number)
        return
    at.listing = None
    pair = _KEY_VALUE.fullmatch(block.raw)
    if pair is not None:
        _add(at.section, pair[1], pair[2], block.line)
        return
    opened = _KEY_ONLY.fullmatch(block.raw)
    if opened is not None:
        canonical = _KEYS.get(field_key(opened[1]))
        if canonical is not None and canonical not in at.section.fields:
            at.listing = canonical
            at.section.fields[canonical] = ("", block.line)


def _row(operation_id: str, block: Block, at: _Context) -> _Definition:
    """A table row defining an operation: its fields by header name, its name by Name column."""
    found = _definition(operation_id, block.line, None, at)
    for key, cell in list(zip(block.header, block.cells, strict=False))[1:]:
        _add(found, key, cell, block.line)
    second = _KEYS.get(block.header[1]) if len(block.header) > 1 else None
    if "name" not in found.fields and second is None and len(block.cells) > 1:
        found.fields["name"] = (block.cells[1], block.line)
    return found


def _add(found: _Definition, key: str, value: str, number: int) -> None:
    """Record a field under its canonical key (the first one given wins)."""
    canonical = _KEYS.get(field_key(key))
    if canonical is not None and canonical not in found.fields:
        found.fields[canonical] = (value.strip(), number)


def _entry(found: _Definition, source: str, warnings: list[Problem]) -> dict[str, Any]:
    """The allowed_operations entry of one definition; what cannot be read is warned about."""

    def warn(message: str, number: int | None = None) -> None:
        warnings.append(catalog_warning(source, number or found.line, found.operation_id, message))

    fields = found.fields
    name = found.name or plain(fields.get("name", ("", found.line))[0])
    if not name:
        warn("no name (after the id in its heading, or a Name field): the id stands for it")
        name = found.operation_id
    said_id = fields.get("operation_id")
    if said_id is not None and plain(said_id[0]) != found.operation_id:
        warn(f"its Operation ID field says {plain(said_id[0])!r}: the heading's id is used",
             said_id[1])  # fmt: skip
    option, canonical = _option(found, warn)
    return {
        "operation_id": found.operation_id,
        "name": name,
        "option": option,
        "canonical": canonical,
        "builder": _builder(fields),
        "enforcement_level": _level(found, warn),
        "executables": _executables(fields.get("executables", ("", 0))[0]),
        "threshold_pack": None,
        "defined_in": f"{source}:{found.line}",
    }


def _option(found: _Definition, warn: Any) -> tuple[str, bool]:
    """(family, canonical) from the Option field, heading or id; NON_CANONICAL or NC makes it NC."""
    fallback = found.heading_option or found.operation_id[3:].rstrip("0123456789")
    value, number = found.fields.get("option", ("", found.line))
    value = plain(value)
    if _NON_CANONICAL_TEXT.search(value.replace("_", " ")):
        return NON_CANONICAL, False
    if value.lower() in _NOT_SAID:
        option = fallback
    else:
        said = _OPTION.fullmatch(value.split(" (")[0].strip())
        if said is None or not said[1].isupper():
            warn(f"option {value!r} is not an uppercase family: {fallback} is used", number)
            option = fallback
        else:
            option = said[1]
    canonical = found.canonical and option != NON_CANONICAL
    return (option if canonical else NON_CANONICAL), canonical


def _level(found: _Definition, warn: Any) -> str | None:
    """The enforcement level field's `C0`..`C5`; None when there is none or it says unknown."""
    value, number = found.fields.get("enforcement_level", ("", found.line))
    value = plain(value)
    if value.lower() in _NOT_SAID:
        return None
    said = _LEVEL.match(value)
    if said is None:
        warn(f"enforcement level {value!r} is not C0..C5: none is taken from the catalog", number)
        return None
    return said[1]


def _builder(fields: dict[str, tuple[str, int]]) -> str | None:
    """Our registry whose artifacts or builder the Outputs and Bound Executables name, if one."""
    said = " ".join(plain(fields.get(key, ("", 0))[0]) for key in ("outputs", "executables"))
    named = [registry_id for registry_id, pattern in _BUILDERS if pattern.search(said)]
    return named[0] if len(named) == 1 else None


def _executables(raw: str) -> list[str]:
    """The files a Bound Executables value names (`code` spans, else words), sorted, each once."""
    named = _CODE.findall(raw) or [
        part.split(" (")[0].strip() for part in plain(raw).split(",") if part.strip()
    ]
    return sorted({name.strip() for name in named if name.strip().lower() not in _NOT_SAID})


_LINK = re.compile(r"\[([^\[\]]*)\]\([^()]*\)")
"""A link's text and target; neither may hold a bracket, so a long line is scanned once."""


@dataclass(frozen=True)
class Block:
    """A heading, a table row (with its table's header keys, if any) or another line."""

    kind: str
    line: int
    text: str = ""
    """Plain text (headings and lines)."""
    raw: str = ""
    """The line as written, stripped (lines only)."""
    level: int = 0
    cells: tuple[str, ...] = ()
    header: tuple[str, ...] = ()


@cache
def _markdown() -> MarkdownIt:
    """CommonMark with GFM tables (imported on first use: most commands read no catalog)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def blocks(text: str) -> Iterator[Block]:
    """Every line as markdown-it-py places it: heading, table row or other; code blocks left out."""
    lines = text.splitlines()
    placed: dict[int, Block | None] = {}
    header: tuple[str, ...] = ()
    tokens = _markdown().parse("\n".join(lines))  # its lines are ours (splitlines: \f, \u2028)
    for index, token in enumerate(tokens):
        if token.map is None:
            continue
        first, end = token.map
        if token.type in ("fence", "code_block"):
            placed.update(dict.fromkeys(range(first, end)))
        elif token.type == "heading_open" and token.markup.startswith("#"):
            title = plain(tokens[index + 1].content)
            placed[first] = Block("heading", first + 1, title, level=int(token.tag[1]))
        elif token.type == "table_open":
            header = ()
        elif lines[first].lstrip().startswith("|") and token.type == "tbody_open":
            placed[first - 1] = None  # the delimiter row
        elif lines[first].lstrip().startswith("|") and token.type == "tr_open":
            row = cells(lines[first].strip())
            if tokens[index - 1].type == "thead_open" and not OPERATION_ID.fullmatch(plain(row[0])):
                header, placed[first] = tuple(field_key(cell) for cell in row), None
            else:
                placed[first] = Block("row", first + 1, cells=tuple(row), header=header)
    for index, line in enumerate(lines):
        if index not in placed:
            yield Block("line", index + 1, plain(line.strip()), raw=line.strip())
        elif (block := placed[index]) is not None:
            yield block


def cells(line: str) -> list[str]:
    """The cells of a table row (`\\|` is a literal bar)."""
    inner = line[1:-1] if line.endswith("|") and len(line) > 1 else line[1:]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def plain(text: str) -> str:
    """Text without emphasis markers, code ticks and link targets."""
    text = _LINK.sub(r"\1", text).replace("**", "").replace("__", "").replace("`", "")
    return text.strip()


def field_key(text: str) -> str:
    """A field or column name compared case- and punctuation-blind (`**Operation ID**:`)."""
    return " ".join(plain(text).lower().replace("_", " ").replace("-", " ").strip(":").split())


_FIRST_CELL = re.compile(r"(OP-[A-Z]+[0-9]+)(?:\s+(.*))?")
_RANGE = re.compile(r"(?:through|to|-|–|—)\s+OP-", re.IGNORECASE)
_LEVEL_COLUMNS = ("coverage level", "coverage", "enforcement level", "level", "c level")


@dataclass(frozen=True)
class Coverage:
    """One operation's level and where it was read."""

    level: str
    source: str
    """`<matrix>:<line>`."""


def coverage_levels(
    matrices: Sequence[tuple[str, str]],
) -> tuple[dict[str, Coverage], list[Problem]]:
    """Each operation's coverage level from the matrices (oldest first, newest wins); warnings."""
    levels: dict[str, Coverage] = {}
    warnings: list[Problem] = []
    for text, source in matrices:
        levels.update(_matrix_levels(text.removeprefix("\ufeff"), source, warnings))
    return levels, warnings


def _matrix_levels(text: str, source: str, warnings: list[Problem]) -> dict[str, Coverage]:
    found: dict[str, Coverage] = {}
    for block in blocks(text):
        if block.kind != "row" or not block.cells:
            continue
        first = _FIRST_CELL.fullmatch(plain(block.cells[0]))
        if first is None or (first[2] and _RANGE.match(first[2])):
            continue
        column = next((block.header.index(k) for k in _LEVEL_COLUMNS if k in block.header), None)
        if column is None or column >= len(block.cells):
            continue
        operation_id, value = first[1], plain(block.cells[column])
        level = _LEVEL.match(value)
        if level is None:
            why = f"coverage level {value!r} is not C0..C5: the row is ignored"
        elif operation_id in found:
            why = f"listed again (first at {found[operation_id].source}): this row is ignored"
        else:
            found[operation_id] = Coverage(level[1], f"{source}:{block.line}")
            continue
        warnings.append(catalog_warning(source, block.line, operation_id, why))
    return found
