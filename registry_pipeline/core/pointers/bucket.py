"""The pointer journal's bucket backend: the bucket's entries, mirrored into the local file (its
copy) once they verify, and one entry per change, created only where none is (docs/POINTERS.md)."""

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
from registry_pipeline.core.fs import write_atomic
from registry_pipeline.core.objstore.folders import published
from registry_pipeline.core.objstore.lease import KEY as LEASE_KEY
from registry_pipeline.core.objstore.ledger import Entry, Ledger
from registry_pipeline.core.objstore.store import Conflict
from registry_pipeline.core.pointers.journal import (
    MAX_JOURNAL_BYTES,
    ChainReplay,
    Check,
    FileJournal,
    JournalFormatError,
    JournalRecord,
    finding,
    keep_aside,
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
RESTORE = (
    "restore the rewritten entry from the bucket's versions or a backup (`registry pointers "
    "verify` on a new checkout names it)"
)
"""What to do about a rewritten entry of a bucket's journal (REMOTE_UNSUPPORTED)."""

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
class Mark:
    """What the local copy mirrors: the bucket's entries up to `seq`, as its first `size` bytes."""

    seq: int
    size: int
    sha256: str
    etag: str | None = None
    """Entry `seq`'s ETag as listed (None: a mark the release before wrote, a hint only)."""
    fence: int = 0
    """The epoch of the last fence entry among them: what a change is held to."""
    state: str = ""
    """The pointer file after them."""


@dataclass(frozen=True)
class BucketRepair:
    """What `set_aside_unverified` did: the last entry kept, the objects set aside, why."""

    head_seq: int
    kept: tuple[tuple[str, str], ...]
    problem: str


@dataclass(frozen=True)
class Base:
    """What a change starts from: the entries mirrored, and the local journal mirroring them."""

    mark: Mark
    journal: bytes = field(repr=False)


class BucketJournal:
    """The journal in a bucket, its local copy pulled before every command (`change`)."""

    def __init__(self, remote: Remote, root: Path, journal: Path, pointers: Path) -> None:
        self.local = FileJournal(journal, root)
        self.append, self.last = self.local.append, self.local.last  # the copy, as on a disk
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

    def pull(self, check: Check, redo: Callable[[], object], *, writes: bool = True) -> Base:
        """Make the local journal and pointers the bucket's once its new entries verify (each
        registry's last record admitted by `check`); else refuse, nothing applied or written."""
        local = _read(self.journal, journal=True)
        mark, entries = self._fetch(self._mirrored(local), local)
        try:
            text = self._verified_text(local[: mark.size] if mark else b"", entries, check)
        except PointerRefused:
            if mark is None:
                raise
            # this copy may be what diverged (it mirrored an entry `pointers repair` has set
            # aside since): the bucket's history, verified whole, is taken, the copy kept aside
            mark, entries = self._fetch(None, local)
            text = self._verified_text(b"", entries, check)
        changes = [entry for entry in entries if entry.changes]
        if not changes and mark is None:  # no change yet: a change takes this workspace's
            gone = self._gone([], changed=False)  # history in, a read-only command does not
            if gone is not None:
                raise gone
            if writes and self._bootstrap(check, entries):
                return self.pull(check, redo, writes=writes)
            return Base(self._mark_after(None, entries, b"", _read(self.pointers)), local)
        legacy = bool(changes) and changes[-1].state is None
        if legacy:  # entries the release before wrote: its head.json holds their pointer file
            state = self.ledger.legacy_state()
        elif changes:
            state = str(changes[-1].state)
        else:
            state = mark.state if mark else ""
        journal = (local[: mark.size] if mark else b"") + text
        if journal != local:
            if local and not journal.startswith(local):  # moved aside, the bucket's written
                self.set_aside = self._keep_aside(local, journal)
            write_atomic(self.journal, journal)
        self._write_pointers(state.encode("utf-8"))
        if legacy:  # a head that lagged behind its last change: the store completes it
            redo()
        base = Base(self._mark_after(mark, entries, journal, _read(self.pointers)), journal)
        self._save(base.mark)
        return base

    def _fetch(self, mark: Mark | None, local: bytes) -> tuple[Mark | None, list[Entry]]:
        """The entries after `mark` (after a mark that no longer holds: every entry, the mark
        None), up to a gap; REMOTE_STATE_INVALID past one, POINTERS_MISSING when the history
        is gone."""
        listed = self.ledger.listed(mark.seq - 1) if mark else self.ledger.listed(0)
        if mark is not None and listed and listed[0][0] == mark.seq:
            if listed[0][1] != mark.etag:  # rewritten or replaced since: fetched whole, verified
                return self._fetch(None, local)
            listed = listed[1:]
        elif mark is not None and not self.ledger.begun():
            raise self._gone([], changed=False) or self._vanished("its entries are gone")
        elif mark is not None and not listed:  # the last entries this copy mirrored are gone:
            whole = self._fetch(None, local)[1]  # kept while the bucket holds the rest of it
            text = "".join(entry.text for entry in whole).encode("utf-8")
            return (mark, []) if len(text) < mark.size and local.startswith(text) else (None, whole)
        start = mark.seq if mark else 0  # after a gap past `mark`, later entries continue it
        numbers = [seq for seq, _etag in listed]
        if mark is None and numbers[:1] not in ([], [1]):
            raise self._gone(numbers, changed=False) or self._vanished("its start is gone")
        entries: list[Entry] = []
        for seq in numbers:
            entry = self.ledger.read(seq, strict=False) if seq == start + 1 else None
            if entry is None:
                raise PointerRefused.of(
                    "REMOTE_STATE_INVALID",
                    path=f"{self.url}/{self.ledger.entry_key(start + 1)}",
                    what="an entry",
                    reason=f"missing, and entry {seq} is there: no writer leaves "
                    "it so; nothing was applied",
                    remedy="`registry pointers repair --reason "
                    "TEXT` sets the entries past the gap aside",
                )
            entries.append(entry)
            start += 1
        return mark, entries

    @staticmethod
    def _mark_after(mark: Mark | None, entries: list[Entry], journal: bytes, state: bytes) -> Mark:
        """The mark once `entries` are mirrored after `mark` as `journal`, the pointers `state`."""
        last = entries[-1] if entries else None
        fences = [entry.fence for entry in entries if entry.fence]
        return Mark(
            last.seq if last else mark.seq if mark else 0, len(journal), sha256_bytes(journal),
            last.etag if last else mark.etag if mark else None,
            fences[-1] if fences else mark.fence if mark else 0, state.decode("utf-8"),
        )  # fmt: skip

    def _verified_text(self, mirrored: bytes, entries: list[Entry], check: Check) -> bytes:
        """The text of `entries` once they continue `mirrored` and pass `check`; else raises."""
        text, bad, problem = self._verified(mirrored, entries, check)
        if problem is not None:
            raise self._refused(problem, f"entry {bad}" if bad else "this machine's copy", bad)
        return text

    def _verified(
        self, mirrored: bytes, entries: list[Entry], check: Check
    ) -> tuple[bytes, int | None, Problem | None]:
        """(text of the verified entries, the first that is not, its problem); Nones if all are."""
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
        first = None if mirrored else next((e.seq for e in entries if e.text), None)
        for entry in entries:
            found = _unreadable(entry)
            if found is not None:
                break
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
            try:  # the first entry: a workspace's history taken as found (`restore`)
                check(record, "restore" if seq == first else "mirror")
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
            "repair --reason TEXT` sets the entries that do not verify aside in the bucket",
            code=problem.code,
            path=f"{self.url}/{key}" if key else str(self.journal),
        )

    def vanished(self) -> PointerRefused | None:
        """POINTERS_MISSING when the bucket's pointer history is gone, else None."""
        numbers = [seq for seq, _etag in self.ledger.listed(0)]
        changed = any(entry.changes for entry in self.ledger.entries(0, strict=False))
        return self._gone(numbers, changed)

    def _gone(self, numbers: list[int], changed: bool) -> PointerRefused | None:
        """POINTERS_MISSING for a ledger of entries `numbers`, `changed` by some, else None."""
        if numbers[:1] not in ([], [1]):
            return self._vanished(f"its first entry is gone (entry {numbers[0]} is)")
        mark = None if changed else self._mark()
        if mark is not None and mark.seq > 0:
            lines = _read(self.journal, journal=True)[: mark.size].splitlines()
            seen = f", head {sha256_bytes(lines[-1])}" if lines else ""
            return self._vanished(f"this machine last saw its journal at entry {mark.seq}{seen}")
        if not changed and not self.ledger.begun() and published(self.remote.store, RUNS_PREFIX):
            return self._vanished("the bucket holds run folders but no pointer history")
        return None

    def begin(self, stamp: str) -> list[tuple[str, str]]:
        """Begin a vanished history anew: what is left of it set aside (key, SHA-256), entry 0."""
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
            path=f"{self.url}/{self.ledger.entry_key(0)}",
        )

    def _keep_aside(self, local: bytes, journal: bytes) -> SetAside:
        """Keep this machine's journal byte for byte aside, with the records only it has."""
        kept = keep_aside(self.root, self.journal)
        mirrored = set(journal.splitlines())
        records: list[JournalRecord] = []
        for line in local.splitlines():
            with contextlib.suppress(JournalFormatError):
                records.extend(parse_record(line).members() if line not in mirrored else ())
        return SetAside(kept, tuple(records))

    def set_aside_unverified(self, check: Check) -> BucketRepair | None:
        """`pointers repair`: the entries from the first that does not verify (or is missing)
        set aside, the last fence kept; None when every entry verifies."""
        numbers = [seq for seq, _etag in self.ledger.listed(0)]
        entries = list(self.ledger.entries(0, strict=False))
        _text, first_bad, problem = self._verified(b"", entries, check)
        if problem is None and len(entries) < len(numbers):
            first_bad = len(entries) + 1
            problem = finding("SEQ_GAP", expected=first_bad, found="entries after it remain")
        if problem is None:
            mark = self._mark()
            if mark is None or mark.seq <= len(entries):
                return None
            self.forget()  # the bucket lost entries this copy mirrored: the copy is kept aside
            return BucketRepair(len(entries), (), f"entry {mark.seq}, mirrored here, is gone")
        assert first_bad is not None
        bad = [entry for seq in numbers if seq >= first_bad
               and (entry := self.ledger.read(seq, strict=False)) is not None]  # fmt: skip
        if len([entry for entry in bad if entry.changes]) > 1:
            raise PointerRefused.of(
                "REMOTE_UNSUPPORTED",
                path=f"{self.url}/{self.ledger.entry_key(first_bad)}",
                what=f"the bucket's journal does not verify at entry {first_bad} "
                f"({problem_text(problem)}), and a change was written after it",
                remedy=RESTORE,
            )
        stamp = now_utc().strftime("%Y-%m-%dT%H%M%S.%fZ")
        keys = [self.ledger.entry_key(seq) for seq in reversed(numbers) if seq >= first_bad]
        kept = self.ledger.store.set_aside(keys, stamp)  # the last entry first: no gap
        held = next((entry.fence for entry in reversed(entries[: first_bad - 1]) if entry.fence), 0)
        fence = max((entry.fence for entry in bad), default=0)
        if fence > held:  # a later lease's fence set aside: it holds on
            with contextlib.suppress(Conflict):
                self.ledger.create(first_bad, fence=fence)
        self.forget()
        return BucketRepair(first_bad - 1, tuple(kept), problem_text(problem))

    def push(self, base: Base) -> None:
        """Create the change's entry after the mirrored ones; Conflict (nothing written, the
        copy put back) when another writer created it first."""
        journal = _read(self.journal, journal=True)
        if not journal.startswith(base.journal):
            raise PointerRefused.of(
                "REMOTE_UNSUPPORTED",
                path=self.journal,
                what="this change rewrote the journal",
                remedy="nothing was published",
            )
        added = journal[len(base.journal) :]
        if not added:
            return
        self._verify_grant(base)
        seq, state = base.mark.seq + 1, _read(self.pointers)
        try:
            etag = self.ledger.create(seq, added.decode("utf-8"), state.decode("utf-8"))
        except Conflict:
            self._put_back(base)  # the change runs again on the winner's state
            raise
        self._save(Mark(seq, len(journal), sha256_bytes(journal), etag, base.mark.fence,
                        state.decode("utf-8")))  # fmt: skip

    def _verify_grant(self, base: Base) -> None:
        """BUILD_LEASE_LOST when this process's lease was lost, or when the entries its change
        follows end under a later lease's fence (one written since: the change loses `Conflict`)."""
        grant = self.remote.grant
        if grant is None or (not grant.lost.is_set() and base.mark.fence <= grant.epoch):
            return
        self._put_back(base)
        how = "(its term ran out)" if grant.lost.is_set() else f"(epoch {base.mark.fence} took it)"
        raise PointerRefused.of(
            "BUILD_LEASE_LOST",
            path=f"{self.url}/{LEASE_KEY}",
            how=how,
            holder=f"this build's pointer change (epoch {grant.epoch})",
        )

    def _put_back(self, base: Base) -> None:
        """The local copy as pulled: a change that never reached the bucket leaves nothing."""
        write_atomic(self.journal, base.journal)
        self._write_pointers(base.mark.state.encode("utf-8"))

    def _bootstrap(self, check: Check, entries: list[Entry]) -> bool:
        """Seed a bucket with no change yet with the workspace's journal and pointers, once they
        verify (folders published first); True if there were any (Conflict: look again)."""
        journal, pointers = _read(self.journal, journal=True), _read(self.pointers)
        if not journal and not pointers:
            return False
        seq = entries[-1].seq + 1 if entries else 1
        problem = self._verified(b"", [Entry(seq, journal.decode("utf-8"), "")], check)[2]
        if problem is not None:  # checked as a sync checks it: never a history that does not
            raise self._refused(problem, "this machine's journal", None)
        self._publish_local_folders()  # published before any pointer names them
        with contextlib.suppress(Conflict):  # another machine's bootstrap, or a fence entry
            self.ledger.create(seq, journal.decode("utf-8"), pointers.decode("utf-8"))
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

    def _mark(self) -> Mark | None:
        """What this machine last mirrored of this bucket (a mark of the release before: only
        where it was), or None."""
        try:
            entry = self._mirrors().get(self.url)
            mark = entry.payload if entry is not None and MIRRORED in entry.checks else {}
            etag, state = mark.get("etag"), mark.get("state", "")
            if not (etag is None or isinstance(etag, str)) or not isinstance(state, str):
                return None
            return Mark(int(mark["seq"]), int(mark["size"]), str(mark["sha256"]), etag,
                        int(mark.get("fence", 0)), state)  # fmt: skip
        except (RegistryError, KeyError, TypeError, ValueError, RecursionError):  # a cache
            return None

    def _mirrored(self, local: bytes) -> Mark | None:
        """The mark, when the local journal's first bytes are what it mirrored; else None."""
        mark = self._mark()
        if mark is None or mark.etag is None or mark.seq < 1 or mark.size > len(local):
            return None
        return mark if sha256_bytes(local[: mark.size]) == mark.sha256 else None

    def forget(self) -> None:
        """Drop the record of what is mirrored: the next pull fetches the journal whole."""
        (self.root / SYNC_RELPATH).unlink(missing_ok=True)

    def _save(self, mark: Mark) -> None:
        cache = self._mirrors()
        cache.put(self.url, [MIRRORED], {"seq": mark.seq, "size": mark.size,
                                         "sha256": mark.sha256, "etag": mark.etag,
                                         "fence": mark.fence, "state": mark.state})  # fmt: skip
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


def _unreadable(entry: Entry) -> tuple[int, Problem] | None:
    """An entry whose object or text is not whole journal lines (RECORD_UNREADABLE)."""
    if entry.invalid is not None:
        why = f"not an entry this release writes ({entry.invalid})"
        return entry.seq, finding("RECORD_UNREADABLE", seq=entry.seq, reason=why)
    lines = entry.text.encode("utf-8").split(b"\n")
    if entry.text and (not entry.text.endswith("\n") or not all(lines[:-1])):
        return entry.seq, finding("RECORD_UNREADABLE", reason="its text is not whole journal lines")
    return None


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
        raise PointerRefused.of("CONTENDED", times=lost, seconds=f"{retry_for:g}") from None


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
