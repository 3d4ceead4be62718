"""The build's checks of a sealed run index: its blocking `rules` check, every problem of a whole
log by the functions `registry runs append` checks records with (`records`, `rules`), and
`log_prefix`, whether the log only grew since its previous sealed snapshot."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from registry_pipeline.core.append_only.governed import published_snapshot
from registry_pipeline.core.json_strict import (
    NOT_COMPACT,
    JSONDecodeProblem,
    loads_compact,
    loads_strict,
)
from registry_pipeline.core.jsonl import PrefixBreak, first_break
from registry_pipeline.core.run_index.records import (
    Order,
    RecordProblem,
    Warnings,
    field_problems,
    shape_problems,
    times,
)
from registry_pipeline.core.run_index.rules import CHUNK, Read, RecordRules, needs_override
from registry_pipeline.core.run_index.spec import IndexSpec
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot

MAX_WARNINGS = 1_000
"""Warnings kept by a whole-log check; beyond, one MORE_WARNINGS says how many more."""
BLOCK = 4 << 20
"""Bytes of the log decoded at a time."""
BLANK = " \t\n\r\x0b\x0c"
"""What `bytes.strip()` strips: a line of these only is blank."""


def log_problems(
    root: Path,
    catalog: RegistryCatalog,
    spec: IndexSpec,
    data: bytes | Path,
    read: Read | None = None,
) -> list[RecordProblem]:
    """Every problem of a whole log (the build's `rules` check on the sealed bytes, or on the
    file at `data`, read a block at a time): a torn last line, lines that do not parse, records
    whose key and time are unusable, the problems of a record's own fields, a key's record not
    later than the one before, the override and coordination findings of every record and the
    warnings of each run's latest view, each in the log `spec.source`. Schema violations are the
    `schema_valid` check's. `read`: how the other registries are read (the build: their sealed
    snapshots)."""
    problems: list[RecordProblem] = []
    log = Log(data)
    if log.torn:
        problems.append(RecordProblem(log.lines + 1, "", "LOG_TORN", "the last line is incomplete"))
    rules = RecordRules(root, catalog, spec, read)
    order = Order()
    try:
        chunk: list[tuple[int, dict[str, Any]]] = []
        for count, (line, record) in enumerate(_records(log, problems, spec), start=1):
            order.add(line, record[spec.key], *times(spec, record))
            if rules.relevant(record, overridden=needs_override(spec, record)):
                chunk.append((line, record))
            if count % CHUNK == 0:
                problems.extend(rules.problems(chunk, relied=False))
                chunk = []
        problems.extend(rules.problems(chunk, relied=False))
        problems.extend(
            RecordProblem(line, f"/{spec.time}", "AUGMENT_NOT_LATER", _not_later(spec), key)
            for line, key in order.later
        )
        if spec.recommended or spec.file_fields or rules.reliance.active:
            problems.extend(_latest_views(rules, order.latest_lines(), log))
    finally:
        rules.close()
    return sorted((p.at(spec.source) for p in problems), key=lambda p: p.line)


def _latest_views(rules: RecordRules, latest: set[int], log: Log) -> list[RecordProblem]:
    """The warnings of each run's latest view (the first MAX_WARNINGS, then MORE_WARNINGS), and
    with an overrides log the runs its latest records leave uncovered."""
    problems: list[RecordProblem] = []
    warned = 0
    view = Warnings(rules.spec)
    views: list[tuple[int, dict[str, Any]]] = []
    for line, record in _records(log, [], rules.spec, only=latest):
        found = view.warnings(line, record)
        problems.extend(found[: max(0, MAX_WARNINGS - warned)])
        warned += len(found)
        if rules.reliance.active:
            views.append((line, record))
    problems.extend(rules.reliance.problems(views))
    if warned > MAX_WARNINGS:
        problems.append(
            RecordProblem(
                0,
                "",
                "MORE_WARNINGS",
                f"{warned - MAX_WARNINGS} more warning(s)",
                severity="warning",
            )
        )
    return problems


def _not_later(spec: IndexSpec) -> str:
    return (
        f"an earlier line has the same {spec.key} at the same place or later ({spec.time}, "
        f"then {spec.updated}): a record augmenting a run must come after its previous one"
    )


def _records(
    log: Log, problems: list[RecordProblem], spec: IndexSpec, only: set[int] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) of each line whose record has a usable key and time (with `only`: of
    those lines only); the others are problems."""
    for number, raw in _lines(log, only):
        if not (raw.strip(BLANK) if isinstance(raw, str) else raw.strip()):
            continue  # blank as the bytes are: ASCII whitespace only
        try:
            record = _parsed(raw)
        except JSONDecodeProblem as exc:
            problems.append(RecordProblem(number, "", "RECORD_UNPARSABLE", exc.message))
            continue
        found = shape_problems(spec, number, record)
        if found:
            problems.extend(found)
        else:
            problems.extend(field_problems(spec, number, record))
            yield number, record


def _parsed(raw: bytes | str) -> Any:
    """`loads_strict` of a line (given as decoded from UTF-8, or as its bytes)."""
    if isinstance(raw, str):
        value = loads_compact(raw)
        if value is not NOT_COMPACT:
            return value
        raw = raw.encode("utf-8")
    return loads_strict(raw)


class Log:
    """A log's complete lines, as bytes or in the file at a path (its torn tail left out)."""

    def __init__(self, data: bytes | Path) -> None:
        self.data = data
        if isinstance(data, bytes):
            self.size = len(data)
            tail = data[-1:]
            self.covered = data.rfind(b"\n") + 1
            self.lines = data.count(b"\n")
        else:
            with data.open("rb") as handle:
                self.size = handle.seek(0, os.SEEK_END)
                self.covered = self.lines = done = 0
                for block in self.blocks(handle, self.size):
                    if (cut := block.rfind(b"\n")) >= 0:
                        self.covered = done + cut + 1
                    self.lines += block.count(b"\n")
                    done += len(block)
                handle.seek(max(0, self.size - 1))
                tail = handle.read(1)
        self.torn = bool(self.size) and tail != b"\n"

    @staticmethod
    def blocks(handle: BinaryIO, size: int) -> Iterator[bytes]:
        """The bytes of `handle` up to `size`, BLOCK at a time."""
        handle.seek(0)
        done = 0
        while done < size and (block := handle.read(min(BLOCK, size - done))):
            done += len(block)
            yield block

    def chunks(self) -> Iterator[bytes]:
        """The complete lines, in blocks of whole lines of about BLOCK bytes."""
        if isinstance(self.data, bytes):
            start = 0
            while start < self.covered:
                end = self.data.rfind(b"\n", start, start + BLOCK) + 1
                if end <= start:
                    end = self.data.find(b"\n", start) + 1
                yield self.data[start:end]
                start = end
            return
        with self.data.open("rb") as handle:
            pending = b""
            for block in self.blocks(handle, self.covered):
                pending += block
                cut = pending.rfind(b"\n") + 1
                if cut:
                    yield pending[:cut]
                    pending = pending[cut:]


def _lines(log: Log, only: set[int] | None) -> Iterator[tuple[int, bytes | str]]:
    """(number, line) of the complete lines of `log`, a block at a time (never a list of a
    million lines); a line is given decoded when its block is UTF-8, else as its bytes."""
    number = 1
    for block in log.chunks():
        try:
            lines: list[bytes] | list[str] = block.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            lines = block.split(b"\n")
        lines.pop()
        for line in lines:
            if only is None or number in only:
                yield number, line
            number += 1


# --- the log only grows ---------------------------------------------------------------------
# A log sealed from the workspace only grows: its previous sealed snapshot is an exact prefix.
# The one function the log's blocking `append_only` check and the build's shortcut for unchanged
# sources call. The previous snapshot is the active pointer's target (else the newest valid
# one), as for every append-only source (`core.append_only.published_snapshot`).


@dataclass(frozen=True)
class PrefixReport:
    """The previous snapshot a log was compared with, and where it stops being a prefix."""

    baseline: str | None
    """Its run id; None for a first snapshot."""
    broken: PrefixBreak | None = None

    @property
    def ok(self) -> bool:
        """Whether the previous log is an exact prefix (or there is none)."""
        return self.broken is None


def log_prefix(
    workspace: Workspace,
    spec: RegistrySpec,
    current: BinaryIO,
    schemas: SchemaCatalog,
    *,
    checked: str | None = None,
) -> PrefixReport:
    """Whether the previous sealed snapshot's primary artifact is a prefix of `current`
    (`checked`: the run id of the sealed snapshot `current` is, never its own baseline)."""
    folder = published_snapshot(workspace, spec, schemas, checked=checked)
    if folder is None:
        return PrefixReport(None)
    previous = _artifact(folder, spec)
    if previous is None:
        return PrefixReport(folder.name)
    with previous.open("rb") as old:
        return PrefixReport(folder.name, first_break(old, current))


def _artifact(folder: Path, spec: RegistrySpec) -> Path | None:
    payload = read_snapshot(folder, spec.registry_id).payload()
    return payload.get(spec.primary_artifact)
