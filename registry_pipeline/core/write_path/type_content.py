"""What reading a registry type gives: its entries, its parsed files, its problems (the
readers: `content.content_of` and, for record logs, `log_content`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry_pipeline.core.write_path.findings import Finding
from registry_pipeline.core.write_path.types import EntryType


@dataclass(frozen=True)
class Entry:
    """One entry: its key, its value, where it lives."""

    key: str
    value: Any
    """The entry object (list, files with a key), or the value under its key (map, files
    without a key)."""
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
    """(first line, last line), 0-based, of each list item, the dash line first; None when the
    list is not in block style (the writer then rewrites the file round-trip)."""


@dataclass
class TypeContent:
    """Every entry of one type, and every problem reading them."""

    type: EntryType
    entries: dict[str, Entry] = field(default_factory=dict)
    files: dict[str, ParsedFile] = field(default_factory=dict)
    """Workspace-relative path -> the parsed file."""
    problems: list[Finding] = field(default_factory=list)
