"""The pointer journal: hash-chained JSONL, replay, checkpoint, file backend (docs/POINTERS.md)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import rfc8785

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import Problem, RegistryError, problem_object, render
from registry_pipeline.core.fs import QUARANTINE_RELPATH, quarantine
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.pointers.pointer_file import (
    PointerFile,
    PointerRefused,
    read_ref,
    ref_json,
    ref_text,
    run_id_text,
)
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.verified import Verified
from registry_pipeline.core.workspace.input_files import open_regular_file

JOURNAL_VERSION = "0.1"
SET_VERSION = "0.2"
"""The `journal_version` of a set entry: several registries' moves in one line (`moves`)."""
MOVES = ("promote", "rollback")
"""Actions that move a pointer to another snapshot (the pointer file changes)."""
ACTIONS = (*MOVES, "abort", "accept", "hold", "release", "adopt", "restore")
"""Every action a journal record may carry (docs/POINTERS.md)."""
HOLDING = ("rollback", "accept", "hold")
"""Actions that hold a registry: automatic promotion stops until its next record."""
MAX_JOURNAL_BYTES = 4 << 30
"""Largest journal read (~3 million changes): it is streamed, this stops a runaway file."""


@dataclass(frozen=True)
class EntryMove:
    """One registry's part of a journal line: what a one-registry line holds in its own fields,
    and a set entry per registry in its `moves`."""

    registry_id: str
    from_ref: SealedRef | None
    to_ref: SealedRef | None
    checks: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The move as a set entry's `moves` holds it."""
        return {
            "registry_id": self.registry_id,
            "from_ref": ref_json(self.from_ref) if self.from_ref else None,
            "to_ref": ref_json(self.to_ref) if self.to_ref else None,
            "checks": dict(self.checks),
        }


@dataclass(frozen=True)
class JournalRecord:
    """One pointer change of one registry: a journal line, or one move of a set entry's line."""

    seq: int
    registry_id: str
    from_ref: SealedRef | None
    to_ref: SealedRef | None
    """The pointer after this record; None only for an `abort` of a registry's first pointer."""
    action: str
    """One of ACTIONS."""
    reason: str
    actor: Mapping[str, str]
    """`{kind: dagster_run | cli_user | registry_build, id}`."""
    checks: Mapping[str, Any]
    """The check results that allowed the change, by check name."""
    created_utc: str
    prev_sha256: str | None
    sha256: str = field(default="", compare=False)
    """SHA-256 of this record's line (set when read or rendered)."""
    moves: tuple[EntryMove, ...] = ()
    """A set entry's moves, in order, this record's among them; () for a one-registry line."""

    @classmethod
    def of(
        cls, seq: int, moves: Sequence[EntryMove], action: str, reason: str,
        actor: Mapping[str, str], created_utc: str, prev_sha256: str | None,
    ) -> JournalRecord:  # fmt: skip
        """The hashed record of a line moving `moves`: one-registry for one, a set entry else."""
        first = moves[0]
        return cls(
            seq, first.registry_id, first.from_ref, first.to_ref, action, reason, actor,
            first.checks, created_utc, prev_sha256, moves=tuple(moves) if len(moves) > 1 else (),
        ).hashed()  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        """The record as a one-registry line holds it (for a move of a set entry: that move)."""
        return {
            "journal_version": JOURNAL_VERSION,
            "seq": self.seq,
            "registry_id": self.registry_id,
            "from_ref": ref_json(self.from_ref) if self.from_ref else None,
            "to_ref": ref_json(self.to_ref) if self.to_ref else None,
            "action": self.action,
            "reason": self.reason,
            "actor": dict(self.actor),
            "checks": dict(self.checks),
            "created_utc": self.created_utc,
            "prev_sha256": self.prev_sha256,
        }

    def entry_json(self) -> dict[str, Any]:
        """The object of the journal line: the record's own, or its set entry's (`moves`)."""
        if not self.moves:
            return self.as_json()
        shared = {k: v for k, v in self.as_json().items() if k not in MOVE_FIELDS}
        moves = [move.as_json() for move in self.moves]
        return {**shared, "journal_version": SET_VERSION, "moves": moves}

    def members(self) -> tuple[JournalRecord, ...]:
        """The records of this line, one per registry: itself, or each move of its set entry."""
        if not self.moves:
            return (self,)
        return tuple(
            replace(self, registry_id=move.registry_id, from_ref=move.from_ref,
                    to_ref=move.to_ref, checks=move.checks)
            for move in self.moves
        )  # fmt: skip

    def hashed(self) -> JournalRecord:
        """This record with `sha256` set from its canonical line."""
        return replace(self, sha256=sha256_bytes(self.line()))

    def line(self) -> bytes:
        """The line's canonical JSON bytes (RFC 8785), no newline: what the chain hashes."""
        return bytes(rfc8785.dumps(self.entry_json()))

    @property
    def by(self) -> str:
        """Who: `kind:id` of the actor."""
        return f"{self.actor.get('kind')}:{self.actor.get('id')}"

    def __str__(self) -> str:
        moved = ", ".join(
            f"{r.registry_id}: {run_id_text(r.from_ref)} -> {run_id_text(r.to_ref)}"
            for r in self.members()
        )
        return f"#{self.seq} {self.action} {moved}"


_PLAIN_FIELDS = ("seq", "registry_id", "action", "reason", "actor", "checks", "created_utc",
                 "prev_sha256")  # fmt: skip
"""The fields a line holds as they are (the refs are parsed, the hash is of the line)."""
MOVE_FIELDS = ("registry_id", "from_ref", "to_ref", "checks")
"""A one-registry line's fields that a set entry holds per registry, in `moves`."""
_SHARED_FIELDS = tuple(name for name in _PLAIN_FIELDS if name not in MOVE_FIELDS)
"""A set entry's fields, shared by its moves."""


class JournalFormatError(ValueError):
    """A line that is not a well-formed record (the verifier reports it with its line)."""


def parse_record(line: bytes) -> JournalRecord:
    """The record of a line (of a set entry: its first move's, carrying every move, `members`);
    JournalFormatError says which field is wrong."""
    try:
        document = loads_strict(line)
    except JSONDecodeProblem as exc:
        raise JournalFormatError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise JournalFormatError("a record must be a JSON object")
    try:
        if "moves" in document:
            moves = _set_moves(document)
            values = {name: document[name] for name in _SHARED_FIELDS}
            first = moves[0]
            record = JournalRecord(
                registry_id=first.registry_id, from_ref=first.from_ref, to_ref=first.to_ref,
                checks=first.checks, sha256=sha256_bytes(line), moves=moves, **values,
            )  # fmt: skip
        else:
            move = _move(document)
            values = {name: document[name] for name in _PLAIN_FIELDS}
            record = JournalRecord(
                from_ref=move.from_ref, to_ref=move.to_ref, sha256=sha256_bytes(line), **values
            )
    except KeyError as exc:
        raise JournalFormatError(f"missing field {exc.args[0]!r}") from None
    except (TypeError, AttributeError) as exc:
        raise JournalFormatError(f"malformed record: {exc}") from None
    if not isinstance(record.seq, int) or record.action not in ACTIONS:
        raise JournalFormatError(f"seq must be an integer and action one of {', '.join(ACTIONS)}")
    return record


def _move(document: Mapping[str, Any], action: object = None) -> EntryMove:
    """One registry's move: a one-registry line's own fields, or an item of a set's `moves`."""
    registry_id = document.get("registry_id", "")  # a missing one is reported after to_ref
    to_ref = read_ref(registry_id, document["to_ref"])
    if to_ref is None and (action or document.get("action")) not in ("abort", "restore"):
        raise JournalFormatError("to_ref: must name a snapshot")
    from_ref = read_ref(registry_id, document["from_ref"])
    return EntryMove(document["registry_id"], from_ref, to_ref, document["checks"])


def _set_moves(document: Mapping[str, Any]) -> tuple[EntryMove, ...]:
    """A set entry's moves: two or more, each of another registry, under SET_VERSION."""
    items = document["moves"]
    if document.get("journal_version") != SET_VERSION or not isinstance(items, list):
        raise JournalFormatError(f"moves: a list, in a record of journal_version {SET_VERSION}")
    if len(items) < 2 or not all(isinstance(item, dict) for item in items):
        raise JournalFormatError("moves: two or more objects (one move is a one-registry line)")
    moves = tuple(_move(item, document["action"]) for item in items)
    named = [move.registry_id for move in moves]
    if not all(isinstance(name, str) for name in named) or len(set(named)) != len(named):
        raise JournalFormatError("moves: each names another registry, by its id")
    return moves


def open_journal(path: Path) -> BinaryIO | None:
    """The journal opened for reading (None: no file); never a read that blocks or does not end."""
    try:
        return open_regular_file(path, limit=MAX_JOURNAL_BYTES, what="pointer journal")
    except FileNotFoundError:
        return None


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline) of every line, streamed; none if no file."""
    handle = open_journal(path)
    if handle is None:
        return
    with handle:
        yield from jsonl.Lines(handle, path=path)


def read_records(path: Path) -> Iterator[JournalRecord]:
    """Every record in order, a set entry's one per move (streamed); a malformed line raises
    JournalFormatError, but for a torn last line (`torn_tail`), which ends the records."""
    lines = iter_lines(path)
    for number, line in lines:
        try:
            record = parse_record(line)
        except JournalFormatError as exc:
            if torn_tail(lines, path):
                return
            raise JournalFormatError(f"line {number}: {exc}") from None
        yield from record.members()


def torn_tail(lines: Iterator[tuple[int, bytes]], path: Path) -> bool:
    """Whether the line of `lines` (`iter_lines`) that did not parse is a torn last line: none
    follows and the file ends without a newline (an append cut short; the next change cuts it,
    `FileJournal.last`). Every reader of the journal decides it here."""
    return next(lines, None) is None and not jsonl.ends_cleanly(path)


def last_record(path: Path) -> JournalRecord | None:
    """The last complete line's record (`members`: all of a set entry), read from the end; None
    for a torn append (the next change cuts it)."""
    return next(_backwards(path), None)


def _backwards(path: Path, needle: bytes = b"") -> Iterator[JournalRecord | None]:
    """The lines' records whose line holds `needle`, from the last back; None for a torn last
    line, JOURNAL_CORRUPT for another that does not parse."""
    handle = open_journal(path)
    if handle is None:
        return
    with handle:
        end = handle.seek(0, os.SEEK_END)
        handle.seek(max(end - 1, 0))
        torn = handle.read(1) not in (b"", b"\n")  # the last line has no newline
        for line in jsonl.lines_backwards(handle):
            try:
                if needle in line:
                    yield parse_record(line)
            except JournalFormatError as exc:
                if not torn:
                    raise corrupt_journal(path, exc) from None
                yield None
            torn = False


def last_record_of(path: Path, registry_id: str) -> JournalRecord | None:
    """The newest record of one registry, read back from the end."""
    return next(records_of(path, registry_id), None)


def last_effective_record_of(
    path: Path, registry_id: str, passing: tuple[str, ...] = ()
) -> JournalRecord | None:
    """The newest record of one registry that took effect (not an abort, nor one it aborted),
    passing over those whose action is in `passing`."""
    aborted = 0
    for record in records_of(path, registry_id):
        if record.action == "abort":
            aborted += 1
        elif aborted:
            aborted -= 1
        elif record.action not in passing:
            return record
    return None


def records_of(path: Path, registry_id: str) -> Iterator[JournalRecord]:
    """The records of one registry, newest first, streamed from the end (a torn tail skipped)."""
    for line in _backwards(path, b'"registry_id":' + rfc8785.dumps(registry_id)):
        for record in line.members() if line is not None else ():
            if record.registry_id == registry_id:
                yield record


def append_record(path: Path, record: JournalRecord) -> int:
    """Append one record's line, fsynced; the journal's size before it (to cut it off again)."""
    return jsonl.append(path, [record.line() + b"\n"])


def corrupt_journal(journal: Path, error: JournalFormatError) -> PointerRefused:
    """JOURNAL_CORRUPT: what every reader says of a journal line it cannot read."""
    return PointerRefused.of("JOURNAL_CORRUPT", path=journal, reason=error)


def _complete_record(tail: bytes, previous: bytes | None) -> bool:
    """Whether a last line with no newline is a whole record (it gets one; else it is cut)."""
    try:
        record = parse_record(tail)
    except JournalFormatError:
        return False
    expected = sha256_bytes(previous) if previous is not None else None
    return record.prev_sha256 == expected


# -- replay -----------------------------------------------------------------------------------


def finding(
    code: str,
    message: str | None = None,
    seq: int | None = None,
    line: int | None = None,
    registry_id: str | None = None,
    **fields: Any,
) -> Problem:
    """One thing wrong (or worth knowing) about the journal, at a record, about a registry:
    `message`, else `MESSAGES`' wording of `code` with `fields` (after the registry's id)."""
    if message is None:
        said = render(code, registry_id=registry_id, seq=seq, **fields)
        message = f"{registry_id}: {said}" if registry_id else said
    return Problem(
        code=code, message=message, line=line, extra={"seq": seq, "registry_id": registry_id}
    )


def problem_json(problem: Problem, path: str | None = None) -> dict[str, object]:
    """The problem object `registry pointers verify --json` prints; `path`: the file it is in."""
    found = problem_object(str(problem.code), problem.message, path=path, line=problem.line)
    return {**found, **problem.extra}  # {seq, registry_id}, as `finding` made it


def problem_text(problem: Problem) -> str:
    """`CODE line N (seq S): message`, or `CODE: message` when it is at no line."""
    if problem.line is None:
        return f"{problem.code}: {problem.message}"
    seq = problem.extra.get("seq")
    at = f"line {problem.line}" + ("" if seq is None else f" (seq {seq})")
    return f"{problem.code} {at}: {problem.message}"


@dataclass
class VerifyReport:
    """The result of `registry pointers verify`."""

    records: int = 0
    head: str | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    """Not failures: pointers older than the journal, an interrupted promotion to complete."""
    expect_head_seq: int | None = None
    last_records: dict[str, JournalRecord] = field(default_factory=dict)
    returned: list[str] = field(default_factory=list)
    """Registries adopted while absent whose folder is back: the store asks the gate now."""

    @property
    def ok(self) -> bool:
        return not self.problems


def interrupted(pointers: PointerFile, record: JournalRecord) -> bool:
    """Whether `record`'s line is a move whose command died before replacing the pointer file:
    the file shows every registry it moves (all of a set entry) where it was."""
    return (
        record.action in MOVES
        and pointers.last_updated_utc != record.created_utc
        and all(
            moved.to_ref is not None and pointers.active(moved.registry_id) == moved.from_ref
            for moved in record.members()
        )
    )


def state_as_of(records: Iterator[JournalRecord], moment: str) -> dict[str, JournalRecord]:
    """The last record per registry created at or before `moment` (ISO UTC)."""
    return {r.registry_id: r for r in records if r.created_utc <= moment}


class ChainReplay:
    """The chain replayed line by line: one rule for `verify_journal` and a bucket's entries."""

    def __init__(self, expect_head: str | None = None) -> None:
        self.report = VerifyReport()
        self.state: dict[str, SealedRef | None] = {}
        self.last: JournalRecord | None = None
        self.expect_head = expect_head
        self.seen_expected = expect_head is None

    def add(self, number: int, line: bytes) -> Problem | None:
        """Take the next line; the problem that ends the replay there, or None."""
        try:
            record = parse_record(line)
        except JournalFormatError as exc:
            return finding("RECORD_UNREADABLE", line=number, reason=exc)
        self.report.records += 1
        problem = _link_problem(record, number, self.last, self.state)
        if problem is not None:
            return problem
        for moved in record.members():
            self.state[moved.registry_id] = moved.to_ref
            self.report.last_records[moved.registry_id] = moved
            if moved.action in ("abort", "accept"):
                self.report.notes.append(_decision(moved, number))
        self.last = record
        if record.sha256 == self.expect_head:
            self.seen_expected, self.report.expect_head_seq = True, record.seq
        return None

    def finish(self, pointers: PointerFile) -> VerifyReport:
        """The report: the head, HEAD_NOT_FOUND, the pointer file against the chain's state."""
        report = self.report
        report.head = self.last.sha256 if self.last else None
        if not self.seen_expected:
            report.problems.append(finding("HEAD_NOT_FOUND", head=self.expect_head))
        compare_with_pointers(report, self.last, pointers)
        return report


def verify_journal(
    path: Path, pointers: PointerFile, expect_head: str | None = None
) -> VerifyReport:
    """Check the chain from the first record, and that replaying it gives the pointer file."""
    replay = ChainReplay(expect_head)
    lines = iter_lines(path)
    for number, line in lines:
        problem = replay.add(number, line)
        if problem is None:
            continue
        if problem.code == "RECORD_UNREADABLE" and torn_tail(lines, path):
            replay.report.notes.append(finding("TORN_TAIL", line=number, reason=problem.message))
            break
        replay.report.problems.append(problem)
        return replay.report
    return replay.finish(pointers)


def _decision(record: JournalRecord, number: int) -> Problem:
    """A note for an aborted change or an accepted hand edit (both explain the pointer file)."""
    code, ref = ("ABORTED" if record.action == "abort" else "ACCEPTED_EDIT"), record.to_ref
    return finding(code, seq=record.seq, line=number, registry=record.registry_id,
                   ref=ref_text(ref), reason=record.reason)  # fmt: skip


def _link_problem(
    record: JournalRecord,
    number: int,
    last: JournalRecord | None,
    state: dict[str, SealedRef | None],
) -> Problem | None:
    previous_hash, expected_seq = (last.sha256, last.seq + 1) if last else (None, 1)
    if record.prev_sha256 != previous_hash:
        before = f"record {last.seq} (line {number - 1})" if last else "the start"
        return finding("CHAIN_BROKEN", seq=record.seq, line=number, before=before,
                       prev=record.prev_sha256, hashed=previous_hash)  # fmt: skip
    if record.seq != expected_seq:
        return finding("SEQ_GAP", seq=record.seq, line=number, expected=expected_seq,
                       found=f"the next record is seq {record.seq}")  # fmt: skip
    for moved in record.members():
        if moved.registry_id in state and moved.from_ref != state[moved.registry_id]:
            first = f" ({ref_text(state[moved.registry_id])}), not {ref_text(moved.from_ref)}"
            said = render("FROM_MISMATCH", registry_id=moved.registry_id, first=first)
            return finding("FROM_MISMATCH", said, record.seq, number)
    return None


def compare_with_pointers(
    report: VerifyReport, last: JournalRecord | None, pointers: PointerFile
) -> None:
    """The pointer file against the replay's last record of each registry (`last`: the last)."""
    if last is not None and interrupted(pointers, last):  # one note for the line, all it moves
        report.notes.append(finding("PENDING_RECORD", seq=last.seq, record=last))
    for registry_id in {**report.last_records, **pointers.pointers}:
        recorded, found = report.last_records.get(registry_id), pointers.active(registry_id)
        if last is None and found is not None:  # no journal yet: the first change adopts it
            report.notes.append(finding("NOT_JOURNALED", registry=registry_id, ref=ref_text(found)))
        elif (problem := pointer_mismatch(registry_id, pointers, recorded, last)) is not None:
            report.problems.append(problem)


def pointer_mismatch(
    registry_id: str,
    pointers: PointerFile,
    recorded: JournalRecord | None,
    last: JournalRecord | None,
) -> Problem | None:
    """POINTER_MISMATCH when the pointer file does not show `registry_id` as its last record
    `recorded` left it (the journal's last line: `last`); None before the journal's first record
    and while the last line's change is interrupted (the next change completes it)."""
    found = pointers.active(registry_id)
    if recorded is None:
        if last is None or found is None:
            return None
        said = (f"the pointer file says {ref_text(found)}, but the journal, which captured the "
                "file at its first record, never recorded it")  # fmt: skip
        return finding("POINTER_MISMATCH", registry_id=registry_id, difference=said)
    if found == recorded.to_ref or (last is not None and last.seq == recorded.seq
                                    and interrupted(pointers, last)):  # fmt: skip
        return None
    said = f"{difference(found, recorded.to_ref)} (#{recorded.seq})"
    return finding("POINTER_MISMATCH", registry_id=registry_id, difference=said)


def difference(
    found: SealedRef | None, recorded: SealedRef | None, there: str = "the journal"
) -> str:
    """How the pointer file's entry differs from `recorded` (what `there` says), field by field."""
    if found is None or recorded is None:
        found_text = ref_text(found) if found else "(none)"
        recorded_text = ref_text(recorded) if recorded else "(none)"
        return f"the pointer file says {found_text}, {there} says {recorded_text}"
    in_file, in_journal = ref_json(found), ref_json(recorded)
    changed = [
        f"{name} is {in_file[name]!r} in the pointer file, {in_journal[name]!r} in {there}"
        for name in in_file
        if in_file[name] != in_journal[name]
    ]
    return "; ".join(changed) or "the entries differ"


# -- the checkpoint of the last full replay ---------------------------------------------------


CHECKPOINT_RELPATH = ".codex/cache/pointer_journal_checkpoint.json"
OLD_QUARANTINE = ".codex/JOURNAL_QUARANTINE"
"""Where releases before this one kept a journal set aside (`kept_journals` still reads it)."""
CHECKPOINT_VERSION = "pointer-journal-3"
CHAIN = "chain"
"""The check a checkpoint records as passed: the whole chain replayed."""
CHAIN_CODES = frozenset({"RECORD_UNREADABLE", "CHAIN_BROKEN", "SEQ_GAP", "FROM_MISMATCH"})


def keep_aside(root: Path, journal: Path) -> str:
    """Move `journal` byte for byte into the workspace's quarantine; where, workspace-relative."""
    return quarantine(root, journal, journal.name).relative_to(root).as_posix()


def kept_journals(root: Path, name: str) -> list[Path]:
    """The journals named `name` set aside here, oldest first (an older release's folder first)."""
    stem, suffix = f"{Path(name).stem}-", Path(name).suffix
    ours = _files(root / QUARANTINE_RELPATH)  # shared with caches and logs set aside
    return _files(root / OLD_QUARANTINE) + [
        path for path in ours if path.name.startswith(stem) and path.name.endswith(suffix)
    ]


def _files(folder: Path) -> list[Path]:
    """The regular files of `folder` by name (none when it is no real folder)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    return [path for path in sorted(folder.iterdir()) if path.is_file() and not path.is_symlink()]


def identity(journal: Path) -> str | None:
    """The journal file's identity (None: no file)."""
    try:
        st = os.stat(journal, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _cache(root: Path) -> Verified | None:
    """The checkpoint's cache, or None when its place is unsafe (then none is kept)."""
    try:
        return Verified(root, CHECKPOINT_RELPATH, version=CHECKPOINT_VERSION, latest=True)
    except RegistryError:
        return None


def load(root: Path, journal: Path) -> VerifyReport | None:
    """The checkpoint's replay (no notes), if readable and the journal is still that file."""
    key, cache = identity(journal), _cache(root)
    entry = cache.get(key) if key is not None and cache is not None else None
    if entry is None or CHAIN not in entry.checks:
        return None
    try:
        kept = entry.payload
        lines = {
            digest: replace(parse_record(line.encode()), sha256=digest)
            for digest, line in kept["lines"].items()
        }
        last = {
            registry_id: next(r for r in lines[digest].members() if r.registry_id == registry_id)
            for registry_id, digest in kept["last"].items()
        }
        newest = max(last.values(), key=lambda record: record.seq, default=None)
        whole = (newest.seq, newest.sha256) if newest is not None else (0, None)
        if type(kept["records"]) is not int or (kept["records"], kept["head"]) != whole:
            return None  # not what a replay keeps (its newest line is the head, seq the count)
        return VerifyReport(records=kept["records"], head=kept["head"], last_records=last)
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration, JournalFormatError):
        return None


def kept_records(root: Path) -> int:
    """The records the checkpoint last kept, whichever journal file it was of (0: none kept):
    what shows a journal deleted or emptied since had a history (JOURNAL_MISSING)."""
    cache = _cache(root)
    last = cache.last() if cache is not None else None
    records = last[1].payload.get("records") if last is not None else None
    return records if type(records) is int and records > 0 else 0


def journal_gone(root: Path, journal: Path, named: bool) -> str | None:
    """What shows `journal` existed (the last journal kept aside, a checkpoint that kept records)
    when it is absent or an empty file while the pointer file names snapshots (`named`): the
    `found` of JOURNAL_MISSING. None: it is there (or is no regular file: its reader refuses it),
    or nothing shows it ever was."""
    try:
        there = os.stat(journal, follow_symlinks=False)
    except FileNotFoundError:
        there = None
    if not named or (there is not None and (there.st_size or not stat.S_ISREG(there.st_mode))):
        return None
    found = [kept.relative_to(root).as_posix() for kept in kept_journals(root, journal.name)[-1:]]
    if records := kept_records(root):
        found.append(f"{CHECKPOINT_RELPATH}, {records} record(s)")
    return ", ".join(found) or None


def save(root: Path, journal: Path, report: VerifyReport) -> None:
    """Keep the replay of `journal` when its chain is whole (failing costs a full replay) and it
    holds a record (an empty one costs nothing, and never replaces `kept_records`' evidence)."""
    torn = any(note.code == "TORN_TAIL" for note in report.notes)  # the next change cuts it
    if torn or not report.records or any(p.code in CHAIN_CODES for p in report.problems):
        return
    key = identity(journal)
    if key is None or (cache := _cache(root)) is None:
        return
    last = latest(report)
    records = report.last_records
    cache.put(key, [CHAIN], {
        "records": report.records, "head": report.head,
        "last_registry": last.registry_id if last else None,
        "lines": {record.sha256: record.line().decode() for record in records.values()},
        "last": {registry_id: record.sha256 for registry_id, record in records.items()},
    })  # fmt: skip
    try:
        cache.save()
    except RegistryError:  # UNSAFE_PATH since the load: nothing written, nothing to remove
        return
    except OSError:  # the next change replays the whole journal
        with contextlib.suppress(OSError):
            (root / CHECKPOINT_RELPATH).unlink(missing_ok=True)


def latest(report: VerifyReport) -> JournalRecord | None:
    """The journal's last record among each registry's last (`members`: all of its line)."""
    return max(report.last_records.values(), key=lambda r: r.seq, default=None)


def replay(
    root: Path, journal: Path, pointers: PointerFile, expect_head: str | None, use: bool
) -> VerifyReport:
    """`verify_journal`; with `use` (the check before a change), from the checkpoint, kept."""
    if not use or expect_head is not None:
        return verify_journal(journal, pointers, expect_head)
    report = load(root, journal)
    if report is None:
        report = verify_journal(journal, pointers)
        save(root, journal, report)
        return report
    compare_with_pointers(report, latest(report), pointers)
    return report


# -- the local file backend -------------------------------------------------------------------


Check = Callable[[JournalRecord, str], None]
"""The gate's admission of another writer's record before it is applied (`check_mirrored`)."""


class FileJournal:
    """The journal as one local file: a disk workspace's backend, and a bucket's local copy."""

    set_aside = None
    """Local records a bucket did not have, kept aside (only a bucket's journal sets some)."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path, self.root = path, root

    def append(self, record: JournalRecord) -> int:
        """Append `record` (fsynced, the checkpoint advanced); the journal's size before it."""
        kept = load(self.root, self.path)
        offset = append_record(self.path, record)
        if kept is not None and kept.head == record.prev_sha256:
            kept.records, kept.head = kept.records + 1, record.sha256
            kept.last_records.update((moved.registry_id, moved) for moved in record.members())
            save(self.root, self.path, kept)
        return offset

    def last(self) -> JournalRecord | None:
        """The last record, after repairing the tail; JOURNAL_CORRUPT when it does not parse."""
        jsonl.repair_tail(self.path, _complete_record)
        return last_record(self.path)

    @contextmanager
    def change(self, check: Check, redo: Callable[[], object], *, writes: bool) -> Iterator[None]:
        """One change (under the pointer lock): on a disk nothing to fetch or publish."""
        yield
