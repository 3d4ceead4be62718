"""`registry runs append`: every record checked first, then all appended under the index lock
with fsync, or none.

Outside the lock each record is checked alone (its schema, key and time), the records of one
key against each other (later times only) and against the coordination rules; the lines are
spooled (`intake`). Under the lock the sidecar is brought up to the log, a torn last line
refuses, the records are checked against the runs the index has (an augmenting record must be
later than the run's latest), and only then is the spool appended to the log in one pass,
fsynced (on any failure the log is cut back to its size before: `written`), and indexed from what
was noted while checking (`appended`: the rows inserted meanwhile, committed once fsynced).

A retry is safe: records the log holds already, byte for byte and in order, are "already
appended" (nothing written), a partial overlap is one PARTIAL_RETRY problem (`retry`). Once the
records are fsynced the append stands: what fails after it (the sidecar, the notes log) is said
in `AppendResult.unfinished` (SIDECAR_STALE: the next query brings the sidecar up to the log),
never as if nothing had been written. Every place written is checked first (`require_safe`).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import IO, Any

from registry_pipeline.core.errors import RegistryError, problem_object
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.json_strict import gc_paused
from registry_pipeline.core.lock import DEFAULT_TIMEOUT
from registry_pipeline.core.run_index import parallel, retry, sidecar
from registry_pipeline.core.run_index.appended import Rows, index_rows
from registry_pipeline.core.run_index.checked import Context
from registry_pipeline.core.run_index.given import Batch, Readable, read_blocks
from registry_pipeline.core.run_index.index import IndexState, LogIndex, torn_error
from registry_pipeline.core.run_index.intake import Intake
from registry_pipeline.core.run_index.order import Order
from registry_pipeline.core.run_index.parallel import Item
from registry_pipeline.core.run_index.records import RecordProblem, RecordsError
from registry_pipeline.core.run_index.rules import CHUNK, RecordRules
from registry_pipeline.core.run_index.written import LogWrite
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.safe_write import require_safe_all
from registry_pipeline.core.write_path.logs import (
    NOTES_RELPATH,
    actor,
    append_record,
    check_appendable,
)

SPOOL_IN_MEMORY = 64 << 20
"""Bytes of appended lines kept in memory before the spool moves to a temporary file."""


@dataclass(frozen=True)
class Unfinished:
    """Something left undone after the records were committed: the append itself stands."""

    code: str
    path: str
    message: str

    def as_json(self) -> dict[str, object]:
        """The `error` object of `--json` (`problem_object`)."""
        return problem_object(self.code, self.message, path=self.path)


@dataclass
class AppendResult:
    """What an append did."""

    index: str
    log: str
    records: int = 0
    """Records given."""
    appended: int = 0
    """Records this append wrote (0 when they were in the log already)."""
    augmented: int = 0
    """Appended records whose run already had a record (in the index or earlier in the batch)."""
    bytes: int = 0
    already_appended: bool = False
    """Whether the log held every record given already, in order, byte for byte (a retry)."""
    first_line: int | None = None
    """The log's line of the first record given (written now or before)."""
    keys: list[str] = field(default_factory=list)
    """The keys appended, in order (the first MAX_LISTED)."""
    warnings: list[RecordProblem] = field(default_factory=list)
    """The first MAX_LISTED warnings."""
    warning_count: int = 0
    notes: int = 0
    """Findings of severity record appended to the write path's notes log."""
    unfinished: list[Unfinished] = field(default_factory=list)
    """What failed after the records were committed (SIDECAR_STALE, NOTES_NOT_RECORDED)."""

    @property
    def committed(self) -> bool:
        """Whether this append wrote and fsynced the records."""
        return self.appended > 0

    def as_json(self) -> dict[str, object]:
        """The object `registry runs append --json` prints (with `error`, the first unfinished
        thing, when something failed after the commit)."""
        document: dict[str, object] = {
            "index": self.index,
            "log": self.log,
            "records": self.records,
            "appended": self.appended,
            "already_appended": self.already_appended,
            "committed": self.committed,
            "first_line": self.first_line,
            "augmented": self.augmented,
            "bytes": self.bytes,
            "keys": self.keys,
            "warnings": [w.as_json() for w in self.warnings],
            "warning_count": self.warning_count,
            "notes": self.notes,
            "unfinished": [u.as_json() for u in self.unfinished],
        }
        if self.unfinished:
            document["error"] = self.unfinished[0].as_json()
        return document


def append_records(
    index: LogIndex,
    records: Iterable[tuple[int, Any]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    origin: str | None = None,
) -> AppendResult:
    """Append `records` ((line, value) pairs, in order) to `index`: all or none. `origin`:
    the file the records come from, named by every problem (`--record-file`)."""
    return _append(index, _batches(records), timeout, origin, 1)


def append_stream(
    index: LogIndex,
    stream: Readable,
    origin: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int | None = None,
) -> AppendResult:
    """`append_records` of the records in `stream` (`given.read_blocks`: one JSON object, or
    JSONL), a bulk input checked in `workers` processes (default: one per core)."""
    count = parallel.jobs() if workers is None else workers
    return _append(index, read_blocks(stream, origin), timeout, origin, count)


def _append(
    index: LogIndex, items: Iterable[Item], timeout: float, origin: str | None, workers: int
) -> AppendResult:
    try:
        result = _append_records(index, items, timeout, origin or "", workers)
    except RecordsError as exc:
        raise exc.at(origin) from None
    result.warnings = [warning.at(origin) for warning in result.warnings]
    return result


def _batches(records: Iterable[tuple[int, Any]]) -> Iterator[Batch]:
    """`records` in batches of CHUNK, each record to be encoded."""
    batch: list[tuple[int, Any]] = []
    for item in records:
        batch.append(item)
        if len(batch) >= CHUNK:
            yield Batch(batch)
            batch = []
    yield Batch(batch)


def _append_records(
    index: LogIndex, items: Iterable[Item], timeout: float, origin: str, workers: int
) -> AppendResult:
    spec = index.spec
    notes_log = index.root / NOTES_RELPATH
    spool_dir = index.sidecar.parent
    require_safe_all(index.root, [index.log, index.lock_path, index.sidecar, notes_log])
    rules = RecordRules(index.root, index.catalog, spec)
    context = Context(spec, SchemaCatalog.for_workspace(index.root), rules.heads)
    result = AppendResult(spec.registry_id, spec.source)
    order = Order()
    spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, mode="w+b", dir=str(spool_dir)) as spool:
        try:
            intake = Intake(spec, rules, order, spool)
            with gc_paused(), closing(parallel.checked(context, items, origin, workers)) as found:
                for checked, block in found:  # a million records: millions of acyclic objects
                    intake.take(checked, block)
            intake.finish()
            result.records = order.count
            result.keys = intake.keys
            result.warnings, result.warning_count = intake.warnings, intake.warning_count
            if _already_appended(index, order, spool, result, index.sync().covered):
                return result  # read from a current sidecar: nothing written, no lock taken
            if intake.notes:  # a torn notes log refuses before the records are written, not after
                check_appendable(notes_log)
            with index.locked(timeout):  # type: ignore[attr-defined]
                _append_locked(index, order, spool, result, intake.rows)
        finally:
            order.close()
            rules.close()
    if result.committed:
        _record_notes(index, intake.notes, result)
    return result


def _already_appended(
    index: LogIndex, order: Order, spool: IO[bytes], result: AppendResult, covered: int
) -> bool:
    """Whether the log holds every record given (after `sync`); a partial overlap refuses."""
    found = retry.find_overlap(index, order, spool, covered)
    if found is None or not found.retried:
        return False
    result.already_appended = True
    result.first_line = found.first_line
    return True


def _record_notes(index: LogIndex, notes: list[RecordProblem], result: AppendResult) -> None:
    """Append the findings of severity record to the notes log, after the commit."""
    path = index.root / NOTES_RELPATH
    try:
        for note in notes:
            append_record(
                path,
                {
                    "recorded_utc": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "who": actor(),
                    "index": index.spec.registry_id,
                    **note.as_json(),
                },
            )
            result.notes += 1
    except (RegistryError, OSError) as exc:
        reason = exc.message if isinstance(exc, RegistryError) else exc.strerror or str(exc)
        result.unfinished.append(
            Unfinished(
                "NOTES_NOT_RECORDED",
                str(path),
                f"the records are appended, but {len(notes) - result.notes} finding(s) of "
                f"severity record could not be added to the notes log ({reason})",
            )
        )


def _append_locked(
    index: LogIndex, order: Order, spool: IO[bytes], result: AppendResult, rows: Rows
) -> None:
    spec = index.spec
    state = index.sync(locked=True)
    if state.torn:
        raise torn_error(index, state)
    found = retry.find_overlap(index, order, spool, state.covered)
    if found is not None and found.retried:
        result.already_appended, result.first_line = True, found.first_line
        return
    if found is not None and not found.complete:
        raise retry.partial_retry(found, order)
    conflicts = [
        RecordProblem(
            line,
            f"/{spec.time}",
            "AUGMENT_NOT_LATER",
            f"the index's latest record of {key} was written at the same time or later "
            f"({spec.updated}, else {spec.time}; then {spec.time}): a record augmenting a run "
            "must come after its latest",
            key,
        )
        for line, key in order.against(index.db)
    ]  # `against` also counts the batch's keys the index does not have (order.new_keys)
    if conflicts:
        raise RecordsError(
            conflicts,
            len(conflicts),
            code="AUGMENT_NOT_LATER",
            refused=True,
            summary=None if found is None else retry.followed_by_others(found, len(conflicts)),
        )
    crash_point("run_index_checked")
    fd = os.open(index.log, os.O_RDWR | os.O_APPEND)
    try:
        start = os.fstat(fd).st_size
        if start != state.covered:
            raise torn_error(index, state)  # written by hand since the sync: look again
        _write_and_index(index, spool, fd, state, result, order, rows)
    finally:
        os.close(fd)


def _write_and_index(
    index: LogIndex,
    spool: IO[bytes],
    fd: int,
    state: IndexState,
    result: AppendResult,
    order: Order,
    rows: Rows,
) -> None:
    """Append the spool to the log (`written.LogWrite`, in a thread) while the sidecar's rows are
    inserted; the sidecar commits once the records are fsynced (a failed write rolls it back:
    nothing appended). A failure of the sidecar after that leaves it behind the log, which is
    consistent (the next sync indexes them), and is said as SIDECAR_STALE."""
    start = state.covered
    try:
        previous: int | None = int(sidecar.meta(index.db).get("covered", "0")) if start else 0
    except (sqlite3.Error, ValueError):
        previous = None  # the sidecar's problem, said by `index_rows`: no digests meanwhile
    writing = LogWrite(str(index.log), spool, fd, start, previous)

    def committed() -> None:
        """The records written and fsynced (once), or the write's error: nothing appended."""
        if not result.appended:
            result.bytes = writing.wait()
            result.appended = order.count
            result.augmented = order.count - order.new_keys  # batch-sized work
            result.first_line = state.lines + 1
            crash_point("run_index_written")

    def written() -> list[bytes] | None:
        committed()
        return writing.digests()

    why = index.fallback.message if index.private and index.fallback else None
    writing.start()
    try:
        index_rows(index.db, index.spec, fd, start, order, rows, written)
    except (sqlite3.Error, OSError) as exc:
        committed()  # the append stands only once written: a failed write raises here
        index.close()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    finally:
        writing.wait_quietly()
    if why is None:
        crash_point("run_index_indexed")
        return
    result.unfinished.append(
        Unfinished(
            "SIDECAR_STALE",
            str(index.sidecar),
            f"the {result.appended} record(s) are appended (written and fsynced), but the "
            f"sidecar index could not be updated: {why}. The index stays consistent: the next "
            "query or append brings the sidecar up to the log, or `registry runs repair "
            "--reindex` rebuilds it",
        )
    )
