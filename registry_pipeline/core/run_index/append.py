"""`registry runs append`: every record checked first, then all appended under the index lock
with fsync, or none.

Outside the lock each record is checked alone (its schema, key and time), the records of one
key against each other (later times only) and against the coordination rules; the lines are
spooled. Under the lock the sidecar is brought up to the log, a torn last line refuses, the
records are checked against the runs the index has (an augmenting record must be later than
the run's latest), and only then is the spool appended to the log in one pass, fsynced (on any
failure the log is cut back to its size before), and indexed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.pointers._lock import DEFAULT_TIMEOUT
from registry_pipeline.core.run_index import sidecar
from registry_pipeline.core.run_index.index import LogIndex, torn_error
from registry_pipeline.core.run_index.records import (
    MAX_LISTED,
    RecordProblem,
    RecordsError,
    encode,
    record_problems,
)
from registry_pipeline.core.run_index.rules import CHUNK, Order, RecordRules
from registry_pipeline.core.run_index.spec import parse_time
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.write_path.logs import (
    NOTES_RELPATH,
    actor,
    append_record,
    check_appendable,
)

SPOOL_IN_MEMORY = 64 << 20
"""Bytes of appended lines kept in memory before the spool moves to a temporary file."""


@dataclass
class AppendResult:
    """What an append did."""

    index: str
    log: str
    appended: int = 0
    augmented: int = 0
    """Appended records whose run already had a record (in the index or earlier in the batch)."""
    bytes: int = 0
    keys: list[str] = field(default_factory=list)
    """The keys appended, in order (the first MAX_LISTED)."""
    warnings: list[RecordProblem] = field(default_factory=list)
    """The first MAX_LISTED warnings."""
    warning_count: int = 0
    notes: int = 0
    """Findings of severity record appended to the write path's notes log."""

    def as_json(self) -> dict[str, object]:
        """The object `registry runs append --json` prints."""
        return {
            "index": self.index,
            "log": self.log,
            "appended": self.appended,
            "augmented": self.augmented,
            "bytes": self.bytes,
            "keys": self.keys,
            "warnings": [w.as_json() for w in self.warnings],
            "warning_count": self.warning_count,
            "notes": self.notes,
        }


def append_records(
    index: LogIndex, records: Iterable[tuple[int, Any]], *, timeout: float = DEFAULT_TIMEOUT
) -> AppendResult:
    """Append `records` ((line, value) pairs, in order) to `index`: all or none."""
    spec = index.spec
    schemas = SchemaCatalog.for_workspace(index.root)
    rules = RecordRules(index.root, index.catalog, spec)
    result = AppendResult(spec.registry_id, spec.source)
    order = Order()
    spool_dir = sidecar.sidecar_path(index.root, spec).parent
    spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, mode="w+b", dir=str(spool_dir)) as spool:
        try:
            notes = _check_all(index, records, schemas, rules, order, spool, result)
            if notes:  # a torn notes log refuses before the records are written, not after
                check_appendable(index.root / NOTES_RELPATH)
            with index.locked(timeout):  # type: ignore[attr-defined]
                _append_locked(index, order, spool, result)
        finally:
            order.close()
    for note in notes:
        append_record(
            index.root / NOTES_RELPATH,
            {
                "recorded_utc": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "who": actor(),
                "index": spec.registry_id,
                **note.as_json(),
            },
        )
    result.notes = len(notes)
    return result


def _check_all(
    index: LogIndex,
    records: Iterable[tuple[int, Any]],
    schemas: SchemaCatalog,
    rules: RecordRules,
    order: Order,
    spool: IO[bytes],
    result: AppendResult,
) -> list[RecordProblem]:
    """Check every record and spool the valid ones; RecordsError when any is refused."""
    spec = index.spec
    invalid: list[RecordProblem] = []
    refused: list[RecordProblem] = []
    notes: list[RecordProblem] = []
    total_invalid = 0
    chunk: list[tuple[int, dict[str, Any]]] = []

    def warn(found: list[RecordProblem]) -> None:
        result.warnings.extend(found[: max(0, MAX_LISTED - len(result.warnings))])
        result.warning_count += len(found)

    def judge() -> None:
        for problem in rules.coordination_problems(chunk):
            if problem.severity == "warning":
                warn([problem])
            else:
                (refused if problem.severity == "error" else notes).append(problem)
        order.add((line, r[spec.key], parse_time(r[spec.time]) or 0) for line, r in chunk)
        chunk.clear()

    for line, record in records:
        problems = record_problems(spec, schemas, line, record)
        if problems:
            total_invalid += len(problems)
            invalid.extend(problems[: max(0, MAX_LISTED - len(invalid))])
            continue
        if total_invalid:
            continue  # refused anyway: only the remaining records' own problems count
        spool.write(encode(record))
        warn(rules.warnings(line, record))
        if len(result.keys) < MAX_LISTED:
            result.keys.append(record[spec.key])
        chunk.append((line, record))
        if len(chunk) >= CHUNK:
            judge()
    if invalid:
        raise RecordsError(invalid, total_invalid, code=_code(invalid, "RECORD_INVALID"))
    judge()
    if order.count == 0:
        raise UsageError("no records given (empty input)", code="NO_RECORDS")
    later = [
        RecordProblem(line, f"/{spec.time}", "AUGMENT_NOT_LATER", _earlier_in_batch(spec), key)
        for line, key in order.not_later()
    ]
    if later:
        raise RecordsError(later, len(later), code="AUGMENT_NOT_LATER")
    if refused:
        raise RecordsError(refused, len(refused), code="RECORD_REFUSED", refused=True)
    return notes


def _append_locked(index: LogIndex, order: Order, spool: IO[bytes], result: AppendResult) -> None:
    spec = index.spec
    state = index.sync(locked=True)
    if state.torn:
        raise torn_error(index, state)
    conflicts = [
        RecordProblem(
            line,
            f"/{spec.time}",
            "AUGMENT_NOT_LATER",
            f"the index's latest record of {key} is at the same time or later: a record "
            f"augmenting a run must be later than its latest",
            key,
        )
        for line, key, _latest in order.against(index.db)
    ]  # `against` also counts the batch's keys the index does not have (order.new_keys)
    if conflicts:
        raise RecordsError(conflicts, len(conflicts), code="AUGMENT_NOT_LATER", refused=True)
    fd = os.open(index.log, os.O_RDWR | os.O_APPEND)
    try:
        start = os.fstat(fd).st_size
        if start != state.covered:
            raise torn_error(index, state)  # written by hand since the sync: look again
        spool.seek(0)
        try:
            written = _copy(spool, fd)
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, start)  # all or none
            os.fsync(fd)
            raise
        sidecar.index_appended(index.db, spec, index.log, start, fd)
    finally:
        os.close(fd)
    result.appended = order.count
    result.augmented = order.count - order.new_keys  # batch-sized work, never index-sized
    result.bytes = written


def _copy(spool: IO[bytes], fd: int) -> int:
    total = 0
    while True:
        block = spool.read(1 << 20)
        if not block:
            return total
        view = memoryview(block)
        while view:
            count = os.write(fd, view)
            view = view[count:]
            total += count


def _earlier_in_batch(spec: Any) -> str:
    return (
        f"an earlier record given has the same {spec.key} at an equal or later {spec.time}: "
        "a record augmenting a run must be later than its previous one"
    )


def _code(problems: list[RecordProblem], default: str) -> str:
    codes = {problem.code for problem in problems}
    return codes.pop() if len(codes) == 1 else default
