"""Records given to `registry runs append` checked alone, a batch at a time: the part of an
append that needs nothing but the record itself, so that it can run in worker processes.

For each record: its shape and schema (`records`) and its own fields (`fields`); for each valid
one, what the rest of the append needs, compactly (it crosses processes): its line, key, place
(`order.times`), size, the sidecar's flags and lanes, how many warnings its latest view gets
(the first MAX_LISTED with their messages), whether the overrides or coordination rules can say
anything about it (`rules.relevant`; only those records themselves are kept), and its line as it
will be appended (unless the block is appended as given). After the first invalid record of a
batch, only problems are gathered: the append is refused anyway. A batch of valid records parsed
from compact lines is checked a column at a time instead (`columns.check_batch`), finding the
same.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.run_index.fields import field_problems
from registry_pipeline.core.run_index.given import Batch
from registry_pipeline.core.run_index.order import times
from registry_pipeline.core.run_index.records import (
    MAX_LISTED,
    RecordProblem,
    encode,
    record_problems,
)
from registry_pipeline.core.run_index.rules import relevant
from registry_pipeline.core.run_index.sidecar import Column, Marks, lane_value, marks, new_marks
from registry_pipeline.core.run_index.spec import IndexSpec
from registry_pipeline.core.run_index.view_warnings import ViewWarnings
from registry_pipeline.core.seal.schemas import SchemaCatalog


@dataclass
class Context:
    """What checking a record alone needs, in whichever process checks it."""

    spec: IndexSpec
    schemas: SchemaCatalog
    heads: frozenset[str] | None
    """`RecordRules.heads`."""
    view: ViewWarnings = field(init=False)

    def __post_init__(self) -> None:
        self.view = ViewWarnings(self.spec)


@dataclass
class Checked:
    """What checking one batch alone found."""

    error: UsageError | None = None
    """The first line of the block that does not parse (RECORD_UNPARSABLE)."""
    invalid: list[RecordProblem] = field(default_factory=list)
    """The first MAX_LISTED problems of the batch's records."""
    invalid_count: int = 0
    lines: array[int] = field(default_factory=lambda: array("q"))
    """Per valid record, in order (until the batch's first invalid one): its input line."""
    keys: list[str] = field(default_factory=list)
    created: array[int] = field(default_factory=lambda: array("q"))
    updated: array[int] = field(default_factory=lambda: array("q"))
    sizes: array[int] = field(default_factory=lambda: array("q"))
    """Its bytes as appended, without the newline."""
    marks: list[Column] = field(default_factory=new_marks)
    """`sidecar.marks`, a column each."""
    lanes: list[list[str | None]] = field(default_factory=list)
    warned: array[int] = field(default_factory=lambda: array("l"))
    """How many warnings its latest view gets."""
    warnings: list[tuple[int, RecordProblem]] = field(default_factory=list)
    """(index among the valid records, warning): the batch's first MAX_LISTED warnings."""
    relevant: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    """(index among the valid records, line, record) of those the rules can judge."""
    data: bytes | None = None
    """The valid records as appended; None: the block itself (every line compact)."""


def check_each(context: Context, batch: Batch) -> Checked:
    """Check each record of `batch` alone (see the module), record by record: the reference
    the column-wise check (`columns.check_batch`) shortcuts."""
    spec, schemas, view, heads = context.spec, context.schemas, context.view, context.heads
    found = Checked()
    encoded: list[bytes] | None = [] if batch.appended is None else None
    sizes = batch.sizes
    lane_fields = spec.lanes
    rows: list[tuple[int, str, int, int, int]] = []
    """(line, key, created, updated, size) of each valid record."""
    marked_rows: list[Marks] = []
    lane_rows: list[tuple[Any, ...]] = []
    for number, (line, record) in enumerate(batch.records):
        problems = record_problems(spec, schemas, line, record)
        if isinstance(record, dict):
            problems.extend(field_problems(spec, line, record))
        if problems:
            found.invalid_count += len(problems)
            found.invalid.extend(problems[: max(0, MAX_LISTED - len(found.invalid))])
            continue
        if found.invalid_count:
            continue
        if encoded is None:
            assert sizes is not None
            size = sizes[number]
        else:
            data = encode(record)
            encoded.append(data)
            size = len(data) - 1
        at = len(rows)
        rows.append((line, record[spec.key], *times(spec, record), size))
        marked = marks(spec, record)
        marked_rows.append(marked)
        lane_rows.append(tuple(map(record.get, lane_fields)))
        warned = view.warned(record, bool(marked[0]))
        found.warned.append(len(warned))
        for name, code in warned[: max(0, MAX_LISTED - len(found.warnings))]:
            found.warnings.append((at, view.warning(line, record, name, code)))
        if relevant(heads, record, overridden=bool(marked[0] and marked[2])):
            found.relevant.append((at, line, record))
    _columns(found, rows, marked_rows, lane_rows, len(lane_fields))
    if encoded is not None:
        found.data = b"".join(encoded)
    elif found.invalid_count:
        found.data = b""
    return found


def _columns(
    found: Checked,
    rows: list[tuple[int, str, int, int, int]],
    marked: list[Marks],
    lanes: list[tuple[Any, ...]],
    lane_count: int,
) -> None:
    """The valid records' rows, turned into `found`'s columns (in C, not record by record)."""
    if not rows:
        found.lanes = [[] for _ in range(lane_count)]
        return
    lines, keys, created, updated, sizes = zip(*rows, strict=True)
    found.lines, found.created = array("q", lines), array("q", created)
    found.updated, found.sizes = array("q", updated), array("q", sizes)
    found.keys = list(keys)
    success, failure, unique_fail, checks, gates, named = zip(*marked, strict=True)
    found.marks = [
        bytearray(success),
        bytearray(failure),
        bytearray(unique_fail),
        list(checks),
        list(gates),
        list(named),
    ]
    values: dict[str, str] = {}  # each lane value once
    found.lanes = [lane_values(list(column), values) for column in zip(*lanes, strict=True)]
    if not lane_count:
        found.lanes = []


def lane_values(values: list[Any], seen: dict[str, str]) -> list[str | None]:
    """One lane's values as the sidecar holds them (`lane_value`), each distinct value once."""
    if set(map(type, values)) == {str}:
        return list(map(seen.setdefault, values, values))
    shown = map(lane_value, values)
    return [value if value is None else seen.setdefault(value, value) for value in shown]
