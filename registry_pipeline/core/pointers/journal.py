"""The pointer journal: one hash-chained JSONL record per pointer change, append-only.

Each line is the RFC 8785 canonical JSON of one record; `prev_sha256` is the SHA-256 of the
previous line's bytes (without its newline), null for the first, so editing, deleting, inserting
or reordering any record breaks the chain at that record. The head (the hash of the last line),
recorded elsewhere, also catches truncation and a rewritten, re-chained journal.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import rfc8785

from registry_pipeline.core import jsonl
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.pointers.pointer_file import ActiveRef, PointerRefused
from registry_pipeline.core.workspace.input_files import open_regular_file

JOURNAL_NAME = "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
JOURNAL_SCHEMA_ID = "urn:registry-pipeline:schema:pointer_journal"
JOURNAL_VERSION = "0.1"
MOVES = ("promote", "rollback")
"""Actions that move a pointer to another snapshot (the pointer file changes)."""
ACTIONS = (*MOVES, "abort", "accept", "hold", "release", "adopt", "restore")
"""Every action. `adopt`: the journal's first records capture the pointer file as found (one per
entry that names a snapshot, from_ref null, with the file's hash and whether the target is here);
`abort`: a change reported as failed is undone in the history (to_ref is the
pointer as it stayed, null when the registry had none); `accept`: a hand edit of the pointer file
recorded as a decision (to_ref is what the file shows); `hold`/`release` keep the pointer where
it is (from_ref = to_ref) and stop or resume automatic promotion."""
HOLDING = ("rollback", "accept", "hold")
"""A registry whose last record has one of these actions is held: automatic promotion stops
until its next record (a `release`, or a promotion by a person)."""
MAX_JOURNAL_BYTES = 4 << 30
"""Largest journal read (4 GiB, about three million changes at ~1.5 KB a record): it is
streamed, so this stops a runaway file, not a large history."""


@dataclass(frozen=True)
class JournalRecord:
    """One pointer change."""

    seq: int
    registry_id: str
    from_ref: ActiveRef | None
    to_ref: ActiveRef | None
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

    def as_json(self) -> dict[str, Any]:
        """The record as one journal line holds it."""
        return {
            "journal_version": JOURNAL_VERSION,
            "seq": self.seq,
            "registry_id": self.registry_id,
            "from_ref": self.from_ref.as_json() if self.from_ref else None,
            "to_ref": self.to_ref.as_json() if self.to_ref else None,
            "action": self.action,
            "reason": self.reason,
            "actor": dict(self.actor),
            "checks": dict(self.checks),
            "created_utc": self.created_utc,
            "prev_sha256": self.prev_sha256,
        }

    def hashed(self) -> JournalRecord:
        """This record with `sha256` set from its canonical line."""
        return replace(self, sha256=hashlib.sha256(self.line()).hexdigest())

    def line(self) -> bytes:
        """Canonical JSON bytes (RFC 8785), without the newline: what the chain hashes."""
        return bytes(rfc8785.dumps(self.as_json()))

    def __str__(self) -> str:
        was = self.from_ref.run_id if self.from_ref else "(none)"
        now = self.to_ref.run_id if self.to_ref else "(none)"
        return f"#{self.seq} {self.action} {self.registry_id}: {was} -> {now}"


class JournalFormatError(ValueError):
    """A line that is not a well-formed record (the verifier reports it with its line)."""


def parse_record(line: bytes) -> JournalRecord:
    """A record from its line; JournalFormatError says which field is wrong."""
    try:
        document = loads_strict(line)
    except JSONDecodeProblem as exc:
        raise JournalFormatError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise JournalFormatError("a record must be a JSON object")
    try:
        to_ref = ActiveRef.from_json(document["to_ref"])
        if to_ref is None and document.get("action") not in ("abort", "restore"):
            raise JournalFormatError("to_ref: must name a snapshot")
        from_ref = ActiveRef.from_json(document["from_ref"])
        record = JournalRecord(
            seq=document["seq"],
            registry_id=document["registry_id"],
            from_ref=from_ref,
            to_ref=to_ref,
            action=document["action"],
            reason=document["reason"],
            actor=document["actor"],
            checks=document["checks"],
            created_utc=document["created_utc"],
            prev_sha256=document["prev_sha256"],
            sha256=hashlib.sha256(line).hexdigest(),
        )
    except KeyError as exc:
        raise JournalFormatError(f"missing field {exc.args[0]!r}") from None
    except (TypeError, AttributeError) as exc:
        raise JournalFormatError(f"malformed record: {exc}") from None
    if not isinstance(record.seq, int) or record.action not in ACTIONS:
        raise JournalFormatError(f"seq must be an integer and action one of {', '.join(ACTIONS)}")
    return record


def open_journal(path: Path) -> BinaryIO | None:
    """The journal opened for reading; None when there is none. A FIFO or a device there is
    NOT_A_REGULAR_FILE, a file over MAX_JOURNAL_BYTES INPUT_TOO_LARGE (exit 2, naming it): never
    a read that blocks or does not end."""
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
        yield from jsonl.lines(handle)


def read_records(path: Path) -> Iterator[JournalRecord]:
    """Every record in order (streamed); a malformed line raises JournalFormatError."""
    for number, line in iter_lines(path):
        try:
            yield parse_record(line)
        except JournalFormatError as exc:
            raise JournalFormatError(f"line {number}: {exc}") from None


def last_record(path: Path) -> JournalRecord | None:
    """The last complete record, read from the end of the file: each byte of the last line is
    read once. A final line without its newline that does not parse is a torn append (the
    documented crash state, removed by the next change) and is skipped."""
    handle = open_journal(path)
    if handle is None:
        return None
    with handle:
        for line, torn in _records_backwards(handle):
            return _parse_unless_torn(line, torn)
    return None


def _records_backwards(handle: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """(line, torn) from the last line back; `torn` for a final line without its newline."""
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return
    handle.seek(end - 1)
    unterminated = handle.read(1) != b"\n"
    for index, line in enumerate(jsonl.lines_backwards(handle)):
        yield line, unterminated and index == 0


def _parse_unless_torn(line: bytes, torn: bool) -> JournalRecord | None:
    try:
        return parse_record(line)
    except JournalFormatError:
        if torn:
            return None
        raise


def last_record_of(
    path: Path, registry_id: str, actions: tuple[str, ...] = ACTIONS
) -> JournalRecord | None:
    """The newest record of one registry (with one of `actions`), reading back from the end of
    the file (cost grows with the records written since, not with the whole journal)."""
    for record in records_of(path, registry_id):
        if record.action in actions:
            return record
    return None


def last_effective_record_of(path: Path, registry_id: str) -> JournalRecord | None:
    """The newest record of one registry that took effect: an `abort` and the record it aborted
    (the registry's record just before it) are passed over."""
    aborted = 0
    for record in records_of(path, registry_id):
        if record.action == "abort":
            aborted += 1
        elif aborted:
            aborted -= 1
        else:
            return record
    return None


def records_of(path: Path, registry_id: str) -> Iterator[JournalRecord]:
    """The records of one registry, newest first, streamed from the end of the file (a torn,
    unterminated last line is skipped)."""
    handle = open_journal(path)
    if handle is None:
        return
    needle = b'"registry_id":' + rfc8785.dumps(registry_id)
    with handle:
        for line, torn in _records_backwards(handle):
            if needle in line:
                record = _parse_unless_torn(line, torn)
                if record is not None and record.registry_id == registry_id:
                    yield record


def append_record(path: Path, record: JournalRecord) -> int:
    """Append one record and fsync it (and, for a new journal, its folder entry); returns the
    journal's size before the record (to cut it off again if nothing else can be written)."""
    return jsonl.append(path, [record.line() + b"\n"])


def corrupt_journal(journal: Path, error: JournalFormatError) -> PointerRefused:
    """JOURNAL_CORRUPT, naming the journal and what is wrong with it (its line): what every
    reader of the journal says of a line it cannot read."""
    return PointerRefused(
        f"the journal is unreadable ({error}); run `registry pointers verify`",
        code="JOURNAL_CORRUPT",
        path=str(journal),
    )


def repair_tail(path: Path) -> None:
    """Make the journal end with a newline: a complete last record that only lost its newline
    (a tool stripped it) gets it back; an incomplete one (the process died mid-append, before
    the pointer file could change) is cut off. Earlier records are never touched."""
    jsonl.repair_tail(path, _complete_record)


def _complete_record(tail: bytes, previous: bytes | None) -> bool:
    try:
        record = parse_record(tail)
    except JournalFormatError:
        return False
    expected = hashlib.sha256(previous).hexdigest() if previous is not None else None
    return record.prev_sha256 == expected


Check = Callable[[JournalRecord, str], None]
"""The gate's admission of a record another writer journaled, about to be applied, by the
gate's action (`redo`, `mirror`, `restore`), raising PointerRefused
(`PointerStore.check_mirrored`)."""


class FileJournal:
    """The journal as one local file: the backend of a workspace on a disk, and the copy every
    reader reads of a workspace on object storage (`core.pointers.bucket.BucketJournal`)."""

    set_aside = None
    """Local records a bucket did not have, kept aside (only a bucket's journal sets some)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: JournalRecord) -> int:
        """Append `record` (fsynced); the journal's size before it."""
        return append_record(self.path, record)

    def last(self) -> JournalRecord | None:
        """The last record, after repairing the tail (`repair_tail`); JOURNAL_CORRUPT when it
        does not parse."""
        repair_tail(self.path)
        try:
            return last_record(self.path)
        except JournalFormatError as exc:
            raise corrupt_journal(self.path, exc) from None

    @contextmanager
    def change(self, check: Check, redo: Callable[[], object], *, writes: bool) -> Iterator[None]:
        """One change (under the pointer lock): on a disk nothing is fetched before it or
        published after it."""
        yield
