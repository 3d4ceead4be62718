"""Records given checked a batch at a time (`check_block`, `check_batch`, wherever they run): a
batch of valid records a column (one field of every record) at a time, finding what checking them
one by one (`checked.check_each`) finds, in C where it can be; any other batch record by record.

The column-wise check is only for a batch parsed from compact JSON lines holding no integer
beyond +-2**53 (`Batch.plain`: JSON types only, one schema check for all), and only when every
record is valid: any record that is not, or a value this cannot be sure of, leaves the batch to
`check_each`. Within a column, the values of an unusual kind are asked of the record-by-record
rule itself (a path that is not a plain POSIX path, a predicate's condition on a record holding
one of its values), so each step either proves what that rule says of every record or gives up.
"""

from __future__ import annotations

import functools
import itertools
import operator
from array import array
from collections.abc import Iterable, Iterator
from typing import Any, cast

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import prepare_encoder
from registry_pipeline.core.run_index.checked import Checked, Context, check_each, lane_values
from registry_pipeline.core.run_index.fields import (
    NATIVE_POSIX,
    is_native,
    odd_paths,
    path_problem,
)
from registry_pipeline.core.run_index.given import Batch, parse_block
from registry_pipeline.core.run_index.order import parse_times
from registry_pipeline.core.run_index.records import MAX_LISTED
from registry_pipeline.core.run_index.sidecar import list_text
from registry_pipeline.core.run_index.spec import IndexSpec, Predicate, parse_time
from registry_pipeline.core.run_index.uniqueness import FAIL, OVERRIDE, failed_checks, is_check

Records = list[dict[str, Any]]


def check_block(context: Context, first: int, block: bytes, origin: str) -> Checked:
    """`check_batch` of the records of a block of whole lines (`given.parse_block`)."""
    try:
        batch = parse_block(block, first, origin)
    except UsageError as exc:
        return Checked(error=exc)
    found = check_batch(context, batch)
    if found.data is None and not block.endswith(b"\n"):
        found.data = batch.appended  # the last line, given without its newline
    return found


def check_batch(context: Context, batch: Batch) -> Checked:
    """Check each record of `batch` alone (`checked`): a column at a time when every record is
    valid (`all_valid`), else record by record (`check_each`); both find the same."""
    found = Checked()
    return found if all_valid(found, context, batch) else check_each(context, batch)


def all_valid(found: Checked, context: Context, batch: Batch) -> bool:
    """Fill the empty `found` as `check_each` would when every record of `batch` is valid;
    False (`found` to be dropped) when one is not, or may not be."""
    spec = context.spec
    if not batch.plain or not batch.records:
        return False
    lines, records = map(list, zip(*batch.records, strict=True))
    if set(map(type, records)) != {dict}:
        return False
    keys = column(records, spec.key)
    times = parse_times(column(records, spec.time))
    if set(map(type, keys)) != {str} or "" in keys or None in times:
        return False  # KEY_MISSING, TIME_INVALID
    created = cast(list[int], times)
    updated = _updated(spec, records, created)
    schema = context.schemas.for_artifact(spec.artifact)
    if updated is None or (
        schema is not None
        and not context.schemas.is_all_valid(schema.schema_id, records, plain=True)
    ):
        return False
    success = _holds(spec.success, records)
    if not _files_valid(spec, records, success):
        return False
    found.lines, found.keys = array("q", lines), keys
    found.created, found.updated = array("q", created), array("q", updated)
    _marked(found, spec, records, success)
    _warned(found, context, lines, records, success)
    chosen = _relevant(context.heads, records, success, found.marks[2])  # unique_fail
    found.relevant = [(at, lines[at], records[at]) for at in chosen]
    values: dict[str, str] = {}
    found.lanes = [lane_values(column(records, name), values) for name in spec.lanes]
    assert batch.sizes is not None  # a plain batch is appended as given
    found.sizes = array("q", batch.sizes)
    return True


def prepare(context: Context) -> None:
    """Compile the schema's checks and import the encoder `compact_lines` uses now (e.g. before
    forking workers, which inherit them)."""
    schema = context.schemas.for_artifact(context.spec.artifact)
    if schema is not None:
        context.schemas.prepare(schema.schema_id)
        context.schemas.is_all_valid(schema.schema_id, [], plain=True)  # compiles the batch check
    prepare_encoder()


def column(records: Records, name: str) -> list[Any]:
    """`record.get(name)` of each record."""
    return list(map(dict.get, records, itertools.repeat(name)))


def _updated(spec: IndexSpec, records: Records, created: list[int]) -> list[int] | None:
    """Each record's updated time (`order.times`); None when one is given that is not a time or
    is before its record's created time (`fields`: TIME_INVALID, UPDATED_BEFORE_CREATED)."""
    given = column(records, spec.updated)
    updated = list(created)
    for at in _where(map(operator.is_not, given, itertools.repeat(None))):
        written = parse_time(given[at])
        if written is None or written < created[at]:
            return None
        updated[at] = written
    return updated


def _holds(predicate: Predicate | None, records: Records) -> list[bool]:
    """Whether `predicate` holds for each record (False without one)."""
    if predicate is None:
        return [False] * len(records)
    held = _held(predicate, records)
    if not held:
        return [predicate({})] * len(records)  # no condition: all of none hold, any does not
    return list(map(all if predicate.mode == "all" else any, zip(*held, strict=True)))


def _held(predicate: Predicate, records: Records) -> list[list[bool]]:
    """Per condition of `predicate`, whether it holds for each record, a condition at a time:
    `Condition.holds` asked only of the records whose value equals one of its values."""
    held = []
    for condition in predicate.conditions:
        values = column(records, condition.field)
        met = [False] * len(records)
        for at in _where(map(operator.contains, itertools.repeat(condition.values), values)):
            met[at] = condition.holds(records[at])
        held.append(met)
    return held


def _files_valid(spec: IndexSpec, records: Records, success: list[bool]) -> bool:
    """Whether no record has a file field problem (`fields`: a path that names no file, or none
    at Final Save); only the values that are not plain paths are looked at one by one."""
    for name in spec.file_fields:
        values = column(records, name)
        for at in odd_paths(values):
            value = values[at]
            if isinstance(value, str) and value:
                if path_problem(value) is not None:
                    return False
            elif success[at]:
                return False
    return True


def _marked(found: Checked, spec: IndexSpec, records: Records, success: list[bool]) -> None:
    """`found.marks`: `sidecar.marks` of each record, a column at a time. The failure predicate
    and the failed checks are asked only of the records holding one of their values."""
    count = len(records)
    failing = list(_holding(records, [FAIL]))
    failure, gates = bytearray(count), cast(list[str | None], ["[]"] * count)
    if spec.failure is not None:
        failure = bytearray([spec.failure({})]) * count  # what a record meeting none gets
        wanted = _values(spec.failure)
        some = failing if wanted == [FAIL] else list(_holding(records, wanted))
        held = _held(spec.failure, list(map(records.__getitem__, some)))
        fields = [condition.field for condition in spec.failure.conditions]
        meets = all if spec.failure.mode == "all" else any
        for at, row in zip(some, zip(*held, strict=True) if held else (), strict=False):
            failure[at] = meets(row)
            gates[at] = _text(tuple(f for f in itertools.compress(fields, row) if not is_check(f)))
    checks, unique = cast(list[str | None], ["[]"] * count), bytearray(count)
    for at in failing:
        failed = failed_checks(records[at])
        if failed:
            checks[at], unique[at] = _text(tuple(failed)), 1
    named = column(records, OVERRIDE)
    if not set(map(type, named)) <= {str, type(None)}:
        named = [value if isinstance(value, str) else None for value in named]
    found.marks = [bytearray(success), failure, unique, checks, gates, named]


def _values(predicate: Predicate) -> list[Any]:
    """The values of `predicate`'s conditions, each once."""
    found: list[Any] = []
    for condition in predicate.conditions:
        found.extend(value for value in condition.values if value not in found)
    return found


def _holding(records: Records, values: list[Any]) -> Iterator[int]:
    """The positions of the records one of whose values equals one of `values`: only those can
    meet a condition on those values (equal, and of the same type)."""
    hits: Iterable[bool] = ()
    for number, value in enumerate(values):
        holding = map(operator.contains, map(dict.values, records), itertools.repeat(value))
        hits = map(operator.or_, hits, holding) if number else holding
    return _where(hits)


@functools.lru_cache(maxsize=1024)
def _text(fields: tuple[str, ...]) -> str:
    """`fields` as the sidecar holds a list of them (`sidecar.marks`)."""
    return list_text(list(fields)) if fields else "[]"


def _warned(
    found: Checked, context: Context, lines: list[int], records: Records, success: list[bool]
) -> None:
    """`found.warned` and `found.warnings` (`ViewWarnings.warned` of each record, its latest
    view), a column at a time; the first MAX_LISTED are asked of the view itself."""
    view, spec = context.view, context.spec
    counts = [0] * len(records)
    finals = list(_where(success))
    final_records = list(map(records.__getitem__, finals))
    for name in spec.recommended:
        if name not in spec.file_fields:
            values = column(final_records, name)
            if set(map(type, values)) <= {str, list, type(None)}:
                empty: Iterable[bool] = map(operator.not_, values)  # "", [] and None alone
            else:
                empty = map(operator.contains, itertools.repeat(_EMPTY), values)
            for at in itertools.compress(finals, empty):
                counts[at] += 1
    for name in spec.file_fields:
        values = column(records, name)
        if set(map(type, values)) <= {str, type(None)}:
            given = list(_where(values))  # the non-empty strings
        else:
            given = [at for at, value in enumerate(values) if isinstance(value, str) and value]
        paths = list(map(values.__getitem__, given))
        if NATIVE_POSIX:  # `is_native`
            native: Iterable[bool] = map(str.startswith, paths, itertools.repeat("/"))
        else:
            native = map(is_native, paths)
        mine = list(itertools.compress(range(len(paths)), native))
        absent = map(operator.not_, view.files.exist_each(list(map(paths.__getitem__, mine))))
        if len(mine) == len(records):  # every record names one: one addition per record, in C
            counts = list(map(operator.add, counts, absent))
        else:
            for at in itertools.compress(mine, absent):
                counts[given[at]] += 1
    found.warned = array("l", counts)
    for at in _where(counts):
        if len(found.warnings) >= MAX_LISTED:
            break
        record = records[at]
        for name, code in view.warned(record, success[at])[: MAX_LISTED - len(found.warnings)]:
            found.warnings.append((at, view.warning(lines[at], record, name, code)))


def _relevant(
    heads: frozenset[str] | None, records: Records, success: list[bool], unique: Iterable[Any]
) -> Iterable[int]:
    """The positions of the records `rules.relevant` keeps."""
    if heads is None:
        return range(len(records))
    overridden = map(operator.and_, success, unique)
    touched = map(operator.not_, map(heads.isdisjoint, records))
    return _where(map(operator.or_, overridden, touched))


def _where(flags: Iterable[Any]) -> Iterator[int]:
    """The positions of the true flags."""
    return itertools.compress(itertools.count(), flags)


_EMPTY: tuple[Any, ...] = (None, "", [])
"""The values `ViewWarnings.warned` counts as a recommended field missing."""
