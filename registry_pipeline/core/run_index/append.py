"""`registry runs append` and `import`: one path for one record or a million, all or none.

The records given are read a block at a time (`records.items`), each block's checked by one
schema call and each record by the same functions alone (`records.judged`, its view's warnings,
what the sidecar holds of it), the rules judging those they can say anything about; the lines
to append are spooled (`SPOOLED` bytes in memory, the rest in an unnamed temporary file). Under
the index lock they are checked against the log as it is, appended and fsynced once
(`jsonl.append`) and indexed in one transaction. One process."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import IO_ERROR, Problem, RegistryError, UsageError, io_advice
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.fs import open_file, require_safe_all
from registry_pipeline.core.json_strict import dumps_compact, gc_paused
from registry_pipeline.core.lock import DEFAULT_TIMEOUT
from registry_pipeline.core.run_index.blocks import Judge, Judged, judged_blocks
from registry_pipeline.core.run_index.index import TORN_TAIL, LogIndex, unreadable_error
from registry_pipeline.core.run_index.records import (
    MAX_LISTED,
    Batch,
    Item,
    Order,
    Readable,
    RecordsError,
    batched,
    encode,
    items,
    located,
    parse_line,
    record_problem,
)
from registry_pipeline.core.run_index.rules import CHUNK, RecordRules
from registry_pipeline.core.run_index.sidecar import (
    BATCH,
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

WINDOW = 1 << 20
"""Bytes of the log compared at a time with the lines given (a retry)."""
CANDIDATES = 16
"""Lines of the log holding the first record's key and time that a retry looks at."""
SPOOLED = 64 << 20
"""Bytes of the lines to append kept in memory; past it they spill to a temporary file."""

Progress = Callable[[int], None]
"""Told the number of records checked so far, after each block another block follows."""


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

# --- the entries ---------------------------------------------------------------------------


def append_records(
    index: LogIndex,
    records: Iterable[tuple[int, Any]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    origin: str | None = None,
) -> AppendResult:
    """Append `records` ((line, value) pairs, in order) to `index`: all or none. Each is judged
    as its line reads back (a `str` subclass's member, say, as the plain string the log holds)."""
    batches = (Batch([n for n, _r in part], [_read_back(r) for _n, r in part])
               for part in batched(iter(records), CHUNK))  # fmt: skip
    return _append(index, batches, origin, timeout, None)


def _read_back(record: Any) -> Any:
    """`record` as the log will read its line back; as given when it is not JSON (a set, NaN:
    the schema refuses it, naming the field)."""
    try:
        return parse_line(encode(record))
    except (TypeError, ValueError):  # JSONDecodeProblem is a ValueError
        return record


def append_stream(
    index: LogIndex,
    stream: Readable,
    origin: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> AppendResult:
    """`append_records` of `stream` (JSON or JSONL), read and checked a block at a time."""
    return _append(index, items(stream, origin), origin, timeout, progress)


def _append(
    index: LogIndex,
    given: Iterable[Item],
    origin: str | None,
    timeout: float,
    progress: Progress | None,
) -> AppendResult:
    notes_log = index.root / NOTES_RELPATH
    # the sidecar's folder: what stands in the sidecar's place is the index's to set aside (a
    # cache), under the lock, where it checks the sidecar itself again
    require_safe_all(index.root, [index.log, index.lock_path, index.sidecar.parent, notes_log])
    who = actor()  # BAD_ACTOR before anything is written, not after the commit
    index.sidecar.parent.mkdir(parents=True, exist_ok=True)
    rules = RecordRules(index.root, index.catalog, index.spec)
    intake: _Intake | None = None
    try:
        with gc_paused():  # a million records: millions of acyclic objects
            intake = _Intake(index, rules)  # marks the pair's other log before reading it
            for judged in judged_blocks(intake.judge, given, origin or ""):
                if progress is not None and intake.seen:  # said when more are to come
                    progress(intake.seen)
                intake.take(judged)
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
        if intake is not None:
            intake.data.close()
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


class _Intake:
    """The records given, checked a batch at a time and kept as appended, then refused or
    accepted: their lines, and what the sidecar will hold of each."""

    def __init__(self, index: LogIndex, rules: RecordRules) -> None:
        self.spec = spec = index.spec
        self.rules = rules
        self.judge = Judge(spec, SchemaCatalog.for_workspace(index.root), rules.heads)
        self.order = Order()
        self.data = tempfile.SpooledTemporaryFile(SPOOLED)  # noqa: SIM115 (`_append` closes it)
        """The lines to append (`encode`d, each with its newline), `size` bytes."""
        self.size = 0
        self.keys: list[str] = []
        self.sizes = array("q")
        """Each line's length, without its newline."""
        self.ids = array("q")
        """Each record's `marks`, numbered by the judge's `held`."""
        self.overrides: list[str | None] = []
        self.lanes: list[list[str | None]] = [[] for _lane in spec.lanes]
        self.result = AppendResult(spec.registry_id, spec.source)
        self.invalid: list[Problem] = []
        self.invalid_count = 0
        self.refused: list[Problem] = []
        self.notes: list[Problem] = []
        """Findings of severity record (appended to the notes log after the commit)."""
        self.chunk: list[tuple[int, dict[str, Any]]] = []
        """The records of the current block the rules can say anything about."""
        self.partner = rules.partner()
        self.mark = None if self.partner is None else self.partner.mark()
        """The pair's other log as it was before the rules read it (`recheck`)."""
        self.crossed = array("q")
        """Positions of the records whose verdict depends on the other log (`_named`)."""
        self.seen = 0
        """Records given so far."""

    def take(self, judged: Judged) -> None:
        """The next block judged alone (`blocks.Judge`): its records' problems counted, or,
        while none is refused, its records kept: ordered, their warnings noted, their lines
        kept; the rules judge those they can say anything about."""
        result, numbers, base = self.result, judged.numbers, self.seen
        self.seen += len(numbers)
        if judged.invalid_count:
            self.invalid_count += judged.invalid_count
            self.invalid.extend(judged.invalid[: max(0, MAX_LISTED - len(self.invalid))])
        if self.invalid_count or not numbers:
            return  # refused anyway: only the records' own problems count
        result.warning_count += judged.warning_count
        result.warnings.extend(judged.warnings[: max(0, MAX_LISTED - len(result.warnings))])
        lines = judged.lines
        assert lines is not None
        records = judged.records or [parse_line(lines[at]) for at in judged.relevant]
        for at, record in zip(judged.relevant, records, strict=True):
            self.chunk.append((numbers[at], record))
            if self.rules.pair_key(record) is not None:
                self.crossed.append(base + at)
        self._judge()
        keys = judged.keys
        self.order.extend(numbers, keys, judged.created, judged.updated)
        self.keys.extend(keys)
        self.ids.extend(judged.ids)
        self.overrides.extend(judged.overrides)
        for column, lane in zip(self.lanes, judged.lanes, strict=True):
            column.extend(lane)
        result.keys.extend(keys[: max(0, MAX_LISTED - len(result.keys))])
        self.sizes.extend(map(len, lines))
        self.data.seek(self.size)  # after any `read`
        self.size += self.data.write(b"\n".join(lines)) + self.data.write(b"\n")

    def read(self, start: int, size: int) -> bytes:
        """`size` bytes of the lines to append from byte `start` on (once all are taken)."""
        self.data.seek(start)
        return self.data.read(size)

    def chunks(self) -> Iterator[bytes]:
        """The lines to append, WINDOW bytes at a time."""
        return (self.read(at, WINDOW) for at in range(0, self.size, WINDOW))

    def _judge(self) -> None:
        """The overrides' and coordination rules' findings about the current block's records."""
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
        """(line, record) of each record given that names one of `names` (from its line)."""
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
                line = self.read(start, self.sizes[at])
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
            raise UsageError.of("NO_RECORDS")
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
        raise jsonl.torn(index.log, policy=TORN_TAIL)
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
    result.bytes = _write(index, intake, state.covered)
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
        Problem.of("SIDECAR_STALE", path=index.sidecar, count=result.appended, reason=why)
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


def _write(index: LogIndex, intake: _Intake, covered: int) -> int:
    """The lines to append appended to the log and fsynced once (`jsonl.append`): their length.
    Nothing stays of them when the write fails, or when the log grew since it was read under
    the lock."""
    try:
        size = jsonl.append(index.log, intake.chunks(), create=False)
    except OSError as exc:
        reason = (
            f"cannot append to the log ({exc.strerror or exc}): nothing was appended (the log "
            f"is cut back to its {covered} bytes)"
        )
        advice = io_advice(exc.errno)
        raise RegistryError.of(IO_ERROR, path=index.log, advice=advice, reason=reason) from None
    if size != covered:  # lines written without the lock since it was read (by hand?)
        outcome = (
            "nothing was appended"
            if jsonl.take_back(index.log, size)
            else "the records given were appended after them"
        )
        raise RegistryError.of(
            "LOG_WRITTEN_UNLOCKED", path=index.log, before=covered, after=size, outcome=outcome
        )
    return intake.size


def _index(index: LogIndex, intake: _Intake, start: int, line: int) -> None:
    """Index the records just written at `start` (after `line` lines) in one transaction."""
    db, order, count = index.db, intake.order, intake.order.count
    ends = itertools.accumulate(map((1).__add__, intake.sizes), initial=start)
    offsets = array("q", itertools.islice(ends, count))  # each record's: where the one before ends
    numbers = array("q", range(line + 1, line + 1 + count))
    columns: tuple[Sequence[Any], ...] = (
        intake.keys, order.created, order.updated, offsets, intake.sizes, numbers, intake.ids,
        intake.overrides, *intake.lanes,
    )  # fmt: skip
    parts = ([column[at : at + BATCH] for column in columns] for at in range(0, count, BATCH))
    seq, _line = counters(db)
    with transaction(db), open_file(index.log, follow_symlinks=True) as log:
        bulk = count >= seq  # no fewer rows than the sidecar has: index them after
        if bulk:
            drop_query_indexes(db)
        last = add_columns(db, index.spec, parts, seq, intake.judge.held.marks)
        if bulk:
            create_query_indexes(db)
        before = os.fstat(log.fileno())
        finish(db, log.fileno(), start, start + intake.result.bytes, last, line + count, before)


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
    """Where the lines given already are in the log's first `covered` bytes, else None."""
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
            matched, size = _matching(log.fileno(), intake, off, covered)
            if not matched:
                continue  # not even the first record given is there
            if best is None or matched > best.matched:
                best = Overlap(matched, intake.order.count, line, off + size == covered)
    if best is not None and best.retried:
        intake.result.already_appended, intake.result.first_line = True, best.first_line
    return best


def _matching(fd: int, intake: _Intake, start: int, covered: int) -> tuple[int, int]:
    """(lines, bytes) of the leading whole lines to append that the log holds from `start` on."""
    same, room, lines, end = 0, max(0, min(intake.size, covered - start)), 0, 0
    while same < room:
        size = min(WINDOW, room - same)
        given = intake.read(same, size)
        common = jsonl.common_length(given, os.pread(fd, size, start + same))
        lines += given.count(b"\n", 0, common)
        if (last := given.rfind(b"\n", 0, common)) >= 0:
            end = same + last + 1
        same += common
        if common < size:
            break
    return lines, end


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
            Problem.of(
                "NOTES_NOT_RECORDED", path=path, reason=reason, count=len(notes) - result.notes
            )
        )
