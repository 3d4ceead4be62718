"""`registry pointers repair`: the explicit, journaled way out of a broken history."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from registry_pipeline.core.errors import MESSAGES, Problem, RegistryError
from registry_pipeline.core.fs import fsync_dir
from registry_pipeline.core.lock import exclusive_lock
from registry_pipeline.core.objstore.folders import folder_key, listing, published
from registry_pipeline.core.objstore.lease import KEY as LEASE_KEY
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.pointers.bucket import RESTORE, BucketJournal, read_local, retried
from registry_pipeline.core.pointers.journal import (
    JournalRecord,
    VerifyReport,
    interrupted,
    journal_gone,
    keep_aside,
    last_record,
    problem_text,
    read_records,
)
from registry_pipeline.core.pointers.pointer_file import (
    Pointer,
    PointerFile,
    PointerRefused,
    parse_pointer_file,
    ref_json,
)
from registry_pipeline.core.pointers.store import TARGET_CODES, Admit, PointerStore
from registry_pipeline.core.pointers.targets import apply_record, target_folder
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.run_id import now_utc, utc_timestamp
from registry_pipeline.core.workspace.layout import RUNS_RELPATH
from registry_pipeline.core.workspace.remote import POINTERS_PREFIX, RUNS_PREFIX, Remote, remote_for


@dataclass(frozen=True)
class Repair:
    """What `repair` did: `restored` one registry, or `restarted` the journal."""

    kind: str
    records: tuple[JournalRecord, ...]
    quarantined: str | None = None
    """Where the broken journal (a restart) or the unreadable pointer file (`--all`) is kept."""
    problem: str | None = None
    completed: JournalRecord | None = None
    """The journal's last line, missing from the pointer file (lost before it was applied),
    that `--all` applied once every value had passed the gate, before restoring the rest."""


@retried
def repair(
    store: PointerStore,
    registry_id: str | None,
    *,
    reason: str,
    actor: dict[str, str],
    admit: Admit | None,
    every: bool = False,
) -> Repair:
    """Restore `registry_id`'s hand-edited pointer (`every`: each pointer the journal does not
    explain, as when the pointer file was deleted), or (None) restart a broken journal."""
    store.require_change(reason, "a repair")
    remote = remote_for(store.workspace)
    if remote is not None and registry_id is None and not every:
        done = _repair_bucket(store, remote, reason, actor, admit)
        if done is not None:
            return done
    with store.locked(admit=admit):
        if registry_id is None and not every:
            chain = _chain(store.verified(store.read()))
            if not chain:
                raise PointerRefused.of(
                    "NOTHING_TO_REPAIR",
                    reason="the journal's chain is intact",
                    what="restart (a hand edit: `registry pointers repair REGISTRY --reason "
                    "TEXT` restores one pointer, `--all` every one)",
                )
            return _restart(store, problem_text(chain[0]), reason, actor, admit)
        pointers, aside, unreadable = _read_or_set_aside(store, every)
        try:
            values, completed = _admitted(store, pointers, registry_id, actor, admit, every, aside)
            if completed is not None:
                store.redo(admit)  # its moves through the gate, as the next change's would
        except BaseException as exc:
            if aside is None or store.pointers_path.exists():
                raise
            os.replace(store.workspace.root / aside, store.pointers_path)  # refused: as it was
            fsync_dir(store.pointers_path.parent)
            if not isinstance(exc, RegistryError):
                raise
            back = f"{exc.message} (the unreadable pointer file is back in its place, unchanged"
            back += ")" if exc.code in UNREADABLE_CODES else ": move it away to follow this advice)"
            raise PointerRefused.from_error(exc, back) from None
        kept = {"set_aside": aside, "problem": unreadable} if aside else {}
        records = tuple(_restore(store, each, value, reason, actor, kept)
                        for each, value in values.items())  # fmt: skip
        return Repair("restored", records, aside, unreadable, completed=completed)


UNREADABLE_CODES = ("POINTERS_INVALID", "NOT_A_REGULAR_FILE", "UNREADABLE", "INPUT_TOO_LARGE")
"""The codes of a pointer file no reader accepts: garbled, a FIFO or a folder, too large."""


def _read_or_set_aside(
    store: PointerStore, every: bool
) -> tuple[PointerFile, str | None, str | None]:
    """The pointer file; for `--all`, one no reader accepts (`UNREADABLE_CODES`) moved,
    unopened, into the quarantine to be written again from the journal: then none (an empty
    file), where it is kept and why."""
    try:
        return store.read(), None, None
    except RegistryError as exc:
        if not every or exc.code not in UNREADABLE_CODES or exc.path != str(store.pointers_path):
            raise
        aside = keep_aside(store.workspace.root, store.pointers_path)
        return PointerFile(), aside, f"{exc.code}: {_sentence(exc)}"


def _sentence(exc: RegistryError) -> str:
    """What `exc` says without its code's hint (which names the `--all` being run)."""
    return exc.message.removesuffix(f"; {MESSAGES[exc.code].hint}")


def _chain(report: VerifyReport) -> list[Problem]:
    """The problems of the journal's own history (its chain), not of what it points at."""
    return [p for p in report.problems if p.code not in TARGET_CODES
            and p.code not in ("POINTER_MISMATCH", "HEAD_NOT_FOUND")]  # fmt: skip


def _admitted(
    store: PointerStore,
    pointers: PointerFile,
    registry_id: str | None,
    actor: dict[str, str],
    admit: Admit | None,
    every: bool,
    aside: str | None,
) -> tuple[dict[str, SealedRef | None], JournalRecord | None]:
    """The journal's value of each registry to restore and the lost last line to apply
    (`every`), once each value has passed the gate; refused (nothing written) on a broken chain
    or with nothing to do."""
    gone = journal_gone(store.workspace.root, store.journal_path, True) if aside else None
    if gone is not None:  # the file that named snapshots is the one set aside
        raise PointerRefused.of(
            "JOURNAL_MISSING", path=store.journal_path, found=gone, journal=JOURNAL_NAME
        )
    report = store.verified(pointers)
    if chain := _chain(report):
        lost = ""  # what a restart, adopting the pointer file as found, would start from
        if aside is not None:
            lost = ("; the pointer file is unreadable too, and a restart adopts the pointer file "
                    "as found: put a readable copy in its place first (from git or a backup), "
                    "or remove it, and the new journal starts with nothing active")  # fmt: skip
        elif not store.pointers_path.exists():
            lost = ("; the pointer file is missing too, and a restart adopts it as found: put "
                    "it back first (from git or a backup), or the new journal starts with "
                    "nothing active")  # fmt: skip
        raise PointerRefused(
            f"the journal is broken ({problem_text(chain[0])}); restart it first: "
            f"`registry pointers repair --reason TEXT`{lost}",
            code=chain[0].code,
        )
    completed = store.journal.last() if every else None
    if completed is not None and interrupted(pointers, completed):  # the file lost before
        report = store.verified(apply_record(pointers, completed))  # the last line applied
    else:
        completed = None
    edited = sorted({str(p.extra.get("registry_id")) for p in report.problems
                     if p.code == "POINTER_MISMATCH"})  # fmt: skip
    wanted = edited if every else [registry_id] if registry_id in edited else []
    if not wanted and completed is None and aside is None:  # else the repair is the set-aside
        which = "every pointer" if every else f"the pointer of {registry_id}"
        raise PointerRefused.of(
            "NOTHING_TO_REPAIR", what="restore", reason=f"the journal explains {which}"
        )
    values = {each: store.recorded(each) for each in wanted}
    for each, recorded in values.items():  # each through the gate before the first goes back
        if recorded is not None and recorded.run_id:
            _admit_restored(store, each, recorded, actor, admit, each in pointers.pointers)
    if every:
        _require_readable(store, apply_record(pointers, completed) if completed else pointers,
                          values)  # fmt: skip
    return values, completed


def _require_readable(
    store: PointerStore, pointers: PointerFile, values: dict[str, SealedRef | None]
) -> None:
    """The pointer file `--all` is about to write, made in memory and read back as every reader
    reads it: one no reader would accept either (the pointer file's schema edited so that it
    refuses what the store writes) is refused before the first write."""
    now = utc_timestamp(now_utc())
    for registry_id, recorded in values.items():
        pointers = _with_journal_value(pointers, registry_id, recorded, now, "")
    try:
        parse_pointer_file(pointers.render(), store.pointers_path, store.schemas)
    except RegistryError as exc:
        raise PointerRefused(
            f"the pointer file written again from the journal would be refused too "
            f"({_sentence(exc)}): the pointer file's schema, not the file, refuses it; "
            "restore the schema first",
            code=exc.code,
            path=str(store.pointers_path),
        ) from None


def _restore(
    store: PointerStore,
    registry_id: str,
    recorded: SealedRef | None,
    reason: str,
    actor: dict[str, str],
    kept: dict[str, Any],
) -> JournalRecord:
    """Journal the journal's value `recorded` of `registry_id` as put back (admitted), then
    write it; `kept`: where the unreadable pointer file it replaces was set aside, and why."""
    pointers = store.read()
    found = pointers.active(registry_id)
    checks: dict[str, Any] = {"restored": {
        "passed": True, "found": ref_json(found) if found else None,
        "source": "registry pointers repair", **kept}}  # fmt: skip
    record, _ = store.append(registry_id, recorded, recorded, "restore", reason, actor, checks)
    note = f"restore by {actor.get('kind')}:{actor.get('id')}: {reason}"
    updated = _with_journal_value(pointers, registry_id, recorded, record.created_utc, note)
    store.write_pointers(updated)
    return record


def _with_journal_value(
    pointers: PointerFile, registry_id: str, recorded: SealedRef | None, now: str, note: str
) -> PointerFile:
    """`pointers` with the journal's value of `registry_id` (None: no entry) written at `now`;
    an entry kept keeps the time its snapshot became active."""
    if recorded is None:
        remaining = {k: v for k, v in pointers.pointers.items() if k != registry_id}
        return replace(pointers, pointers=remaining, last_updated_utc=now)
    old = pointers.pointers.get(registry_id)
    since = old.active_asof_utc if old else now
    return pointers.with_pointer(Pointer(registry_id, recorded, True, since, note), now)


def _restart(
    store: PointerStore, problem: str, reason: str, actor: dict[str, str], admit: Admit | None
) -> Repair:
    """Quarantine the broken journal, then adopt the pointer file as found; refused: no change."""
    if remote_for(store.workspace) is not None:
        raise PointerRefused.of(
            "REMOTE_UNSUPPORTED", what="a repair restarts the journal", remedy=RESTORE
        )
    journal = store.journal_path
    digest = where = None  # JOURNAL_MISSING: nothing to keep
    broken = read_local(journal, journal=True)  # a FIFO, a device: refused, never waited on
    if broken is not None:
        digest = sha256_bytes(broken)
        where = keep_aside(store.workspace.root, journal)
    try:
        _admit_as_found(store, actor, admit)
    except BaseException:
        if where is not None:
            os.replace(store.workspace.root / where, journal)
            fsync_dir(journal.parent)
        raise
    repaired = {"passed": True, "quarantined": where, "sha256": digest, "problem": problem[:500]}
    records = store.adopt_as_found(
        actor=actor,
        note=f"journal restarted by `registry pointers repair`: {reason}; "
        + (f"the broken journal is kept at {where}" if where else "the journal was gone"),
        extra={"repair": repaired},
    )
    return Repair("restarted", tuple(records), where, problem)


def _repair_bucket(
    store: PointerStore, remote: Remote, reason: str, actor: dict[str, str], admit: Admit | None
) -> Repair | None:
    """Repair a bucket's ledger (None: none needed); restored pointers pass the gate; journaled."""
    objects = _set_aside_malformed(remote)
    replica = BucketJournal(remote, store.workspace.root, store.journal_path, store.pointers_path)
    with exclusive_lock(store.lock_path, timeout=store.lock_timeout):
        missing, done = replica.vanished() is not None, None
        if not missing:
            done = replica.set_aside_unverified(
                lambda record, action: store.check_mirrored(record, action, admit)
            )
    if missing:
        return _put_back(store, replica, reason, actor, admit)
    if done is None:
        if objects:
            kept = ", ".join(f"{remote.url}/{key}" for key, _ in objects)
            return Repair("set_aside", (), kept, "objects no release writes")
        return None
    with store.locked(admit=admit):
        _admit_as_found(store, actor, admit, action="restore")
        pointers = store.read()
        last = last_record(store.journal_path)
        if last is None:
            return Repair("set_aside", (), ", ".join(k for k, _ in done.kept), done.problem)
        current = pointers.active(last.registry_id)
        checks = {"repair": {"passed": True, "set_aside": [k for k, _ in done.kept],
                             "sha256": [d for _, d in done.kept], "problem": done.problem[:500],
                             "head_seq": done.head_seq}}  # fmt: skip
        record, _ = store.append(last.registry_id, current, current, "restore", reason, actor,
                                 checks)  # fmt: skip
    kept = ", ".join(f"{remote.url}/{key}" for key, _ in [*objects, *done.kept])
    return Repair("set_aside", (record,), kept, done.problem)


def _set_aside_malformed(remote: Remote) -> list[tuple[str, str]]:
    """Set aside the lease, malformed folders and non-entries in the journal: none is history."""
    keys = Ledger(remote.store, POINTERS_PREFIX).strays()
    try:
        remote.lease().current()
    except RegistryError as exc:
        if exc.code != "REMOTE_STATE_INVALID":
            raise
        keys.append(LEASE_KEY)
    for run_id in published(remote.store, RUNS_PREFIX):
        try:
            listing(remote.store, RUNS_PREFIX, run_id)
        except RegistryError as exc:
            if exc.code != "REMOTE_STATE_INVALID":
                raise
            keys.append(folder_key(RUNS_PREFIX, run_id))
    return remote.store.set_aside(keys, now_utc().strftime("%Y-%m-%dT%H%M%S.%fZ"))


def _put_back(
    store: PointerStore,
    replica: BucketJournal,
    reason: str,
    actor: dict[str, str],
    admit: Admit | None,
) -> Repair:
    """A vanished bucket history is put back from this machine's copy (or the pointer file)."""
    _admit_as_found(store, actor, admit, action="restore")
    replica.begin(now_utc().strftime("%Y-%m-%dT%H%M%S.%fZ"))
    with store.locked(admit=admit):
        pass  # a change: an empty ledger takes the workspace's journal and pointer file
    records = tuple(read_records(store.journal_path))
    return Repair("put_back", records[-1:], None, f"the history was gone: {reason}")


def _admit_restored(
    store: PointerStore,
    registry_id: str,
    recorded: SealedRef,
    actor: dict[str, str],
    admit: Admit | None,
    edited: bool,
) -> None:
    """The journal's value goes back only through the gate (`restore`), as every move does;
    `edited`: the pointer file has an entry for `registry_id` (not deleted with the file)."""
    try:
        folder = target_folder(store.workspace, registry_id, recorded.run_id or "")
        store.admit(admit, registry_id, folder, recorded, "restore", actor)
    except PointerRefused as exc:
        if exc.code == "TARGET_MISSING":
            return  # restored as the journal recorded it: `verify` reports the lost folder
        keep = (
            f"keep the edit if its target passes (`registry pointers accept {registry_id} "
            "--reason TEXT`); or name" if edited else "put back the others one at a time "
            "(`registry pointers repair REGISTRY --reason TEXT`), then name"
        )  # fmt: skip
        raise PointerRefused.from_error(
            exc,
            f"the journal's value for {registry_id} cannot be put back: {exc.message}; {keep} "
            f"in the pointer file a snapshot of {registry_id} that passed its checks and accept "
            "that",
        ) from None


def _admit_as_found(
    store: PointerStore, actor: dict[str, str], admit: Admit | None, action: str = "adopt"
) -> None:
    """Pass every pointer whose snapshot is here through the gate before a repair adopts it."""
    pointers = store.read()
    for registry_id in pointers.pointers:
        ref = pointers.active(registry_id)
        if ref is None or not ref.run_id:
            continue
        folder = store.workspace.root / (ref.run_root or RUNS_RELPATH) / ref.run_id
        if not folder.is_dir():
            continue
        try:
            store.admit(admit, registry_id, folder, ref, action, actor)
        except PointerRefused as exc:
            raise PointerRefused.from_error(
                exc,
                f"the pointer file's entry for {registry_id} cannot be adopted: {exc.message}; "
                "fix that entry first (name a snapshot that passed its checks, or remove it)",
            ) from None
