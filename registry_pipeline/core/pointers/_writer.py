"""The journal and pointer-file side of the pointer store: append a record, adopt a file as
found, mark a failed change aborted, complete an interrupted one, replace the file atomically,
and pass a target through the publish gate. `store.PointerStore` builds each change on these."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.fs import fsync_dir
from registry_pipeline.core.lock import DEFAULT_TIMEOUT, exclusive_lock
from registry_pipeline.core.pointers import checkpoint
from registry_pipeline.core.pointers._refused import PointerRefused
from registry_pipeline.core.pointers._tail import repair_tail
from registry_pipeline.core.pointers.journal import (
    JOURNAL_NAME,
    MOVES,
    JournalFormatError,
    JournalRecord,
    append_record,
    corrupt_journal,
    last_record,
    last_record_of,
)
from registry_pipeline.core.pointers.journal_replay import interrupted
from registry_pipeline.core.pointers.pointer_file import (
    POINTERS_NAME,
    ActiveRef,
    PointerFile,
    read_pointer_file,
)
from registry_pipeline.core.pointers.replica import Replica, SetAside
from registry_pipeline.core.pointers.targets import apply_record, found_target, target_folder
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import pointer_file_path
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.remote import remote_for
from registry_pipeline.core.workspace.safe_write import require_safe_all

MAX_REASON = 4000
"""Characters of a change's reason (a journal record stays one short line)."""
ANY = object()
"""`expect=ANY`: take whatever is current (still serialized by the lock, never lost)."""
Gate = Callable[[str, Path, ActiveRef, str, dict[str, str]], dict[str, Any]]
"""The publish gate (`core.gate.gated_store` wires it): given the registry, the target folder,
its ref, the action and the actor, the journal entry naming the passing receipt of exactly
that root; a RegistryError naming the failed check otherwise."""


class JournalWriter:
    """The pointer file and its journal in a workspace's `.codex/`: reading, and the writes a
    change is made of (under the lock the caller holds)."""

    def __init__(
        self,
        workspace: Workspace,
        schemas: SchemaCatalog | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
        gate: Gate | None = None,
    ) -> None:
        self.workspace = workspace
        self.gate = gate
        """None: a store that reads, holds and releases but moves no pointer (NO_GATE)."""
        self.schemas = schemas or SchemaCatalog.for_workspace(workspace.root)
        self.lock_timeout = lock_timeout
        codex = workspace.root / ".codex"
        self.pointers_path = pointer_file_path(workspace)  # the catalog says where (adoption)
        self.journal_path = codex / JOURNAL_NAME
        self.lock_path = codex / (POINTERS_NAME + ".lock")
        self.set_aside: SetAside | None = None
        """Local records a bucket did not have, kept aside by the last sync."""

    @contextmanager
    def locked(self, *, writes: bool = True) -> Iterator[None]:
        """The pointer lock, held for one change. On a workspace with a bucket, the change also
        starts from the bucket's journal and pointers, verified before anything of them is
        applied, and ends by publishing what it wrote (`core.pointers.replica`; `Lost` when
        another machine's change came first). `writes=False`: a read-only command's sync,
        which never writes to the bucket."""
        with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
            remote = remote_for(self.workspace)
            if remote is None:
                yield
                return
            replica = Replica(remote, self.workspace.root, self.journal_path, self.pointers_path)
            base = replica.pull(self.check_mirrored, lambda: self._redo(self.read()), writes=writes)
            self.set_aside = replica.set_aside
            try:
                yield
            finally:
                if writes:
                    replica.push(base)

    def pull(self) -> None:
        """Make the journal and pointer file equal to the bucket's, when the workspace has one
        (under the lock, writing nothing to the bucket: what every command does first)."""
        self.require_safe_paths()
        with self.locked(writes=False):
            pass

    def check_mirrored(self, record: JournalRecord, action: str) -> None:
        """Refuse to apply `record`, a pointer move another machine journaled, unless the gate
        admits its target now (`action`, `core.gate.gate.RECEIPT_ONLY`): `mirror`, a passing
        receipt of exactly that root; `redo`, for a change this reader completes (a bucket's
        pending entry, the last record on a disk), also none failed since; `restore`, for a
        history taken as found, none failed. Decisions that move nothing need no receipt."""
        if record.action not in (*MOVES, "accept") or record.to_ref is None:
            return
        run_id = record.to_ref.run_id or ""
        try:
            folder = target_folder(self.workspace, record.registry_id, run_id)
        except PointerRefused as exc:
            if action == "redo" or exc.code != "TARGET_MISSING":
                raise
            folder = self.workspace.runs_dir / run_id  # lost since: `verify` reports it
        self._admit(record.registry_id, folder, record.to_ref, action, dict(record.actor))

    def read(self) -> PointerFile:
        """The pointer file as it is now (no lock: it is replaced atomically)."""
        return read_pointer_file(self.pointers_path, self.schemas)

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
        kept = checkpoint.load(self.workspace.root, self.journal_path)
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
        offset = append_record(self.journal_path, record)
        stat = checkpoint.identity(self.journal_path)
        head = previous.sha256 if previous else None
        if kept is not None and stat is not None and kept.head == head:  # verified up to it
            checkpoint.save(self.workspace.root, kept.advanced(record, stat))
        return record, offset

    append = _append
    """Append one record (the caller holds the lock): `registry pointers repair` uses it."""

    def _adopt_as_found(self) -> JournalRecord | None:
        """Before the journal's first record: one `adopt` record per entry of the pointer file
        as found (a file adopted from the seed system, or written before the journal), so that
        the journal explains the whole file from then on. Each says whether its target is here
        and, when not, why (e.g. git ignores the run root). Returns the last one written."""
        records = self.adopt_as_found()
        return records[-1] if records else None

    def adopt_as_found(
        self,
        *,
        actor: dict[str, str] | None = None,
        note: str = "",
        extra: dict[str, Any] | None = None,
    ) -> list[JournalRecord]:
        """The `adopt` records of the pointer file as found, appended to an empty journal (also
        how `registry pointers repair` restarts a broken one: `note` and `extra` say so)."""
        try:
            data = self.pointers_path.read_bytes()
        except FileNotFoundError:
            return []
        pointers = self.read()
        where = self.pointers_path.relative_to(self.workspace.root).as_posix()
        digest = hashlib.sha256(data).hexdigest()
        written: list[JournalRecord] = []
        previous: JournalRecord | None = None
        for registry_id in pointers.pointers:
            ref = pointers.active(registry_id)
            if ref is None:
                continue
            target, why = found_target(self.workspace, self.schemas, registry_id, ref)
            reason = f"taken as found in {where}" + (f"; {why}" if why else "")
            reason += f"; {note}" if note else ""
            as_found = {"passed": True, "source": where, "pointer_file_sha256": digest,
                        "target": target}  # fmt: skip
            previous = JournalRecord(
                seq=previous.seq + 1 if previous else 1,
                registry_id=registry_id,
                from_ref=None,
                to_ref=ref,
                action="adopt",
                reason=reason[:MAX_REASON],
                actor=actor or {"kind": "registry_adopt", "id": where},
                checks={"as_found": as_found, **(extra or {})},
                created_utc=now_utc().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                prev_sha256=previous.sha256 if previous else None,
            ).hashed()
            append_record(self.journal_path, previous)
            written.append(previous)
        return written

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

    def require_safe_paths(self) -> None:
        """UNSAFE_PATH, before anything is written, when the journal, the pointer file or the
        lock would be written through a symlink or outside the workspace."""
        require_safe_all(self.workspace.root, [self.journal_path, self.pointers_path,
                                               self.lock_path])  # fmt: skip

    def recorded(self, registry_id: str) -> ActiveRef | None:
        """The registry's active snapshot as the journal records it (the pointer file's entry
        before the journal has begun): never a hand edit of the file."""
        if self.journal_path.exists():
            return self._journal_view(registry_id)
        return self.read().active(registry_id)

    def journal_view(self, registry_id: str) -> ActiveRef | None:
        """What the journal's last record of `registry_id` says is active (None: nothing)."""
        return self._journal_view(registry_id)

    def admit(
        self, registry_id: str, folder: Path, target: ActiveRef, action: str, actor: dict[str, str]
    ) -> dict[str, Any]:
        """The publish gate's verdict on `target` (see `_admit`)."""
        return self._admit(registry_id, folder, target, action, actor)

    def write_pointers(self, pointers: PointerFile) -> None:
        """Replace the pointer file atomically (the caller holds the lock)."""
        self._write_pointers(pointers)

    def _journal_view(self, registry_id: str) -> ActiveRef | None:
        try:
            record = last_record_of(self.journal_path, registry_id)
        except JournalFormatError as exc:
            raise corrupt_journal(self.journal_path, exc) from None
        return record.to_ref if record is not None else None

    def _last(self) -> JournalRecord | None:
        """The journal's last record, after repairing its tail (see `_repair_tail`)."""
        repair_tail(self.journal_path)
        try:
            return last_record(self.journal_path)
        except JournalFormatError as exc:
            raise corrupt_journal(self.journal_path, exc) from None

    def _redo(self, pointers: PointerFile) -> tuple[PointerFile, JournalRecord | None]:
        """Apply the last record if the pointer file still shows its `from_ref` (and remove a
        temp file a killed writer left; only the lock holder writes one)."""
        for leftover in self.pointers_path.parent.glob(f".{POINTERS_NAME}.*.tmp"):
            leftover.unlink(missing_ok=True)
        record = self._last()
        if record is None or not interrupted(pointers, record):
            return pointers, None  # nothing to redo, or a hand edit: verify reports it
        self.check_mirrored(record, "redo")
        updated = apply_record(pointers, record)
        self._write_pointers(updated)
        return updated, record

    def _admit(
        self, registry_id: str, folder: Path, target: ActiveRef, action: str, actor: dict[str, str]
    ) -> dict[str, Any]:
        """The publish gate's journal entry for moving `registry_id` to `target`; PointerRefused
        naming the failed check (or NO_GATE for a store built without the gate)."""
        if self.gate is None:
            raise PointerRefused(
                "this pointer store has no publish gate; every move goes through "
                "`core.gate.gated_store`",
                code="NO_GATE",
            )
        try:
            return self.gate(registry_id, folder, target, action, actor)
        except RegistryError as exc:
            raise PointerRefused(exc.message, code=exc.code, path=exc.path) from None
        except OSError as exc:
            raise PointerRefused(
                f"{registry_id}: cannot write the promotion receipt of {folder.name} "
                f"({exc.strerror or exc}); nothing was changed",
                code="IO_ERROR",
                path=str(exc.filename or folder),
            ) from None

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
