"""Replaying the pointer journal: verify the chain, reproduce the pointer file, travel in time.

Replay streams the journal once and keeps only the state per registry, so memory is bounded by
the number of registries, not by the length of the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import problem_object
from registry_pipeline.core.pointers.journal import (
    MOVES,
    JournalFormatError,
    JournalRecord,
    iter_lines,
    parse_record,
)
from registry_pipeline.core.pointers.pointer_file import ActiveRef, PointerFile


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth knowing) about the journal, at a record."""

    code: str
    message: str
    seq: int | None = None
    line: int | None = None
    registry_id: str | None = None
    """The registry it is about, when it is about one (a pointer, a target)."""

    def as_json(self, path: str | None = None) -> dict[str, object]:
        """The problem object `registry pointers verify --json` prints; `path`: the file it is
        in (the journal, the pointer file), which the caller knows. `seq` and `registry_id`
        are always there (null when unknown)."""
        found = problem_object(self.code, self.message, path=path, line=self.line)
        return {**found, "seq": self.seq, "registry_id": self.registry_id}

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        if self.line is None:
            return f"{self.code}: {self.message}"
        return f"{self.code} {where}: {self.message}"


@dataclass
class VerifyReport:
    """The result of `registry pointers verify`."""

    records: int = 0
    head: str | None = None
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    """Not failures: pointers older than the journal, an interrupted promotion to complete."""
    expect_head_seq: int | None = None
    last_records: dict[str, JournalRecord] = field(default_factory=dict)
    """Each registry's last record (memory bounded by the number of registries)."""
    returned: list[str] = field(default_factory=list)
    """Registries whose pointer a restart adopted while its folder was absent, and whose folder
    is here again: never through the gate, so the store asks the gate now (`verified`)."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def interrupted(pointers: PointerFile, record: JournalRecord) -> bool:
    """Whether `record` (the journal's last) is a move whose command died before replacing the
    pointer file: the file still shows its from_ref and was not written by it (a file rewritten by
    the record carries its created_utc; one that shows from_ref again was edited by hand)."""
    return (
        record.action in MOVES
        and record.to_ref is not None
        and pointers.active(record.registry_id) == record.from_ref
        and pointers.last_updated_utc != record.created_utc
    )


def replay(records: Iterator[JournalRecord]) -> dict[str, JournalRecord]:
    """The last record per registry (its `to_ref` is that registry's pointer)."""
    state: dict[str, JournalRecord] = {}
    for record in records:
        state[record.registry_id] = record
    return state


def state_as_of(records: Iterator[JournalRecord], moment: str) -> dict[str, JournalRecord]:
    """The last record per registry among those created at or before `moment` (ISO UTC)."""
    return replay(record for record in records if record.created_utc <= moment)


class ChainReplay:
    """The journal's chain replayed line by line: what `verify_journal` reads from the file and
    what a sync reads from a bucket's entries before it applies them (one rule for both)."""

    def __init__(self, expect_head: str | None = None) -> None:
        self.report = VerifyReport()
        self.state: dict[str, ActiveRef | None] = {}
        self.last: JournalRecord | None = None
        self.expect_head = expect_head
        self.seen_expected = expect_head is None

    def add(self, number: int, line: bytes) -> Finding | None:
        """Take the next line (`number`: its line number); the problem that ends the replay
        there, or None. A line that does not parse is RECORD_UNREADABLE (a caller that knows
        it is the last, unterminated one reports a torn tail instead)."""
        try:
            record = parse_record(line)
        except JournalFormatError as exc:
            return Finding("RECORD_UNREADABLE", str(exc), line=number)
        self.report.records += 1
        problem = _link_problem(
            record, number, self.last.sha256 if self.last else None, self.last, self.state
        )
        if problem is not None:
            return problem
        self.state[record.registry_id] = record.to_ref
        self.report.last_records[record.registry_id] = record
        self.last = record
        if record.action in ("abort", "accept"):
            self.report.notes.append(_decision(record, number))
        if record.sha256 == self.expect_head:
            self.seen_expected, self.report.expect_head_seq = True, record.seq
        return None

    def finish(self, pointers: PointerFile) -> VerifyReport:
        """The report: the head, HEAD_NOT_FOUND, and the pointer file compared with the
        state the chain leads to."""
        report = self.report
        report.head = self.last.sha256 if self.last else None
        if not self.seen_expected:
            report.problems.append(
                Finding(
                    "HEAD_NOT_FOUND",
                    f"no record hashes to the expected head {self.expect_head}: the journal was "
                    "truncated before it or rewritten",
                )
            )
        compare_with_pointers(report, self.state, self.last, pointers)
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
        if (
            problem.code == "RECORD_UNREADABLE"
            and next(lines, None) is None
            and not jsonl.ends_cleanly(path)
        ):
            replay.report.notes.append(_torn(number, problem.message))  # the crash state
            break
        replay.report.problems.append(problem)
        return replay.report
    return replay.finish(pointers)


def _decision(record: JournalRecord, number: int) -> Finding:
    """A note for an aborted change or an accepted hand edit (both explain the pointer file)."""
    if record.action == "abort":
        return Finding("ABORTED", f"{record.registry_id}: {record.reason}", record.seq, number)
    return Finding(
        "ACCEPTED_EDIT",
        f"{record.registry_id}: a hand edit to {record.to_ref} was accepted: {record.reason}",
        record.seq,
        number,
    )


def _torn(number: int, why: str) -> Finding:
    return Finding(
        "TORN_TAIL",
        f"the last line is an incomplete record ({why}): a promotion died while appending it, "
        "before the pointer file changed; the next pointer change removes it",
        line=number,
    )


def _link_problem(
    record: JournalRecord,
    number: int,
    previous_hash: str | None,
    last: JournalRecord | None,
    state: dict[str, ActiveRef | None],
) -> Finding | None:
    expected_seq = last.seq + 1 if last else 1
    if record.prev_sha256 != previous_hash:
        before = f"record {last.seq} (line {number - 1})" if last else "the start"
        return Finding(
            "CHAIN_BROKEN",
            f"the chain breaks between {before} and this record: its prev_sha256 is "
            f"{record.prev_sha256}, the line before it hashes to {previous_hash}; the record "
            "before it was edited, or records between them were removed, inserted or moved",
            record.seq,
            number,
        )
    if record.seq != expected_seq:
        return Finding(
            "SEQ_GAP", f"seq is {record.seq}, expected {expected_seq}", record.seq, number
        )
    if record.registry_id in state and record.from_ref != state[record.registry_id]:
        return Finding(
            "FROM_MISMATCH",
            f"from_ref {record.from_ref} is not the pointer the journal had reached "
            f"({state[record.registry_id]})",
            record.seq,
            number,
        )
    return None


def compare_with_pointers(
    report: VerifyReport,
    state: dict[str, ActiveRef | None],
    last: JournalRecord | None,
    pointers: PointerFile,
) -> None:
    for registry_id, ref in state.items():
        actual = pointers.active(registry_id)
        if actual == ref:
            continue
        if last is not None and last.registry_id == registry_id and interrupted(pointers, last):
            report.notes.append(
                Finding(
                    "PENDING_RECORD",
                    f"record {last.seq} ({last}) is journaled but the "
                    "pointer file was not replaced (an interrupted promotion); the next "
                    "pointer change completes it",
                    last.seq,
                )
            )
            continue
        report.problems.append(
            Finding(
                "POINTER_MISMATCH",
                f"{registry_id}: {difference(actual, ref)}: the file was edited by hand; "
                f"{mismatch_advice(registry_id)}",
                registry_id=registry_id,
            )
        )
    for registry_id, pointer in pointers.pointers.items():
        if registry_id in state or pointer.active_ref is None:
            continue
        if last is None:  # no journal yet: the first change captures the file as found
            report.notes.append(
                Finding(
                    "NOT_JOURNALED",
                    f"{registry_id}: pointer {pointer.active_ref} predates the journal; the "
                    "first pointer change records it as found (an `adopt` record)",
                )
            )
            continue
        report.problems.append(
            Finding(
                "POINTER_MISMATCH",
                f"{registry_id}: the pointer file says {pointer.active_ref}, but the journal, "
                "which captured the file at its first record, never recorded it: the entry was "
                f"added by hand; {mismatch_advice(registry_id)}",
                registry_id=registry_id,
            )
        )


def difference(found: ActiveRef | None, recorded: ActiveRef | None) -> str:
    """How the pointer file's entry differs from the journal's, field by field (two refs can
    share a run id and root and still differ, e.g. in relpath)."""
    if found is None or recorded is None:
        return f"the pointer file says {found or '(none)'}, the journal says {recorded or '(none)'}"
    fields = ("run_id", "run_root", "relpath", "manifest_sha256")
    changed = [
        f"{name} is {getattr(found, name)!r} in the pointer file, {getattr(recorded, name)!r} in "
        "the journal"
        for name in fields
        if getattr(found, name) != getattr(recorded, name)
    ]
    return "; ".join(changed) or "the entries differ"


def mismatch_advice(registry_id: str) -> str:
    """The two ways out of a hand edit, each a journaled act."""
    return (
        f"`registry pointers accept {registry_id} --reason TEXT` records the edit (its target "
        f"must pass the gate), `registry pointers repair {registry_id} --reason TEXT` restores "
        "the journal's value"
    )
