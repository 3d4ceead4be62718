"""`registry runs append` and `import`: one path for one record or a million, all or none."""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import Problem, RegistryError, UsageError
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.fs import open_file, require_safe_all
from registry_pipeline.core.json_strict import dumps_compact, fast_codec, gc_paused
from registry_pipeline.core.lock import DEFAULT_TIMEOUT
from registry_pipeline.core.run_index.index import (
    IndexState,
    LogIndex,
    torn_error,
    unreadable_error,
)
from registry_pipeline.core.run_index.records import (
    MAX_LISTED,
    Batch,
    Item,
    Order,
    Readable,
    RecordsError,
    Warnings,
    batched,
    encode,
    items,
    judged,
    located,
    parsed,
    record_problem,
)
from registry_pipeline.core.run_index.rules import CHUNK, RecordRules, relevant
from registry_pipeline.core.run_index.sidecar import (
    BATCH,
    Held,
    add_columns,
    counters,
    create_query_indexes,
    drop_query_indexes,
    finish,
    transaction,
)
from registry_pipeline.core.run_index.spec import IndexSpec
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.verified import SetAside
from registry_pipeline.core.write_path.logs import (
    NOTES_RELPATH,
    actor,
    append_record,
    check_appendable,
)

WRITE_BLOCK = 1 << 20
"""Bytes appended per write (a crash between two writes leaves a prefix: a torn line)."""
SPOOL_IN_MEMORY = 64 << 20
"""Bytes of appended lines kept in memory before the spool moves to a temporary file."""
CANDIDATES = 16
"""Lines of the log holding the first record's key and time that a retry looks at."""

Progress = Callable[[int], None]
"""Told the number of records checked so far, after each block."""
MAX_JOBS = 8
"""Worker processes at most."""
IN_FLIGHT = 3
"""Blocks per worker submitted ahead of the one taken."""


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
    warnings: list[Problem] = field(default_factory=list)
    """The first MAX_LISTED warnings."""
    warning_count: int = 0
    notes: int = 0
    """Findings of severity record appended to the write path's notes log."""
    unfinished: list[Problem] = field(default_factory=list)
    """What failed after the records were committed (SIDECAR_STALE, NOTES_NOT_RECORDED)."""

    @property
    def committed(self) -> bool:
        """Whether this append wrote and fsynced the records."""
        return self.appended > 0

    def as_json(self) -> dict[str, object]:
        """The object `registry runs append --json` prints (`error`: the first unfinished)."""
        document: dict[str, object] = {name: getattr(self, name) for name in JSON_KEYS}
        document.update(
            warnings=[w.as_json() for w in self.warnings],
            unfinished=[u.as_json() for u in self.unfinished],
        )
        if self.unfinished:
            document["error"] = self.unfinished[0].as_json()
        return document


JSON_KEYS = ("index", "log", "records", "appended", "already_appended", "committed",
             "first_line", "augmented", "bytes", "keys", "warnings", "warning_count", "notes",
             "unfinished")  # fmt: skip
"""The keys of `AppendResult.as_json`, in the order `--json` has always printed them."""

_WORK: tuple[Check, str] | None = None
"""What the workers check with (set before they are forked, and inherited)."""


# --- the entries ---------------------------------------------------------------------------


def append_records(
    index: LogIndex,
    records: Iterable[tuple[int, Any]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    origin: str | None = None,
) -> AppendResult:
    """Append `records` ((line, value) pairs, in order) to `index`: all or none."""
    batches = (Batch(part) for part in batched(iter(records), CHUNK))
    return _append(index, batches, origin, timeout, None)


def append_stream(
    index: LogIndex,
    stream: Readable,
    origin: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    workers: int | None = None,
) -> AppendResult:
    """`append_records` of `stream` (JSON or JSONL), its blocks checked in `workers` processes."""
    count = jobs() if workers is None else workers
    return _append(index, items(stream, origin), origin, timeout, progress, count)


def _append(
    index: LogIndex,
    items: Iterable[Item],
    origin: str | None,
    timeout: float,
    progress: Progress | None,
    workers: int = 1,
) -> AppendResult:
    notes_log = index.root / NOTES_RELPATH
    # the sidecar's folder: what stands in the sidecar's place is the index's to set aside (a
    # cache), under the lock, where it checks the sidecar itself again
    require_safe_all(index.root, [index.log, index.lock_path, index.sidecar.parent, notes_log])
    who = actor()  # BAD_ACTOR before anything is written, not after the commit
    index.sidecar.parent.mkdir(parents=True, exist_ok=True)
    rules = RecordRules(index.root, index.catalog, index.spec)
    folder = index.sidecar.parent
    try:
        with (
            tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, mode="w+b", dir=str(folder)) as spool,
            gc_paused(),  # a million records: millions of acyclic objects
        ):
            intake = _Intake(index, rules, spool)  # marks the pair's other log before reading it
            check = Check(index.spec, SchemaCatalog.for_workspace(index.root), rules.heads)
            for checked in _checked(check, items, origin or "", workers):
                intake.take(checked)
                if progress is not None:
                    progress(intake.seen)
            result = intake.finish()
            found = _already_appended(index, intake, index.sync().covered)
            if found is None or not found.retried:
                if intake.notes:  # a torn notes log refuses before the records are written
                    check_appendable(notes_log)
                crash_point("run_index_judged")
                with _locked(index, intake, timeout):
                    _append_locked(index, intake)
    except RecordsError as exc:
        raise exc.at(origin) from None
    finally:
        index.set_aside.extend(_set_aside_by_others(rules))  # the other logs', said with ours
        rules.close()
    if result.committed:
        _record_notes(index, intake.notes, result, who)
    result.warnings = [located(warning, origin) for warning in result.warnings]
    return result


def _set_aside_by_others(rules: RecordRules) -> list[SetAside]:
    """What the sidecars of the other logs the rules read set aside (the overrides log's, the
    run index's of an overrides log, a looked-up log's), each taken once."""
    logs = [rules.overrides, rules.reliance.log, *rules.looked_up.values()]
    taken: list[SetAside] = []
    for log in logs:
        if log is not None:
            taken += log.index.set_aside
            log.index.set_aside.clear()
    return taken


# --- checking, outside the lock ------------------------------------------------------------


@dataclass
class Checked:
    """What checking one batch's records alone found, wherever it ran (here or in a worker)."""

    seen: int = 0
    problems: list[Problem] = field(default_factory=list)
    """The first MAX_LISTED problems of the batch's records."""
    problem_count: int = 0
    rows: tuple[Sequence[Any], ...] = ()
    """Each valid record's fields in columns (pickled arrays between processes); none if refused."""
    marks: list[tuple[Any, ...]] = field(default_factory=list)
    """The `sidecar.marks` the rows number."""
    warnings: list[tuple[int, Problem]] = field(default_factory=list)
    """(row, warning): the batch's first MAX_LISTED warnings."""
    relevant: list[tuple[int, tuple[int, dict[str, Any]]]] = field(default_factory=list)
    """(row, (line, record)) of the records the rules can say anything about."""
    data: bytes = b""
    """The rows' lines as appended."""
    given: bool = False
    """Whether `data` is the block as given (a worker sends it back empty: `_taken`)."""


class Check:
    """Checks each record of a batch alone (`records.judged`, its view's warnings, `Held`)."""

    def __init__(self, spec: IndexSpec, schemas: SchemaCatalog, heads: frozenset[str] | None):
        self.spec = spec
        self.schemas = schemas
        self.schema = schemas.for_artifact(spec.artifact)
        self.heads = heads
        """`RecordRules.heads`."""
        self.view = Warnings(spec)
        self.held = Held(spec)

    def __call__(self, batch: Batch) -> Checked:
        spec, found, records = self.spec, Checked(seen=len(batch.records)), batch.records
        schema, values = self.schema, [record for _line, record in records]
        valid = schema is None or bool(
            batch.plain and self.schemas.is_all_valid(schema.schema_id, values)
        )
        schemas, heads, view, held = self.schemas, self.heads, self.view, self.held
        lines, made, written, warned, ids = (array("q") for _ in range(5))
        for line, record in records:
            problems, created, updated = judged(spec, schemas, line, record, schema_valid=valid)
            if problems:
                found.problem_count += len(problems)
                found.problems.extend(problems[: max(0, MAX_LISTED - len(found.problems))])
            if found.problem_count:
                continue  # refused anyway: only the records' own problems count
            ids.append(held(record))
            marks = held.marks[ids[-1]]
            warnings = view.warned(record, bool(marks[0]))
            if warnings and len(found.warnings) < MAX_LISTED:
                for name, code in warnings[: MAX_LISTED - len(found.warnings)]:
                    found.warnings.append((len(lines), view.warning(line, record, name, code)))
            if relevant(heads, record, overridden=bool(marks[0] and marks[2])):
                found.relevant.append((len(lines), (line, record)))
            lines.append(line)
            made.append(created)
            written.append(updated)
            warned.append(len(warnings))
        if found.problem_count or not values:
            return found
        sizes = batch.sizes
        if sizes is None:
            encoded = list(map(encode, values))
            found.data, sizes = b"".join(encoded), [len(line) - 1 for line in encoded]
        else:
            found.data = batch.lines or b""
        keys = [record[spec.key] for record in values]
        found.rows = (lines, keys, made, written, array("q", sizes), warned, ids)
        found.rows += tuple(held.columns(values))
        found.marks = held.marks
        return found

    def prepare(self) -> None:
        """Compile the schema's checks and import the encoder before forking workers."""
        if self.schema is not None:
            self.schemas.is_all_valid(self.schema.schema_id, [])
        fast_codec()


class _Intake:
    """The records given, checked and spooled a batch at a time, then refused or accepted."""

    def __init__(self, index: LogIndex, rules: RecordRules, spool: IO[bytes]) -> None:
        self.spec = index.spec
        self.rules = rules
        self.spool = spool
        self.order = Order()
        self.keys: list[str] = []
        self.sizes = array("q")
        self.held: list[Any] = [array("q"), *([] for _ in range(1 + len(self.spec.lanes)))]
        """Per valid record, in columns: the number of its `marks` in `marks`, `Held.columns`."""
        self.marks: dict[tuple[Any, ...], int] = {}
        self.result = AppendResult(self.spec.registry_id, self.spec.source)
        self.invalid: list[Problem] = []
        self.invalid_count = 0
        self.refused: list[Problem] = []
        self.notes: list[Problem] = []
        """Findings of severity record (appended to the notes log after the commit)."""
        self.chunk: list[tuple[int, dict[str, Any]]] = []
        """The records of the current CHUNK the rules can say anything about."""
        self.partner = rules.partner()
        self.mark = None if self.partner is None else self.partner.mark()
        """The pair's other log as it was before the rules read it (`recheck`)."""
        self.crossed = array("q")
        """Positions of the records whose verdict depends on the other log (`_named`)."""
        self.seen = 0
        """Records given so far."""

    def take(self, checked: Checked) -> None:
        """The next batch: its problems counted, else its records ordered, noted and spooled."""
        result = self.result
        self.seen += checked.seen
        if checked.problem_count:
            self.invalid_count += checked.problem_count
            self.invalid.extend(checked.problems[: max(0, MAX_LISTED - len(self.invalid))])
        if self.invalid_count or not checked.rows:
            return  # refused anyway: only the remaining records' own problems count
        lines, keys, created, updated, sizes, warned, ids, *held = checked.rows
        marks = [self.marks.setdefault(found, len(self.marks)) for found in checked.marks]
        base = self.order.count
        self.order.extend(lines, keys, created, updated)
        self.keys.extend(keys)
        self.sizes.extend(sizes)
        self.held[0].extend(map(marks.__getitem__, ids))
        for column, given in zip(self.held[1:], held, strict=True):
            column.extend(given)
        result.keys.extend(keys[: max(0, MAX_LISTED - len(result.keys))])
        result.warning_count += sum(warned)
        warnings, relevant = iter(checked.warnings), iter(checked.relevant)
        warning, chosen = next(warnings, None), next(relevant, None)
        at = 0
        while at < len(keys):  # up to each CHUNK of the records given, then the rules judge it
            at = min(len(keys), at + CHUNK - (base + at) % CHUNK)
            while warning is not None and warning[0] < at:
                if len(result.warnings) < MAX_LISTED:
                    result.warnings.append(warning[1])
                warning = next(warnings, None)
            while chosen is not None and chosen[0] < at:
                self.chunk.append(chosen[1])
                if self.rules.pair_key(chosen[1][1]) is not None:
                    self.crossed.append(base + chosen[0])
                chosen = next(relevant, None)
            if (base + at) % CHUNK == 0:
                self._judge()
        self.spool.write(checked.data)

    def _judge(self) -> None:
        """The overrides' and coordination rules' findings about the current CHUNK."""
        for problem in self.rules.problems(self.chunk):
            if problem.severity == "warning":
                self.result.warning_count += 1
                if len(self.result.warnings) < MAX_LISTED:
                    self.result.warnings.append(problem)
            else:
                (self.refused if problem.severity == "error" else self.notes).append(problem)
        self.chunk = []

    def recheck(self) -> list[Problem]:
        """The override rule's errors again, for what the other log gained since it was read."""
        if self.partner is None or not self.crossed:
            return []
        try:
            appended = self.partner.appended_since(self.mark)
            return [] if appended is None else self.rules.recheck(appended, self._named)
        except OSError as exc:
            return [self.rules.unreadable_partner(exc.strerror or str(exc))]

    def _named(self, names: set[str]) -> list[tuple[int, dict[str, Any]]]:
        """(line, record) of each record given that names one of `names` (from the spool)."""
        found: list[tuple[int, dict[str, Any]]] = []
        if not names:
            return found
        # a line names an override as its compact encoding writes it (each line is that)
        needles = [dumps_compact(name).encode() for name in names]
        crossed = iter(self.crossed)  # in order: read back a line at a time, the rest skipped
        target = next(crossed, None)
        starts = itertools.accumulate((size + 1 for size in self.sizes), initial=0)
        for at, start in enumerate(starts):
            if target is None:
                break
            if at == target:
                self.spool.seek(start)
                line = self.spool.read(self.sizes[at])
                if any(needle in line for needle in needles):
                    record = json.loads(line)
                    if self.rules.pair_key(record) in names:
                        found.append((self.order.lines[at], record))
                target = next(crossed, None)
        return found

    def finish(self) -> AppendResult:
        """The result so far; RecordsError when a record is refused, NO_RECORDS for none."""
        if self.invalid:
            codes = {problem.code for problem in self.invalid}
            code = codes.pop() if len(codes) == 1 else "RECORD_INVALID"
            raise RecordsError(self.invalid, self.invalid_count, code=code)
        self._judge()
        if self.order.count == 0:
            raise UsageError("no records given (empty input)", code="NO_RECORDS")
        spec = self.spec
        message = (
            f"an earlier record given has the same {spec.key} and is not before this one "
            f"{order_words(spec)}: a record augmenting a run must come after its previous one"
        )
        later = [
            record_problem(line, f"/{spec.time}", "AUGMENT_NOT_LATER", message, key)
            for line, key in self.order.later
        ]
        if later:
            raise RecordsError(later, len(later), code="AUGMENT_NOT_LATER")
        if self.refused:
            raise RecordsError(self.refused, len(self.refused), code="RECORD_REFUSED", refused=True)
        self.result.records = self.order.count
        return self.result


# --- under the lock --------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(index: LogIndex, intake: _Intake, timeout: float) -> Iterator[None]:
    """The index's lock, after its overrides log's when records name an override: waiting
    for that one, it holds none a plain append needs (an overrides log's append takes only
    its own, and reads what its run index gained without a lock)."""
    overrides = intake.rules.overrides
    if overrides is None or not intake.crossed:
        with index.locked(timeout):
            yield
        return
    deadline = time.monotonic() + timeout
    with overrides.index.locked(timeout), index.locked(max(0.0, deadline - time.monotonic())):
        yield


def _append_locked(index: LogIndex, intake: _Intake) -> None:
    """Check the records against the log (and its pair's other log) as it is, then append."""
    spec, order, result = index.spec, intake.order, intake.result
    state = index.sync(locked=True)
    if state.torn:
        raise torn_error(index, state)
    if state.skipped_count:
        raise unreadable_error(index, state)
    found = _already_appended(index, intake, state.covered)
    if found is not None and found.retried:
        return
    if found is not None and not found.complete:
        raise _partial_retry(found, order)
    conflicts, known = against(index.db, order)
    if conflicts:
        later = (
            f"is not before this one {order_words(spec)}: a record augmenting a run must come "
            "after its latest"
        )
        problems = [
            record_problem(line, f"/{spec.time}", "AUGMENT_NOT_LATER",
                           f"the index's latest record of {key} {later}", key)
            for line, key in conflicts
        ]  # fmt: skip
        summary = None if found is None else _followed_by_others(found, len(problems))
        raise RecordsError(problems, len(problems), code="AUGMENT_NOT_LATER", refused=True,
                           summary=summary)  # fmt: skip
    refused = intake.recheck()  # the other log may have gained records meanwhile
    if refused:
        raise RecordsError(refused, len(refused), code="RECORD_REFUSED", refused=True)
    crash_point("run_index_checked")
    result.bytes = _write(index, intake.spool, state)
    result.appended = order.count
    result.augmented = order.count - (len(order.first) - known)
    result.first_line = state.lines + 1
    crash_point("run_index_written")
    why = index.fallback.message if index.private and index.fallback else None
    try:
        _index(index, intake, state.covered, state.lines)
    except (sqlite3.Error, OSError) as exc:
        index.close()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if why is None:
        crash_point("run_index_indexed")
        return
    result.unfinished.append(
        Problem(
            code="SIDECAR_STALE",
            path=str(index.sidecar),
            message=f"the {result.appended} record(s) are appended (written and fsynced), but the "
            f"sidecar index could not be updated: {why}. The index stays consistent: the next "
            "query or append brings the sidecar up to the log, or `registry runs repair "
            "--reindex` rebuilds it",
        )
    )


def order_words(spec: IndexSpec) -> str:
    """How a run's records are ordered, in the words of every AUGMENT_NOT_LATER (`Order`)."""
    return (
        f"(ordered by {spec.time}, then {spec.updated}, which is {spec.time} when absent: a "
        f"later {spec.time} comes after whatever {spec.updated} says)"
    )


def against(db: sqlite3.Connection, order: Order) -> tuple[list[tuple[int, str]], int]:
    """(line, key) of each key's first record not after its run's latest, and the keys known."""
    conflicts: list[tuple[int, str]] = []
    known = 0
    if db.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None:
        return conflicts, known  # an empty index has none of them
    for part in batched(iter(order.first.items()), 500):
        marks = ", ".join("?" * len(part))
        latest = {
            key: (created, updated)
            for key, created, updated in db.execute(
                f"SELECT key, last_t, last_c FROM runs WHERE key IN ({marks})",
                [key for key, _at in part],
            )
        }
        known += len(latest)
        conflicts.extend(
            (order.lines[at], key)
            for key, at in part
            if key in latest and order.place(at) <= latest[key]
        )
    return conflicts, known


def _write(index: LogIndex, spool: IO[bytes], state: IndexState) -> int:
    """Append the spool fsynced under the lock: the bytes written; cut back on any failure."""
    start = state.covered
    fd = os.open(index.log, os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    try:
        if os.fstat(fd).st_size != start:
            raise torn_error(index, state)  # written by hand since the sync: look again
        spool.seek(0)
        written = 0
        try:
            while block := spool.read(WRITE_BLOCK):
                if written:
                    crash_point("run_index_block")  # between two writes: the log holds a prefix
                jsonl.write_all(fd, block)
                written += len(block)
            os.fsync(fd)
        except BaseException as exc:
            jsonl.cut(fd, start)
            if isinstance(exc, OSError):
                raise RegistryError(
                    f"cannot append to the log ({exc.strerror or exc}): nothing was appended "
                    f"(the log is cut back to its {start} bytes)",
                    code="IO_ERROR",
                    path=str(index.log),
                ) from None
            raise
        return written
    finally:
        os.close(fd)


def _index(index: LogIndex, intake: _Intake, start: int, line: int) -> None:
    """Index the records just written at `start` (after `line` lines) in one transaction."""
    db, spec, order = index.db, index.spec, intake.order
    count = len(intake.keys)
    ends = itertools.accumulate(map((1).__add__, intake.sizes), initial=start)
    offsets = array("q", itertools.islice(ends, count))  # each record's: where the one before ends
    numbers = array("q", range(line + 1, line + 1 + count))
    columns = (intake.keys, order.created, order.updated, offsets, intake.sizes, numbers,
               *intake.held)  # fmt: skip
    parts = ([column[at : at + BATCH] for column in columns] for at in range(0, count, BATCH))
    seq, _line = counters(db)
    with transaction(db), open_file(index.log, follow_symlinks=True) as log:
        bulk = count >= seq  # no fewer rows than the sidecar has: index them after
        if bulk:
            drop_query_indexes(db)
        last = add_columns(db, spec, parts, seq, list(intake.marks))
        if bulk:
            create_query_indexes(db)
        before = os.fstat(log.fileno())
        end = start + intake.result.bytes
        finish(db, log.fileno(), start, end, last, line + count, before)


# --- a retry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overlap:
    """Where the records given are in the log, and how many of them."""

    matched: int
    """Records given, from the first, that the log holds in that order."""
    given: int
    first_line: int
    """The log's line holding the first record given."""
    at_end: bool
    """Whether the records matched are the log's last lines."""

    @property
    def complete(self) -> bool:
        """Whether every record given is in the log, in order."""
        return self.matched == self.given

    @property
    def retried(self) -> bool:
        """Whether the records given are the log's last records: a retry ("already appended")."""
        return self.complete and self.at_end


def _already_appended(index: LogIndex, intake: _Intake, covered: int) -> Overlap | None:
    """Where the spooled records already are in the log's first `covered` bytes, else None."""
    key, (created, updated) = intake.keys[0], intake.order.place(0)
    rows = index.db.execute(
        "SELECT off, line FROM records WHERE key = ? AND t = ? AND c = ? ORDER BY seq LIMIT ?",
        (key, created, updated, CANDIDATES),
    ).fetchall()
    best: Overlap | None = None
    if not rows:
        return best
    with open_file(index.log, follow_symlinks=True) as log:  # a FIFO swapped in: no hang
        for off, line in rows:
            matched, size = _matching(log.fileno(), intake.spool, off, covered)
            if not matched:
                continue  # not even the first record given is there
            if best is None or matched > best.matched:
                best = Overlap(matched, intake.order.count, line, off + size == covered)
    if best is not None and best.retried:
        intake.result.already_appended, intake.result.first_line = True, best.first_line
    return best


def _matching(fd: int, spool: IO[bytes], start: int, covered: int) -> tuple[int, int]:
    """(lines, bytes) of the spool's leading whole lines that the log holds from `start` on."""
    spool.seek(0)
    lines = size = position = 0
    while mine := spool.read(WRITE_BLOCK):
        room = max(0, min(len(mine), covered - start - position))
        theirs = os.pread(fd, room, start + position)
        same = jsonl.common_length(mine, theirs)
        cut = mine.rfind(b"\n", 0, same)
        if cut >= 0:
            lines += mine.count(b"\n", 0, cut + 1)
            size = position + cut + 1
        if same < len(mine):
            break
        position += len(mine)
    return lines, size


def _partial_retry(found: Overlap, order: Order) -> RecordsError:
    """The refusal of a partial overlap: one problem, at the first record not matched."""
    k, n = found.matched, found.given
    last = found.first_line + k - 1
    lines = f"line {last}" if k == 1 else f"lines {found.first_line}..{last}"
    at = order.lines[k] if k < order.count else 0
    if found.at_end:
        message = (
            f"the first {k} of the {n} records given are already the log's last {k} ({lines}): "
            f"an earlier append of these records stopped after {k} of them. Nothing was "
            f"written; append the other {n - k}, from input line {at} on"
        )
    else:
        message = (
            f"the first {k} of the {n} records given are the log's {lines}, but the record at "
            f"input line {at} differs from what the log holds next: these records overlap "
            "the log and differ from it. Nothing was written"
        )
    problem = record_problem(at, "", "PARTIAL_RETRY", message, counts=(k, n))
    return RecordsError([problem], 1, code="PARTIAL_RETRY", refused=True, summary=message)


def _followed_by_others(found: Overlap, conflicts: int) -> str:
    """The summary of refused records the log holds, in order, before others (not a retry)."""
    last = found.first_line + found.given - 1
    return (
        f"{conflicts} problem(s) in the records: all {found.given} records given are in the log "
        f"already, byte for byte and in order (lines {found.first_line}..{last}), but other "
        "records follow them, so this is not a retry of the last append; nothing was written"
    )


def _record_notes(index: LogIndex, notes: list[Problem], result: AppendResult, who: str) -> None:
    """Append the findings of severity record to the notes log, after the commit."""
    path = index.root / NOTES_RELPATH
    try:
        for note in notes:
            append_record(
                path,
                {
                    "recorded_utc": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "who": who,
                    "index": index.spec.registry_id,
                    **note.as_json(),
                },
            )
            result.notes += 1
    except (RegistryError, OSError) as exc:
        reason = exc.message if isinstance(exc, RegistryError) else exc.strerror or str(exc)
        result.unfinished.append(
            Problem(
                code="NOTES_NOT_RECORDED",
                path=str(path),
                message=f"the records are appended, but {len(notes) - result.notes} finding(s) of "
                f"severity record could not be added to the notes log ({reason})",
            )
        )


# --- checking in worker processes -----------------------------------------------------------


def jobs() -> int:
    """Worker processes for a bulk input: one per core this process may use (1: none)."""
    if not sys.platform.startswith("linux"):
        return 1
    return max(1, min(MAX_JOBS, len(os.sched_getaffinity(0))))


def _checked(check: Check, items: Iterable[Item], origin: str, workers: int) -> Iterator[Checked]:
    """`check` of each item, in order: in `workers` forked processes for several blocks."""
    items = iter(items)
    ahead = list(itertools.islice(items, 2))
    if workers < 2 or len(ahead) < 2:
        yield from (check(parsed(item, origin)) for item in itertools.chain(ahead, items))
        return
    global _WORK
    check.prepare()
    _WORK = check, origin
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    pending: deque[tuple[Item, Future[Checked]]] = deque()
    try:
        try:
            for item in itertools.chain(ahead, items):
                pending.append((item, pool.submit(_work, item)))
                if len(pending) >= IN_FLIGHT * workers:
                    yield _taken(*pending.popleft())
        except (RegistryError, OSError) as exc:  # reading failed: said after the blocks before
            failed: BaseException | None = exc
        else:
            failed = None
        while pending:
            yield _taken(*pending.popleft())
        if failed is not None:
            raise failed
    finally:  # taken to the end, or stopped at a refusal: the blocks still queued are dropped
        pool.shutdown(wait=True, cancel_futures=True)
        _WORK = None


def _work(item: Item) -> Checked:
    """In a worker: `check` of one block, its lines not sent back when they are as given."""
    assert _WORK is not None
    check, origin = _WORK
    with gc_paused():
        found = check(parsed(item, origin))
    if isinstance(item, tuple) and found.data is item[1]:
        found.data, found.given = b"", True
    return found


def _taken(item: Item, future: Future[Checked]) -> Checked:
    """A worker's `Checked` of `item`, its lines given back from `item` when they are it."""
    found = future.result()
    if found.given and isinstance(item, tuple):
        found.data, found.given = item[1], False
    return found
