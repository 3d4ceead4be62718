"""A record log's entries read a line at a time, from its files (or bytes already read), exactly
as `content_of` reads them (the same entries, values, lines, order and problems), never a list
of its lines. With `keep`, only the entries whose latest view `keep` keeps are held: a check
that needs a few runs of a million-record run index holds those few, not a million records
(their order, the first line of each key, is recovered from 8 bytes a line)."""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.hashing import file_lines, jsonl_records
from registry_pipeline.core.write_path.findings import Finding
from registry_pipeline.core.write_path.type_content import Entry, TypeContent
from registry_pipeline.core.write_path.types import EntryType

Keep = Callable[[Any], bool]
"""Which latest views of a log to hold (the others are left out; their problems still count)."""
Source = Path | bytes
"""A file of the log, or its bytes."""


def log_content(
    entry_type: EntryType, files: Iterable[Source], keep: Keep | None = None
) -> TypeContent:
    """The entries of the log `entry_type` in `files` (as `content_of` of their bytes gives
    them), only those whose latest view `keep` keeps (None: all)."""
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
        if _torn(file):
            content.problems.append(
                _problem(entry_type, "", "the last line is incomplete (torn)", "LOG_TORN")
            )
        base = len(self.hashes)
        lines = _Counted(_complete(_lines(file)))
        try:
            for line, record in jsonl_records(lines):
                key = record.get(entry_type.key) if isinstance(record, dict) else None
                if not isinstance(key, str) or not key:
                    content.problems.append(
                        _problem(
                            entry_type,
                            f"/{entry_type.key}",
                            f"line {line}: every record needs a non-empty string key",
                            "KEY_MISSING",
                        )
                    )
                    continue
                self._add(base + line - 1, key, record, line)
        except JSONDecodeProblem as exc:
            found = _problem(entry_type, "", exc.message, exc.code)
            content.problems.append(replace(found, line=exc.line, column=exc.column))
        end = base + lines.count
        if self.keep is not None:
            self.hashes.frombytes(bytes(8 * (end - len(self.hashes))))  # zeros: blank to the end
        self.spans.append((file, base, end))

    def _add(self, position: int, key: str, record: Any, line: int) -> None:
        """`record` (at `line` of its file) stands for `key` now: a later line is the key's
        latest view."""
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
        """The kept entries in the order of each key's first line, as `content_of` lists them:
        a key first given where it entered the entries is in place already; for one with an
        earlier line of the same key hash, those lines are read again (only they are parsed)."""
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
        """The key of the record at each of `positions` (lines read again; only those parsed)."""
        found: dict[int, str] = {}
        field = self.content.type.key or ""
        for file, base, end in self.spans:
            if not any(base <= position < end for position in positions):
                continue
            for position, raw in enumerate(_complete(_lines(file)), start=base):
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


class _Counted:
    """An iterator of lines that counts those taken."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.lines = lines
        self.count = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self.lines:
            self.count += 1
            yield line


def _complete(lines: Iterator[bytes]) -> Iterator[bytes]:
    """`lines` (`file_lines`) but the last, which is what follows the last newline: nothing,
    or a torn line, which `content_of` leaves out."""
    held: bytes | None = None
    for line in lines:
        if held is not None:
            yield held
        held = line


def _lines(file: Source) -> Iterator[bytes]:
    """The lines of `file` as `bytes.split(b"\\n")` gives them, one at a time."""
    if isinstance(file, Path):
        yield from file_lines(file)
        return
    start = 0
    while (end := file.find(b"\n", start)) >= 0:
        yield file[start:end]
        start = end + 1
    yield file[start:]


def _torn(file: Source) -> bool:
    """Whether the file is not empty and does not end with a newline."""
    if not isinstance(file, Path):
        return bool(file) and not file.endswith(b"\n")
    with file.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if not size:
            return False
        handle.seek(size - 1)
        return handle.read(1) != b"\n"


def _problem(entry_type: EntryType, field: str, message: str, code: str) -> Finding:
    """A problem reading the log, as `content_of` reports it."""
    return Finding(code, "error", entry_type.name, None, field, message, entry_type.source)
