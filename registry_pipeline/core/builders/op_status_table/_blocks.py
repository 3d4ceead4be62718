"""Markdown as the operations readers see it: headings, table rows (with their header) and lines.

Enough of Markdown for governance documents written as tables and `Key: value` lines: fenced code
blocks are skipped, a table's header and delimiter rows are not blocks (the header's keys are kept
on each of its rows), emphasis, code ticks and link targets are dropped from plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_HEADING = re.compile(r"(#{1,6})[ \t]+(.*)")
_CLOSING = re.compile(r"[ \t]+#+$")
_SEPARATOR = re.compile(r":?-+:?")
_LINK = re.compile(r"\[([^\[\]]*)\]\([^()]*\)")
"""A link's text and target; neither may hold a bracket, so a long line is scanned once."""
_OPERATION_ID = re.compile(r"OP-[A-Z]+[0-9]+")


@dataclass(frozen=True)
class Block:
    """A heading, a table row (with its table's header keys, if any) or another line."""

    kind: str
    line: int
    """1-based line number."""
    text: str = ""
    """Plain text (headings and lines)."""
    raw: str = ""
    """The line as written, stripped (lines only)."""
    level: int = 0
    cells: tuple[str, ...] = ()
    header: tuple[str, ...] = ()


def blocks(text: str) -> Iterator[Block]:
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
                text = _CLOSING.sub("", heading[2].rstrip())  # `## Title ##`: no closing hashes
                yield Block("heading", index + 1, plain(text), level=len(heading[1]))
            else:
                yield Block("line", index + 1, plain(line), raw=line)
            continue
        row = cells(line)
        if is_separator(row):
            continue
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if is_separator(cells(following)) and not _OPERATION_ID.fullmatch(plain(row[0])):
            header = tuple(field_key(cell) for cell in row)
            continue
        yield Block("row", index + 1, cells=tuple(row), header=header)


def cells(line: str) -> list[str]:
    """The cells of a table row (`\\|` is a literal bar); empty for a line that is not a row."""
    if not line.startswith("|"):
        return []
    inner = line[1:-1] if line.endswith("|") and len(line) > 1 else line[1:]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def is_separator(row: Sequence[str]) -> bool:
    """Whether a row is a table's `|---|:--:|` delimiter row."""
    return bool(row) and all(_SEPARATOR.fullmatch(cell) for cell in row)


def plain(text: str) -> str:
    """Text without emphasis markers, code ticks and link targets."""
    text = _LINK.sub(r"\1", text).replace("**", "").replace("__", "").replace("`", "")
    return text.strip()


def field_key(text: str) -> str:
    """A field or column name compared case- and punctuation-blind (`**Operation ID**:`)."""
    return " ".join(plain(text).lower().replace("_", " ").replace("-", " ").strip(":").split())
