"""The pointer store: every change is a compare-and-swap under a lock, journaled before it shows.

Protocol of one change (`promote` or `rollback`), all under the lock
`ACTIVE_REGISTRY_POINTERS_v0_1.json.lock` (an flock that dies with its holder, see `_lock`):

1. complete an interrupted change (a journaled record the pointer file does not show yet);
2. read the pointer file and compare the registry's current ref with the caller's expectation;
3. validate the target run folder again (seal and schemas) and the direction of the move;
4. append the journal record and fsync it;
5. write the new pointer file to a temp file, fsync, rename it over the old one, fsync the folder.

Readers never lock: they see the old file or the new one, never a mix. A crash between 4 and 5
leaves a journaled record that step 1 of the next change applies (a redo log). A change whose
step 5 fails (a full disk, an immutable file) is reported as failed and journaled as aborted
right away, so it is never applied later.

The journal explains the pointer file: `explained()` refuses (POINTER_MISMATCH) to hand out a
pointer that the journal does not account for (a hand edit), until `accept` records that edit
as a decision. A rollback or `hold` stops automatic promotion of a registry until `release`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.pointers._lock import DEFAULT_TIMEOUT, exclusive_lock
from registry_pipeline.core.pointers.journal import (
    HOLDING,
    JOURNAL_NAME,
    TAIL_BLOCK,
    JournalFormatError,
    JournalRecord,
    append_record,
    last_effective_record_of,
    last_record,
    last_record_of,
    parse_record,
)
from registry_pipeline.core.pointers.journal_replay import interrupted
from registry_pipeline.core.pointers.pointer_file import (
    POINTERS_NAME,
    ActiveRef,
    Pointer,
    PointerFile,
    read_pointer_file,
)
from registry_pipeline.core.seal._faults import crash_point
from registry_pipeline.core.seal._fs import fsync_dir
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.catalog import pointer_file_path
from registry_pipeline.core.workspace.gitcheck import ignore_rules
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot, sealed_name, snapshot_registry
from registry_pipeline.core.workspace.sources import is_pattern

MAX_REASON = 4000
"""Characters of a change's reason (a journal record stays one short line)."""
ANY = object()
"""`expect=ANY`: take whatever is current (still serialized by the lock, never lost)."""


class PointerRefused(RegistryError):
    """The store refused a change; `code` says why (CAS_CONFLICT, TARGET_INVALID, ...)."""

    exit_code = 1


@dataclass(frozen=True)
class Hold:
    """A registry whose automatic promotion is stopped: who, when, why (its journal record)."""

    registry_id: str
    record: JournalRecord

    @property
    def reason(self) -> str:
        """Why, as the rollback or hold recorded it."""
        return self.record.reason

    @property
    def since(self) -> str:
        """When (the record's created_utc)."""
        return self.record.created_utc

    @property
    def by(self) -> str:
        """Who: `kind:id` of the record's actor."""
        return f"{self.record.actor.get('kind')}:{self.record.actor.get('id')}"

    def __str__(self) -> str:
        return f"held: {self.reason}, since {self.since}"


@dataclass(frozen=True)
class Change:
    """What a call did: the journal record, or None when the target was already active."""

    registry_id: str
    record: JournalRecord | None
    current: ActiveRef | None
    note: str = ""
    """For a no-op: why (e.g. "already held")."""

    @property
    def changed(self) -> bool:
        """False for a no-op (already active)."""
        return self.record is not None


class PointerStore:
    """The pointer file and its journal in a workspace's `.codex/`."""

    def __init__(
        self,
        workspace: Workspace,
        schemas: SchemaCatalog | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.workspace = workspace
        self.schemas = schemas or SchemaCatalog.for_workspace(workspace.root)
        self.lock_timeout = lock_timeout
        codex = workspace.root / ".codex"
        self.pointers_path = pointer_file_path(workspace)  # the catalog says where (adoption)
        self.journal_path = codex / JOURNAL_NAME
        self.lock_path = codex / (POINTERS_NAME + ".lock")

    def read(self) -> PointerFile:
        """The pointer file as it is now (no lock: it is replaced atomically)."""
        return read_pointer_file(self.pointers_path, self.schemas)

    def promote(
        self,
        registry_id: str,
        run_id: str,
        *,
        relpath: str | None,
        reason: str,
        actor: dict[str, str],
        checks: dict[str, Any] | None = None,
        expect: str | object | None = ANY,
        automatic: bool = False,
    ) -> Change:
        """Make `run_id` active: it must validate and be newer than the current snapshot.

        `automatic` (the promotion job, `registry build`) is refused with HELD while the
        registry is held (a rollback or `hold` not yet released); a person may still promote.
        """
        return self._change(
            "promote", registry_id, run_id, relpath, reason, actor, checks, expect, automatic
        )

    def rollback(
        self,
        registry_id: str,
        run_id: str,
        *,
        relpath: str | None,
        reason: str,
        actor: dict[str, str],
        expect: str | object | None = ANY,
    ) -> Change:
        """Make an older valid snapshot active again (an explicit, journaled move back)."""
        if not reason.strip():
            raise UsageError("a rollback needs a reason", code="REASON_REQUIRED")
        return self._change(
            "rollback", registry_id, run_id, relpath, reason, actor, None, expect, False
        )

    def complete_pending(self) -> JournalRecord | None:
        """Apply an interrupted change, if any (under the lock); returns the record applied."""
        self.workspace.require()
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            return self._redo(self.read())[1]

    def explained(self, registry_ids: Iterable[str] | None = None) -> PointerFile:
        """The pointer file, after checking that the journal explains each pointer of
        `registry_ids` (default: every registry in the file); POINTER_MISMATCH otherwise.

        Before the journal's first record the file is taken as found (that record captures
        it); from then on an entry the journal never recorded is a hand edit. An
        interrupted change (the journal's last record, whose from_ref the file still shows) is
        explained too: the next change completes it.
        """
        pointers = self.read()
        ids = list(pointers.pointers) if registry_ids is None else list(registry_ids)
        for registry_id in ids:
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                raise mismatch
        return pointers

    def promotion_blocker(self, registry_id: str, run_id: str) -> PointerRefused | None:
        """Why an automatic promotion of `run_id` would change nothing or be refused, or None
        when it would move the pointer. The same checks as `promote(automatic=True)` (mismatch,
        already active, direction, hold), read without the lock and without validating the
        target again: the promotion itself re-checks everything, and validates, under the lock.
        """
        try:
            folder = target_folder(self.workspace, registry_id, run_id)
            pointers = self.read()
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                return mismatch
            current = pointers.active(registry_id)
            if current is not None and current.run_id == run_id:
                return PointerRefused(f"{run_id} is already active", code="ALREADY_ACTIVE")
            self._check_direction("promote", registry_id, current, folder)
            self._check_not_held(registry_id)
        except PointerRefused as exc:
            return exc
        return None

    def held(self, registry_id: str) -> Hold | None:
        """The hold on `registry_id`: its last record is a rollback, an accepted edit or a hold.

        Any later change of the registry ends the hold: `release`, or a promotion by a person
        (who then decided what is active); an aborted change does not. Reading back to the
        registry's last record only keeps this as cheap as the promotion itself.
        """
        try:
            record = last_effective_record_of(self.journal_path, registry_id)
        except JournalFormatError as exc:
            raise _corrupt(self.journal_path, exc) from None
        if record is None or record.action not in HOLDING:
            return None
        return Hold(registry_id, record)

    def accept(self, registry_id: str, *, reason: str, actor: dict[str, str]) -> Change:
        """Record the pointer file's current value for `registry_id`, which the journal does not
        explain (a hand edit), as a decision: journaled, after validating its target."""
        if not reason.strip():
            raise UsageError("accepting a hand edit needs a reason", code="REASON_REQUIRED")
        self.workspace.require()
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            pointers, _ = self._redo(self.read())
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None and mismatch.code != "POINTER_MISMATCH":
                raise mismatch  # an unreadable journal: nothing can be accepted against it
            if mismatch is None:
                raise PointerRefused(
                    f"the journal already explains the pointer of {registry_id}; nothing to accept",
                    code="NOTHING_TO_ACCEPT",
                    path=str(self.pointers_path),
                )
            found = pointers.active(registry_id)
            if found is None or found.run_id is None:
                raise PointerRefused(
                    f"the pointer file has no active snapshot for {registry_id}; restore its "
                    f"entry (the journal says {self._journal_view(registry_id)})",
                    code="TARGET_MISSING",
                    path=str(self.pointers_path),
                )
            folder = target_folder(self.workspace, registry_id, found.run_id)
            target, verdict = self._validated_target(registry_id, folder, found.relpath)
            if target != found:
                raise PointerRefused(
                    f"the pointer file names {found}, but {folder.name} has root "
                    f"{target.manifest_sha256}; fix the entry by hand or restore it",
                    code="TARGET_INVALID",
                    path=str(folder),
                )
            record, _ = self._append(
                registry_id, self._journal_view(registry_id), found, "accept", reason, actor,
                verdict,
            )  # fmt: skip
            return Change(registry_id, record, found)

    def hold(self, registry_id: str, *, reason: str, actor: dict[str, str]) -> Change:
        """Stop automatic promotion of `registry_id` (builds still build and check)."""
        return self._mark("hold", registry_id, reason, actor)

    def release(self, registry_id: str, *, reason: str, actor: dict[str, str]) -> Change:
        """Lift the hold on `registry_id`: automatic promotion resumes."""
        return self._mark("release", registry_id, reason, actor)

    def _mark(self, action: str, registry_id: str, reason: str, actor: dict[str, str]) -> Change:
        self.workspace.require()
        if action == "hold" and not reason.strip():
            raise UsageError("a hold needs a reason", code="REASON_REQUIRED")
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            pointers, _ = self._redo(self.read())
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                raise mismatch
            held = self.held(registry_id)
            if (action == "hold") == (held is not None):
                state = str(held) if held else "not held"
                return Change(registry_id, None, pointers.active(registry_id), state)
            current = pointers.active(registry_id)
            if current is None:
                raise PointerRefused(
                    f"{registry_id} has no active snapshot to hold", code="NO_POINTER"
                )
            record, _ = self._append(registry_id, current, current, action, reason, actor, {})
            return Change(registry_id, record, current)

    # -- one change, under the lock ---------------------------------------------------------

    def _change(
        self,
        action: str,
        registry_id: str,
        run_id: str,
        relpath: str | None,
        reason: str,
        actor: dict[str, str],
        checks: dict[str, Any] | None,
        expect: str | object | None,
        automatic: bool,
    ) -> Change:
        self.workspace.require()
        if len(reason) > MAX_REASON:
            raise UsageError(
                f"the reason is {len(reason)} characters; at most {MAX_REASON}",
                code="REASON_TOO_LONG",
            )
        folder = target_folder(self.workspace, registry_id, run_id)
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            crash_point("pointer_locked")
            pointers, _ = self._redo(self.read())
            mismatch = self._mismatch(pointers, registry_id)
            if mismatch is not None:
                raise mismatch
            current = pointers.active(registry_id)
            if expect is not ANY and (current.run_id if current else None) != expect:
                raise PointerRefused(
                    f"{registry_id}: expected the active snapshot to be {expect or '(none)'}, "
                    f"it is {current.run_id if current else '(none)'}",
                    code="CAS_CONFLICT",
                )
            target, verdict = self._validated_target(registry_id, folder, relpath)
            if current == target:
                return Change(registry_id, None, current)
            self._check_direction(action, registry_id, current, folder)
            if automatic:
                self._check_not_held(registry_id)
            record, offset = self._append(
                registry_id, current, target, action, reason, actor, {**verdict, **(checks or {})}
            )
            crash_point("journal_appended")
            try:
                self._write_pointers(_apply(pointers, record))
            except OSError as exc:
                if self.read().active(registry_id) == target:
                    return Change(registry_id, record, current)  # renamed; only a sync failed
                self._abort(record, offset, exc)  # not applied: it never will be
                raise PointerRefused(
                    f"{registry_id}: cannot write the pointer file ({exc.strerror or exc}); the "
                    f"change was not applied and journal #{record.seq} is marked aborted",
                    code="IO_ERROR",
                    path=str(exc.filename or self.pointers_path),
                ) from None
            return Change(registry_id, record, current)

    def _append(
        self,
        registry_id: str,
        from_ref: ActiveRef | None,
        to_ref: ActiveRef | None,
        action: str,
        reason: str,
        actor: dict[str, str],
        checks: dict[str, Any],
    ) -> tuple[JournalRecord, int]:
        """Append one record after the last one (under the lock); returns it and the journal's
        size before it. The journal's first change is preceded by the adoption records."""
        previous = self._last() or self._adopt_as_found()
        record = JournalRecord(
            seq=previous.seq + 1 if previous else 1,
            registry_id=registry_id,
            from_ref=from_ref,
            to_ref=to_ref,
            action=action,
            reason=reason,
            actor=actor,
            checks=checks,
            created_utc=now_utc().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            prev_sha256=previous.sha256 if previous else None,
        ).hashed()
        return record, append_record(self.journal_path, record)

    def _adopt_as_found(self) -> JournalRecord | None:
        """Before the journal's first record: one `adopt` record per entry of the pointer file
        as found (a file adopted from the seed system, or written before the journal), so that
        the journal explains the whole file from then on. Each says whether its target is here
        and, when not, why (e.g. git ignores the run root). Returns the last one written."""
        try:
            data = self.pointers_path.read_bytes()
        except FileNotFoundError:
            return None
        pointers = self.read()
        where = self.pointers_path.relative_to(self.workspace.root).as_posix()
        digest = hashlib.sha256(data).hexdigest()
        previous: JournalRecord | None = None
        for registry_id in pointers.pointers:
            ref = pointers.active(registry_id)
            if ref is None:
                continue
            target, why = self._found_target(registry_id, ref)
            reason = f"taken as found in {where}" + (f"; {why}" if why else "")
            as_found = {"passed": True, "source": where, "pointer_file_sha256": digest,
                        "target": target}  # fmt: skip
            previous = JournalRecord(
                seq=previous.seq + 1 if previous else 1,
                registry_id=registry_id,
                from_ref=None,
                to_ref=ref,
                action="adopt",
                reason=reason,
                actor={"kind": "registry_adopt", "id": where},
                checks={"as_found": as_found},
                created_utc=now_utc().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                prev_sha256=previous.sha256 if previous else None,
            ).hashed()
            append_record(self.journal_path, previous)
        return previous

    def _found_target(self, registry_id: str, ref: ActiveRef) -> tuple[str, str]:
        """`valid`, `invalid` or `absent` for an adopted entry's target, and why when not valid."""
        run_root = ref.run_root or RUNS_RELPATH
        try:
            folder = target_folder(self.workspace, registry_id, ref.run_id or "")
        except PointerRefused as exc:
            if exc.code != "TARGET_MISSING":
                return "invalid", exc.message
            probe = f"{run_root}/{ref.run_id}/manifest.json"
            rule = ignore_rules(self.workspace.root, [probe]).get(probe)
            ignored = f" (git ignores it: {rule})" if rule else ""
            return "absent", f"its folder {run_root}/{ref.run_id} is not here{ignored}"
        try:
            report = inspect_run_folder(folder, schemas=self.schemas)
        except UsageError as exc:
            return "invalid", exc.message
        if not report.ok:
            return "invalid", f"{folder.name} does not validate"
        if report.root_sha256 != ref.manifest_sha256:
            return "invalid", f"{folder.name} has root {report.root_sha256}"
        return "valid", ""

    def _abort(self, failed: JournalRecord, offset: int, error: OSError) -> None:
        """Journal that `failed` (appended at `offset`) was not applied; if even that cannot be
        written, cut the journal back to `offset` (truncating needs no space), so no later change
        applies it."""
        try:
            self._append(
                failed.registry_id, failed.to_ref, failed.from_ref, "abort",
                f"journal #{failed.seq} was not applied: {error.strerror or error}",
                dict(failed.actor), {},
            )  # fmt: skip
        except OSError:
            with self.journal_path.open("rb+") as handle:
                handle.truncate(offset)
                os.fsync(handle.fileno())

    def _journal_view(self, registry_id: str) -> ActiveRef | None:
        record = last_record_of(self.journal_path, registry_id)
        return record.to_ref if record is not None else None

    def _mismatch(self, pointers: PointerFile, registry_id: str) -> PointerRefused | None:
        """POINTER_MISMATCH when the file shows another pointer than the journal recorded.

        Reads only (no lock, no repair of the journal): readers call it too.
        """
        try:
            record = last_record_of(self.journal_path, registry_id)
            last = last_record(self.journal_path)
        except JournalFormatError as exc:
            return _corrupt(self.journal_path, exc)
        found = pointers.active(registry_id)
        if record is None and (last is None or found is None):
            return None  # no journal yet: the file is taken as found by the first change
        if record is None:
            return PointerRefused(
                f"{registry_id}: the pointer file says {found}, but the journal has no record of "
                f"{registry_id} (it captured the file at #1): the entry was added by hand. Record "
                f"it with `registry pointers accept {registry_id} --reason TEXT`, or remove it",
                code="POINTER_MISMATCH",
                path=str(self.pointers_path),
            )
        if found == record.to_ref:
            return None
        if last is not None and last.seq == record.seq and interrupted(pointers, record):
            return None  # an interrupted change: the next change completes it
        return PointerRefused(
            f"{registry_id}: the pointer file says {found or '(none)'}, the journal says "
            f"{record.to_ref or '(none)'} (#{record.seq}); the file was edited by hand. Record the "
            f"edit with `registry pointers accept {registry_id} --reason TEXT`, or restore the "
            "journal's value",
            code="POINTER_MISMATCH",
            path=str(self.pointers_path),
        )

    def _last(self) -> JournalRecord | None:
        """The journal's last record, after repairing its tail (see `_repair_tail`)."""
        _repair_tail(self.journal_path)
        try:
            return last_record(self.journal_path)
        except JournalFormatError as exc:
            raise _corrupt(self.journal_path, exc) from None

    def _redo(self, pointers: PointerFile) -> tuple[PointerFile, JournalRecord | None]:
        """Apply the last record if the pointer file still shows its `from_ref` (and remove a
        temp file a killed writer left; only the lock holder writes one)."""
        for leftover in self.pointers_path.parent.glob(f".{POINTERS_NAME}.*.tmp"):
            leftover.unlink(missing_ok=True)
        record = self._last()
        if record is None or not interrupted(pointers, record):
            return pointers, None  # nothing to redo, or a hand edit: verify reports it
        updated = _apply(pointers, record)
        self._write_pointers(updated)
        return updated, record

    def _validated_target(
        self, registry_id: str, folder: Path, relpath: str | None
    ) -> tuple[ActiveRef, dict[str, Any]]:
        try:
            report = inspect_run_folder(folder, schemas=self.schemas)
        except UsageError as exc:
            raise PointerRefused(exc.message, code="TARGET_INVALID", path=str(folder)) from None
        if not report.ok:
            codes = sorted({problem.code.value for problem in report.problems})
            unsealed = "MISSING_REQUIRED_FILE" in codes
            raise PointerRefused(
                f"{folder.name} does not validate ({', '.join(codes)}): "
                + "; ".join(str(p) for p in report.problems[:3]),
                code="TARGET_UNSEALED" if unsealed else "TARGET_INVALID",
                path=str(folder),
            )
        if relpath is not None:
            relpath = sealed_name(folder, relpath)  # a seed seal-promotion folder renames it
        if relpath is not None and not (folder / relpath).is_file():
            raise PointerRefused(
                f"{folder.name} has no {relpath}", code="TARGET_INVALID", path=str(folder)
            )
        ref = ActiveRef(folder.name, RUNS_RELPATH, relpath, report.root_sha256)
        source = "pointer store (under the lock)"
        verdict = {
            "seal_valid": {"passed": True, "source": source},
            "schema_valid": {"passed": True, "source": source},
        }
        return ref, verdict

    def _check_direction(
        self, action: str, registry_id: str, current: ActiveRef | None, folder: Path
    ) -> None:
        if current is None or current.run_id is None:
            if action == "rollback":
                raise PointerRefused(
                    f"{registry_id} has no active snapshot to roll back from", code="NOT_OLDER"
                )
            return
        now_key = _order_key(self.workspace.runs_dir / current.run_id, registry_id)
        target_key = _order_key(folder, registry_id) or ("", folder.name)
        if action == "promote" and now_key is not None and target_key <= now_key:
            raise PointerRefused(
                f"{folder.name} is not newer than the active {current.run_id}; moving back is "
                f"an explicit rollback (registry pointers rollback {registry_id} --to "
                f"{folder.name} --reason ...)",
                code="NOT_NEWER",
                path=str(folder),
            )
        if action == "rollback" and now_key is not None and target_key >= now_key:
            raise PointerRefused(
                f"{folder.name} is not older than the active {current.run_id}; use promote",
                code="NOT_OLDER",
                path=str(folder),
            )

    def _check_not_held(self, registry_id: str) -> None:
        held = self.held(registry_id)
        if held is not None:
            raise PointerRefused(
                f"{held} (journal #{held.record.seq}, {held.record.action} by {held.by}); "
                f"`registry pointers release {registry_id}` resumes automatic promotion",
                code="HELD",
            )

    def _write_pointers(self, pointers: PointerFile) -> None:
        data = pointers.render()
        temp = self.pointers_path.with_name(f".{POINTERS_NAME}.{os.getpid()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:  # os.write may write less than asked (a full disk, a size limit)
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            temp.unlink(missing_ok=True)  # the old pointer file stays as it was
            raise
        crash_point("pointer_temp_written")
        os.replace(temp, self.pointers_path)
        crash_point("pointer_renamed")
        fsync_dir(self.pointers_path.parent)


def _corrupt(journal: Path, error: JournalFormatError) -> PointerRefused:
    return PointerRefused(
        f"the journal is unreadable ({error}); run `registry pointers verify`",
        code="JOURNAL_CORRUPT",
        path=str(journal),
    )


def target_folder(workspace: Workspace, registry_id: str, run_id: str) -> Path:
    """The run folder `run_id` of `registry_id` directly under RUNS/; the name is checked
    before any filesystem call."""
    if (
        not run_id
        or "/" in run_id
        or "\\" in run_id
        or run_id in (".", "..")
        or (run_id.startswith("."))
        or relpath_problem(run_id) is not None  # NUL, control characters, not UTF-8 or NFC
    ):
        raise PointerRefused(
            f"{run_id!r} is not the name of a run folder directly under {RUNS_RELPATH}/",
            code="TARGET_NOT_IN_RUNS",
            path=run_id,
        )
    folder = workspace.runs_dir / run_id
    if folder.is_symlink() or not folder.is_dir():
        raise PointerRefused(
            f"no run folder {run_id} in {RUNS_RELPATH}/",
            code="TARGET_MISSING",
            path=str(folder),
        )
    owner = snapshot_registry(folder)
    if owner != registry_id:
        raise PointerRefused(
            f"{run_id} is a snapshot of {owner or 'no known registry'}, not of {registry_id}",
            code="TARGET_WRONG_REGISTRY",
            path=str(folder),
        )
    return folder


def _apply(pointers: PointerFile, record: JournalRecord) -> PointerFile:
    assert record.to_ref is not None, "only moves are applied"
    note = f"{record.action} by {record.actor.get('kind')}:{record.actor.get('id')}"
    if record.reason:
        note += f": {record.reason}"
    pointer = Pointer(record.registry_id, record.to_ref, True, record.created_utc, note)
    return pointers.with_pointer(pointer, record.created_utc)


def _repair_tail(path: Path) -> None:
    """Make the journal end with a newline: a complete last record that only lost its newline
    (a tool stripped it) gets it back; an incomplete one (the process died mid-append, before
    the pointer file could change) is cut off. Earlier records are never touched."""
    try:
        handle = path.open("rb+")
    except FileNotFoundError:
        return
    with handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return
        handle.seek(end - 1)
        if handle.read(1) == b"\n":
            return
        start = _last_newline(handle, end) + 1
        handle.seek(start)
        tail = handle.read(end - start)
        previous = _line_before(handle, start)
        if _complete_record(tail, previous):
            handle.seek(end)
            handle.write(b"\n")
        else:
            handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())


def _last_newline(handle: Any, end: int) -> int:  # handle: a binary file
    """Offset of the last newline before `end`, scanning back block by block; -1 if none."""
    position = end
    while position > 0:
        start = max(0, position - TAIL_BLOCK)
        handle.seek(start)
        found: int = handle.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


def _line_before(handle: Any, start: int) -> bytes | None:
    """The complete line that ends just before offset `start`, None at the start of the file."""
    if start == 0:
        return None
    begin = _last_newline(handle, start - 1) + 1
    handle.seek(begin)
    return bytes(handle.read(start - 1 - begin))


def _complete_record(tail: bytes, previous: bytes | None) -> bool:
    try:
        record = parse_record(tail)
    except JournalFormatError:
        return False
    expected = hashlib.sha256(previous).hexdigest() if previous is not None else None
    return record.prev_sha256 == expected


def _order_key(folder: Path, registry_id: str) -> tuple[str, str] | None:
    """(created_utc, run_id): the order of snapshots; None when the folder is gone."""
    if not folder.is_dir():
        return None
    snapshot = read_snapshot(folder, registry_id)
    return snapshot.created_utc, snapshot.run_id


def pointer_relpath(kind: str, artifacts: tuple[str, ...]) -> str | None:
    """The artifact a pointer names: the primary one, or None for a multi-file source snapshot
    (as the seed does for its threshold packs), one given as a glob, and any collection's."""
    several = len(artifacts) > 1 or any(map(is_pattern, artifacts))
    if kind == "collection" or (kind == "source" and several):
        return None
    return artifacts[0] if artifacts else None
