"""The pointer journal on a bucket's ledger, mirrored to the local copy (docs/SCALE.md)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.fs import read_small, require_safe, write_atomic
from registry_pipeline.core.objstore.folders import published
from registry_pipeline.core.objstore.ledger import Entry, Head, Ledger
from registry_pipeline.core.objstore.store import Conflict
from registry_pipeline.core.pointers.journal import (
    MAX_JOURNAL_BYTES,
    QUARANTINE_RELPATH,
    ChainReplay,
    Check,
    FileJournal,
    JournalFormatError,
    JournalRecord,
    finding,
    parse_record,
    problem_text,
)
from registry_pipeline.core.pointers.pointer_file import PointerRefused
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.verified import Verified
from registry_pipeline.core.workspace.input_files import MAX_CATALOG_FILE_BYTES, read_regular_file
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.remote import POINTERS_PREFIX, RUNS_PREFIX, Remote, remote_for

SYNC_RELPATH = ".codex/cache/remote_pointers.json"
SYNC_VERSION = "remote-pointers-2"
MIRRORED = "mirrored"
"""The check a sync records: the local journal's first bytes mirror the bucket's entries."""
PREFIX = POINTERS_PREFIX
RETRY_FOR = 120.0
"""Seconds a change is tried again after losing the race for the next entry."""

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class SetAside:
    """A local journal kept aside (where, workspace-relative) and the records only it had."""

    kept: str
    records: tuple[JournalRecord, ...]

    def advice(self) -> str:
        """Where the copy is, and the commands that make each change again."""
        listed = "; ".join(map(_command, self.records)) or "none"
        return (
            f"this machine's journal held {len(self.records)} record(s) the bucket does not "
            f"(journaled without the bucket); kept byte for byte at {self.kept}; to make them "
            f"count, run each change again: {listed}"
        )


def _unreadable(entry: Entry) -> tuple[int, Problem] | None:
    """An entry whose object or text is not whole journal lines (RECORD_UNREADABLE)."""
    if entry.invalid is not None:
        why = f"not an entry this release writes ({entry.invalid})"
        return entry.seq, finding("RECORD_UNREADABLE", why, entry.seq)
    lines = entry.text.encode("utf-8").split(b"\n")
    if not entry.fence and (not entry.text.endswith("\n") or not all(lines[:-1])):
        return entry.seq, finding("RECORD_UNREADABLE", "its text is not whole journal lines")
    return None


def _command(record: JournalRecord) -> str:
    reason = f" --reason {json.dumps(record.reason)}" if record.reason else ""
    to = record.to_ref.run_id if record.to_ref else None
    if record.action in ("hold", "release"):
        return f"`registry pointers {record.action} {record.registry_id}{reason}`"
    if record.action in ("promote", "rollback") and to:
        flag = " --to " if record.action == "rollback" else " "
        return f"`registry pointers {record.action} {record.registry_id}{flag}{to}{reason}`"
    return f"`registry pointers history {record.registry_id}` (#{record.seq} {record.action})"


@dataclass(frozen=True)
class BucketRepair:
    """What `set_aside_unverified` did: the head's entry, the objects kept (key, SHA-256), why."""

    head_seq: int
    kept: tuple[tuple[str, str], ...]
    problem: str


@dataclass(frozen=True)
class Base:
    """The state a change starts from: the head and the local journal that mirrors it."""

    head: Head
    journal: bytes = field(repr=False)


class BucketJournal:
    """The journal on object storage: the local file mirrors the ledger, pulled before changes."""

    def __init__(self, remote: Remote, root: Path, journal: Path, pointers: Path) -> None:
        self.local = FileJournal(journal, root)
        self.append, self.last = self.local.append, self.local.last  # as on a disk
        self.ledger = Ledger(remote.store, PREFIX)
        self.remote, self.url, self.root = remote, remote.url, root
        self.journal, self.pointers = journal, pointers
        self.set_aside: SetAside | None = None
        """Local records the bucket did not have, kept aside by the last pull."""

    @contextmanager
    def change(self, check: Check, redo: Callable[[], object], *, writes: bool) -> Iterator[None]:
        """One change, under the pointer lock: `pull`, then `push` (`writes=False`: only a pull)."""
        base = self.pull(check, redo, writes=writes)
        try:
            yield
        finally:
            if writes:
                self.push(base)

    def pull(
        self,
        check: Check,
        redo: Callable[[], object],
        *,
        writes: bool = True,
    ) -> Base:
        """Make the local journal and pointers the bucket's once new entries verify; else none."""
        head = self.ledger.head()
        local = _read(self.journal, journal=True)
        start, size = self._mirrored(local)
        entries = list(self.ledger.records(start, strict=False))
        past = start > head.seq and not entries
        if past and self.ledger.store.get(self.ledger.entry_key(start)) is None:
            start, size = 0, 0  # the bucket lost the entry this copy mirrored: fetched whole
            entries = list(self.ledger.records(0, strict=False))
        if not any(not entry.fence for entry in entries) and not start:
            # no change yet: a change takes this workspace's journal and pointer file into it,
            # a read-only command does not; refused when its history vanished
            gone = self.vanished(head)
            if gone is not None:
                raise gone
            if not writes or not self._bootstrap():
                return Base(head, local)
            head = self.ledger.head()
            entries = list(self.ledger.records(0, strict=False))
        try:
            text = local[:size] + self.verify_entries(local[:size], entries, check, head.seq)
        except PointerRefused as refused:
            if not start:
                raise
            # this copy may be what diverged (it mirrored an entry `pointers repair` has set
            # aside since): the bucket's history verified whole is taken, the copy kept aside
            whole = list(self.ledger.records(0, strict=False))
            try:
                fresh = self.verify_entries(b"", whole, check, head.seq)
            except PointerRefused:
                raise refused from None
            start, size, entries, text = 0, 0, whole, fresh
        last = entries[-1].seq if entries else start
        pending = [entry for entry in entries if entry.seq > head.seq]
        if last > head.seq and (not pending or pending[0].seq != head.seq + 1):
            # mirrored (and verified) by an earlier pull, but the head has not moved over it
            pending = list(self.ledger.records(head.seq, strict=False))
            tail = "".join(entry.text for entry in pending).encode("utf-8")
            if any(entry.invalid for entry in pending) or not text.endswith(tail):
                problem = finding("CHAIN_BROKEN", "rewritten since this machine mirrored it")
                raise self._refused(problem, f"entry {head.seq + 1}", head.seq + 1)
        changes = [entry.seq for entry in pending if not entry.fence]
        if head.seq > last or changes not in ([], [head.seq + 1]):  # then fence entries only
            if self.ledger.head().etag != head.etag:  # other writers moved on between the
                return self.pull(check, redo, writes=writes)  # reads: nothing written yet
            raise PointerRefused(
                f"the bucket's pointer head is at entry {head.seq} and its journal at {last}: "
                "no writer leaves it so; nothing was applied; `registry pointers repair "
                "--reason TEXT` sets the entries past the head aside and puts the head back on "
                "the last entry that verifies",
                code="REMOTE_STATE_INVALID",
                path=f"{self.url}/{self.ledger.head_key}",
            )
        for entry in pending if pending and pending[0].seq <= start else []:
            for line in entry.text.encode("utf-8").splitlines():  # checked against the copy
                for record in parse_record(line).members():  # each move of a set entry
                    check(record, "redo")
        if text != local:
            if local and text[: len(local)] != local:
                self.set_aside = self._keep_aside(local, start, size)
            write_atomic(self.journal, text)
        self._write_pointers(head.state.encode("utf-8"))
        if pending:  # a writer stopped between its entry and the head, or a fence not in it
            if changes:
                redo()
            if writes:
                fence = max(entry.fence for entry in pending)
                with contextlib.suppress(Conflict):  # a rival completed it first: the same
                    head = self.ledger.advance(
                        head, last, _read(self.pointers).decode("utf-8"), fence
                    )
                if head.seq != last:
                    head = self.ledger.head()
                if head.seq > last:  # a rival's change after `last` came first: this copy
                    # is at `last`, so the change's entry, as `last + 1`, loses (`Conflict`)
                    head = Head(last, _read(self.pointers).decode("utf-8"), None, head.fence)
        self._save(last, text)
        return Base(head, text)

    def verify_entries(
        self, mirrored: bytes, entries: list[Entry], check: Check, settled: int
    ) -> bytes:
        """The text of `entries` once they continue `mirrored` and pass `check`; else raises."""
        text, bad, problem = self._verified(mirrored, entries, check, settled)
        if problem is not None:
            raise self._refused(problem, f"entry {bad}" if bad else "this machine's copy", bad)
        return text

    def _verified(
        self, mirrored: bytes, entries: list[Entry], check: Check, settled: int
    ) -> tuple[bytes, int | None, Problem | None]:
        """(text of the verified entries, the first that is not, its problem); Nones if all are."""
        if not any(entry.text or entry.invalid for entry in entries):
            return b"", None, None
        replay = ChainReplay()
        number = 0
        for number, line in enumerate(mirrored.splitlines(), start=1):
            problem = replay.add(number, line)
            if problem is not None:  # the local copy itself: fetched again whole next time
                self.forget()
                return b"", None, problem
        added: list[tuple[int, bytes]] = []
        latest: dict[str, tuple[int, JournalRecord]] = {}
        found: tuple[int, Problem] | None = None
        first = None if mirrored else next((e.seq for e in entries if not e.fence), None)
        for entry in entries:
            found = _unreadable(entry)
            if found is not None:
                break
            if entry.fence:
                continue
            data = entry.text.encode("utf-8")
            for line in data.split(b"\n")[:-1]:
                number += 1
                problem = replay.add(number, line)
                if problem is not None:
                    found = (entry.seq, problem)
                    break
                assert replay.last is not None
                latest.update((r.registry_id, (entry.seq, r)) for r in replay.last.members())
            if found is not None:
                break
            added.append((entry.seq, data))
        for seq, record in sorted(latest.values(), key=lambda item: item[0]):
            if found is not None and seq >= found[0]:
                break
            try:
                check(record, "restore" if seq == first else "redo" if seq > settled else "mirror")
            except PointerRefused as exc:
                found = (seq, finding(exc.code, exc.message, record.seq))
                break
        if found is None:
            return b"".join(data for _, data in added), None, None
        seq, problem = found
        return b"".join(data for at, data in added if at < seq), seq, problem

    def _refused(self, problem: Problem, where: str, seq: int | None) -> PointerRefused:
        key = self.ledger.entry_key(seq) if seq is not None else None
        return PointerRefused(
            f"the bucket's journal does not verify at {where} ({problem.code}: {problem.message}); "
            "nothing of it was applied, on this machine or in the bucket; `registry pointers "
            "repair --reason TEXT` sets the entries that do not verify aside in the bucket "
            "and puts the head back on the last entry that does",
            code=problem.code,
            path=f"{self.url}/{key}" if key else str(self.journal),
        )

    def vanished(self, head: Head | None = None) -> PointerRefused | None:
        """POINTERS_MISSING when the ledger holds no change but had a history, else None."""
        head = head or self.ledger.head()
        entries = list(self.ledger.records(0, strict=False))
        if any(not entry.fence for entry in entries):
            return None
        if head.seq > 0 and not entries:
            return self._vanished(f"the head names entry {head.seq}, the journal has none")
        mark = self._mark()
        if mark is not None and mark[0] > 0:
            lines = _read(self.journal, journal=True)[: mark[1]].splitlines()
            seen = f", head {sha256_bytes(lines[-1])}" if lines else ""
            return self._vanished(f"this machine last saw its journal at entry {mark[0]}{seen}")
        if head.etag is None and published(self.remote.store, RUNS_PREFIX):
            return self._vanished("the bucket holds run folders but no pointer history")
        return None

    def begin(self, stamp: str) -> list[tuple[str, str]]:
        """Begin a vanished history anew: the ledger set aside (key, SHA-256), the head empty."""
        self.forget()
        kept = self.ledger.store.set_aside(sorted(self.ledger.store.keys(self.ledger.prefix),
                                                  reverse=True), stamp)  # fmt: skip
        self.ledger.begin()
        return kept

    def _vanished(self, why: str) -> PointerRefused:
        return PointerRefused(
            f"the bucket's pointer history ({self.url}/{PREFIX}/) is gone ({why}); nothing "
            "starts a new one by itself: `registry pointers repair --reason TEXT` on a machine "
            "that has the last copy puts it back (on another machine it starts a new history "
            "from the pointer file as found, journaled)",
            code="POINTERS_MISSING",
            path=f"{self.url}/{self.ledger.head_key}",
        )

    def _keep_aside(self, local: bytes, start: int, size: int) -> SetAside:
        """Keep this machine's journal byte for byte in the quarantine folder (time-sorted)."""
        folder = self.root / QUARANTINE_RELPATH
        kept = folder / f"{now_utc().strftime('%Y-%m-%dT%H%M%S.%fZ')}__{self.journal.name}"
        require_safe(self.root, kept)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(kept, local)
        only_here = local[size:] if start else local
        records: list[JournalRecord] = []
        for line in only_here.splitlines():
            with contextlib.suppress(JournalFormatError):
                records.extend(parse_record(line).members())
        return SetAside(kept.relative_to(self.root).as_posix(), tuple(records))

    def set_aside_unverified(
        self, check: Check, state_at: Callable[[bytes], bytes]
    ) -> BucketRepair | None:
        """`pointers repair`: set unverified entries aside, put the head on the last good one."""
        head = self.ledger.head()
        entries = list(self.ledger.records(0, strict=False))
        _text, first_bad, problem = self._verified(b"", entries, check, head.seq)
        good = first_bad - 1 if first_bad is not None else (entries[-1].seq if entries else 0)
        changes = [e.seq for e in entries if head.seq < e.seq <= good and not e.fence]
        if len(changes) > 1 and head.etag is not None:  # one change at most waits for a head
            good, problem = (
                changes[0],
                problem
                or finding("SEQ_GAP", f"entries {changes[1]}.. were written past a pending entry"),
            )
        bad = [entry for entry in entries if entry.seq > good]
        headless = head.etag is None and any(not entry.fence for entry in entries)
        if problem is None and head.seq <= (entries[-1].seq if entries else 0) and not headless:
            return None
        if good < head.seq and len([entry for entry in bad if not entry.fence]) > 1:
            raise PointerRefused(
                f"the bucket's journal does not verify at entry {good + 1} "
                f"({problem_text(problem) if problem else None}), and "
                f"the head had moved over it and {len(bad) - 1} entries after it: a rewritten "
                "entry of the history, never set aside (its entries are immutable); restore it "
                "from the bucket's versions or a backup (`registry pointers verify` on a new "
                "checkout names it)",
                code="REMOTE_UNSUPPORTED",
                path=f"{self.url}/{self.ledger.entry_key(good + 1)}",
            )
        keys = [self.ledger.entry_key(entry.seq) for entry in reversed(bad)]
        if head.seq > good:
            keys.append(self.ledger.head_key)
        stamp = now_utc().strftime("%Y-%m-%dT%H%M%S.%fZ")
        fence = max([head.fence, *(entry.fence for entry in entries)])
        if head.seq <= good and not headless:
            state = head.state.encode("utf-8")
        else:  # the head is past the entries that verify, or gone: rebuilt from them
            kept_entries = [entry for entry in entries if entry.seq <= good]
            state = state_at(self._verified(b"", kept_entries, check, head.seq)[0])
        kept = self.ledger.store.set_aside(keys, stamp)  # the last entry first: no gap
        put_back = Head(head.seq, head.state, None) if head.seq > good else head
        self.ledger.advance(put_back, good, state.decode("utf-8"), fence)
        self.forget()
        why = (
            problem_text(problem)
            if problem
            else ("the head was gone" if headless else f"the head was at entry {head.seq}")
        )
        return BucketRepair(good, tuple(kept), why)

    def push(self, base: Base) -> None:
        """Write the change as the next entry, then the head; Conflict (none written) if beaten."""
        journal = _read(self.journal, journal=True)
        if not journal.startswith(base.journal):
            raise PointerRefused(
                "this change rewrote the journal, which a workspace on object storage never "
                "does (its entries are immutable); nothing was published",
                code="REMOTE_UNSUPPORTED",
                path=str(self.journal),
            )
        added = journal[len(base.journal) :]
        if not added:
            return
        self._verify_grant(base)
        seq = base.head.seq + 1
        try:
            self.ledger.append(seq, added.decode("utf-8"))
        except Conflict:
            self._put_back(base)  # the change runs again on the winner's state
            raise
        with contextlib.suppress(Conflict):  # a reader completed it for us
            self.ledger.advance(base.head, seq, _read(self.pointers).decode("utf-8"))
        self._save(seq, journal)

    def _verify_grant(self, base: Base) -> None:
        """BUILD_LEASE_LOST when this process's lease was lost or fenced off (copy put back)."""
        grant = self.remote.grant
        if grant is None:
            return
        try:
            if grant.lost.is_set():
                raise RegistryError(
                    f"the build lease (epoch {grant.epoch}) was lost; its pointer change was "
                    "refused, nothing written",
                    code="BUILD_LEASE_LOST",
                    path=f"{self.url}/{self.ledger.head_key}",
                )
            self.ledger.verify_fence(base.head, grant.epoch)
        except RegistryError as exc:
            self._put_back(base)
            raise PointerRefused.of(exc) from None

    def _put_back(self, base: Base) -> None:
        """The local copy as pulled: a change that never reached the bucket leaves nothing."""
        write_atomic(self.journal, base.journal)
        self._write_pointers(base.head.state.encode("utf-8"))

    def _bootstrap(self) -> bool:
        """Seed an empty bucket with the workspace's journal and pointers; True if any."""
        journal, pointers = _read(self.journal, journal=True), _read(self.pointers)
        if not journal and not pointers:
            return False
        self._publish_local_folders()  # published before any pointer names them
        while not any(not entry.fence for entry in self.ledger.records(0, strict=False)):
            head = self.ledger.head()
            fences = list(self.ledger.records(head.seq))
            seq = (fences[-1].seq if fences else head.seq) + 1
            try:
                self.ledger.append(seq, journal.decode("utf-8"))
            except Conflict:
                continue  # another machine's bootstrap, or a fence entry: look again
            fence = max((entry.fence for entry in fences), default=0)
            with contextlib.suppress(Conflict):  # a reader completed it for us
                self.ledger.advance(head, seq, pointers.decode("utf-8"), fence)
            break
        return True

    def _publish_local_folders(self) -> None:
        """Publish every run folder of this workspace the bucket does not list yet."""
        runs = self.root / RUNS_RELPATH
        if not runs.is_dir() or runs.is_symlink():
            return
        listed = set(published(self.remote.store, RUNS_PREFIX))
        for entry in sorted(os.scandir(runs), key=lambda entry: entry.name):
            if entry.name.startswith(".") or entry.name in listed or entry.is_symlink():
                continue
            if entry.is_dir():
                self.remote.publish_folder(Path(entry.path), entry.name)

    def _mark(self) -> tuple[int, int, str] | None:
        """(entry, bytes, sha256) this machine last mirrored of this bucket, or None."""
        try:
            entry = self._mirrors().get(self.url)
            if entry is not None and MIRRORED in entry.checks:
                mark = entry.payload
            else:
                old = json.loads(read_small(self.root / SYNC_RELPATH, 1 << 20) or b"null")
                mark = old if isinstance(old, dict) and old.get("store") == self.url else {}
            return int(mark["seq"]), int(mark["size"]), str(mark["sha256"])
        except (RegistryError, KeyError, TypeError, ValueError, RecursionError):  # a cache
            return None

    def _mirrored(self, local: bytes) -> tuple[int, int]:
        """(entry, bytes): the local journal's first bytes mirror entries 1..entry; else (0, 0)."""
        seq, size, digest = self._mark() or (0, 0, "")  # none: "" is no digest
        if size > len(local) or sha256_bytes(local[:size]) != digest:
            return 0, 0
        return seq, size

    def forget(self) -> None:
        """Drop the record of what is mirrored: the next pull fetches the journal whole."""
        (self.root / SYNC_RELPATH).unlink(missing_ok=True)

    def _save(self, seq: int, journal: bytes) -> None:
        cache = self._mirrors()
        digest = sha256_bytes(journal)
        cache.put(self.url, [MIRRORED], {"seq": seq, "size": len(journal), "sha256": digest})
        cache.save()

    def _mirrors(self) -> Verified:
        """The one verified cache, keeping how much of the local journal mirrors the bucket."""
        return Verified(self.root, SYNC_RELPATH, version=SYNC_VERSION, latest=True)

    def _write_pointers(self, state: bytes) -> None:
        if not state:
            self.pointers.unlink(missing_ok=True)
        elif _read(self.pointers) != state:
            self.pointers.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.pointers, state)


def retry_lost(change: Callable[[], T], retry_for: float = RETRY_FOR) -> T:
    """Run `change` until it wins the race for the next entry; CONTENDED after `retry_for` s."""
    import tenacity

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(Conflict),
        stop=tenacity.stop_after_delay(retry_for),
        wait=tenacity.wait_random_exponential(multiplier=0.005, max=0.5),
    )
    try:
        return retrying(change)
    except tenacity.RetryError as exc:
        lost = exc.last_attempt.attempt_number
        raise PointerRefused(
            f"lost the race for the next journal entry {lost} times in {retry_for:g} s to "
            "other machines; nothing was changed, try again",
            code="CONTENDED",
        ) from None


def retried(change: Callable[P, T]) -> Callable[P, T]:
    """`change`, run again whole when another machine won the next entry (`retry_lost`)."""

    @functools.wraps(change)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return retry_lost(lambda: change(*args, **kwargs))

    return run


def read_local(path: Path, *, journal: bool = False) -> bytes | None:
    """This machine's pointer file (`journal`: its journal) at `path`, None when absent; a FIFO,
    a device or a folder there is refused by its kind (NOT_A_REGULAR_FILE): a record, never
    waited on nor read without end (over its limit: INPUT_TOO_LARGE)."""
    what, limit = (
        ("pointer journal", MAX_JOURNAL_BYTES)
        if journal
        else ("pointer file", MAX_CATALOG_FILE_BYTES)
    )
    try:
        return read_regular_file(path, limit=limit, what=what)
    except FileNotFoundError:
        return None


def _read(path: Path, *, journal: bool = False) -> bytes:
    """`read_local`, b"" when absent."""
    return read_local(path, journal=journal) or b""


def journal_for(workspace: Workspace, journal: Path, pointers: Path) -> FileJournal | BucketJournal:
    """The backend of a workspace's journal: its bucket's, or the local file's."""
    remote = remote_for(workspace)
    if remote is None:
        return FileJournal(journal, workspace.root)
    return BucketJournal(remote, workspace.root, journal, pointers)
