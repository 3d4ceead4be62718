"""The build's checks of a sealed run index: every problem of the log, and that it only grew."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from registry_pipeline.core.append_only.baseline import published_snapshot
from registry_pipeline.core.errors import Problem
from registry_pipeline.core.fs import open_file
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.jsonl import PrefixBreak, first_break
from registry_pipeline.core.run_index.records import (
    Order,
    Warnings,
    field_problems,
    located,
    parse_line,
    record_problem,
    saved,
    shape_problems,
    times,
)
from registry_pipeline.core.run_index.rules import (
    CHUNK,
    Read,
    RecordRules,
    needs_override,
    relevant,
)
from registry_pipeline.core.run_index.spec import IndexSpec
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot

MAX_WARNINGS = 1_000
"""Warnings kept by a whole-log check; beyond, one MORE_WARNINGS says how many more."""


def log_problems(
    root: Path,
    catalog: RegistryCatalog,
    spec: IndexSpec,
    data: bytes | Path,
    read: Read | None = None,
) -> list[Problem]:
    """Every problem of a whole log but schema violations; `read`: how other registries are read."""
    problems: list[Problem] = []
    log = _Log(data)
    rules = RecordRules(root, catalog, spec, read)
    order = Order()
    try:
        chunk: list[tuple[int, dict[str, Any]]] = []
        for count, (line, record) in enumerate(_records(log, problems, spec), start=1):
            order.add(line, record[spec.key], *times(spec, record))
            if relevant(rules.heads, record, overridden=needs_override(spec, record)):
                chunk.append((line, record))
            if count % CHUNK == 0:
                problems.extend(rules.problems(chunk, relied=False))
                chunk = []
        problems.extend(rules.problems(chunk, relied=False))
        not_later = (
            f"an earlier line has the same {spec.key} at the same place or later ({spec.time}, "
            f"then {spec.updated}): a record augmenting a run must come after its previous one"
        )
        problems.extend(
            record_problem(line, f"/{spec.time}", "AUGMENT_NOT_LATER", not_later, key)
            for line, key in order.later
        )
        if spec.recommended or spec.file_fields or rules.reliance.active:
            problems.extend(_latest_views(rules, order.latest_lines(), log))
    finally:
        rules.close()
    if log.torn is not None:
        problems.append(record_problem(log.torn, "", "LOG_TORN", "the last line is incomplete"))
    return sorted((located(p, spec.source) for p in problems), key=lambda p: p.line or 0)


def _latest_views(rules: RecordRules, latest: set[int], log: _Log) -> list[Problem]:
    """The warnings of each run's latest view, and of an overrides log the runs left uncovered."""
    problems: list[Problem] = []
    warned = 0
    view = Warnings(rules.spec)
    views: list[tuple[int, dict[str, Any]]] = []
    for line, record in _records(log, [], rules.spec, only=latest):
        found = view.warned(record, saved(rules.spec, record))  # messages only for those listed
        listed = found[: max(0, MAX_WARNINGS - warned)]
        problems.extend(view.warning(line, record, name, code) for name, code in listed)
        warned += len(found)
        if rules.reliance.active:
            views.append((line, record))
    problems.extend(rules.reliance.problems(views))
    if warned > MAX_WARNINGS:
        more = f"{warned - MAX_WARNINGS} more warning(s)"
        problems.append(record_problem(0, "", "MORE_WARNINGS", more, severity="warning"))
    return problems


def _records(
    log: _Log, problems: list[Problem], spec: IndexSpec, only: set[int] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) of each line (of `only`) with a usable key and time; else problems."""
    for number, raw in log.lines():
        if (only is not None and number not in only) or not raw.strip():
            continue  # blank as the bytes are: ASCII whitespace only
        try:
            record = parse_line(raw)
        except JSONDecodeProblem as exc:
            problems.append(record_problem(number, "", "RECORD_UNPARSABLE", exc.message))
            continue
        found = shape_problems(spec, number, record)
        if found:
            problems.extend(found)
        else:
            problems.extend(field_problems(spec, number, record))
            yield number, record


class _Log:
    """A log's complete lines; `torn`: its incomplete last line's number, once read."""

    def __init__(self, data: bytes | Path) -> None:
        self.data = data
        self.torn: int | None = None

    def lines(self) -> Iterator[tuple[int, bytes]]:
        data = self.data  # a file: a FIFO or device there is refused, never waited on
        with (
            io.BytesIO(data)
            if isinstance(data, bytes)
            else open_file(data, follow_symlinks=True) as handle
        ):
            for number, raw in enumerate(handle, start=1):
                if raw.endswith(b"\n"):
                    yield number, raw[:-1]
                else:  # only the last line can lack its newline
                    self.torn = number


# --- the log only grows: its previous sealed snapshot (`published_snapshot`) is a prefix -----


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
    """Whether the previous sealed snapshot's primary artifact is a prefix of `current`."""
    folder = published_snapshot(workspace, spec, schemas, checked=checked)
    if folder is None:
        return PrefixReport(None)
    previous = read_snapshot(folder, spec.registry_id).payload().get(spec.primary_artifact)
    if previous is None:
        return PrefixReport(folder.name)
    with open_file(previous) as old:
        return PrefixReport(folder.name, first_break(old, current))
