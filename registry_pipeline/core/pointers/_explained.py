"""Whether the journal explains the pointer file: a hand edit is refused (POINTER_MISMATCH) until
`accept` records it as a decision, and nothing changes while `verify` fails."""

from __future__ import annotations

from collections.abc import Iterable

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.pointers._refused import PointerRefused
from registry_pipeline.core.pointers._writer import JournalWriter
from registry_pipeline.core.pointers.changes import Change
from registry_pipeline.core.pointers.integrity import require_intact, verify_workspace
from registry_pipeline.core.pointers.journal import (
    JournalFormatError,
    corrupt_journal,
    last_record,
    last_record_of,
)
from registry_pipeline.core.pointers.journal_replay import (
    Finding,
    VerifyReport,
    difference,
    interrupted,
    mismatch_advice,
)
from registry_pipeline.core.pointers.pointer_file import PointerFile
from registry_pipeline.core.pointers.targets import (
    publish_target,
    target_folder,
    validated_target,
)


class ExplainedStore(JournalWriter):
    """Pointers handed out only as the journal explains them; a hand edit accepted explicitly."""

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

    def accept(self, registry_id: str, *, reason: str, actor: dict[str, str]) -> Change:
        """Record the pointer file's current value for `registry_id`, which the journal does not
        explain (a hand edit), as a decision: journaled, after validating its target."""
        if not reason.strip():
            raise UsageError("accepting a hand edit needs a reason", code="REASON_REQUIRED")
        self.workspace.require()
        self.require_safe_paths()
        with self.locked():
            self._require_intact(self.read(), registry_id, "accept")  # before redoing anything
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
            try:
                folder = target_folder(self.workspace, registry_id, found.run_id)
                target, verdict = validated_target(self.schemas, registry_id, folder, found.relpath)
            except PointerRefused as exc:
                raise PointerRefused(
                    f"{exc.message}: an edit that names no valid snapshot cannot be accepted; "
                    f"`registry pointers repair {registry_id} --reason TEXT` restores the "
                    "journal's value",
                    code=exc.code,
                    path=exc.path,
                ) from None
            if target != found:
                raise PointerRefused(
                    f"the pointer file names {found}, but {folder.name} has root "
                    f"{target.manifest_sha256}: an edit that names no valid snapshot cannot be "
                    f"accepted; `registry pointers repair {registry_id} --reason TEXT` restores "
                    "the journal's value",
                    code="TARGET_INVALID",
                    path=str(folder),
                )
            publish_target(self.workspace, folder)
            receipt = self._admit(registry_id, folder, target, "accept", actor)
            record, _ = self._append(
                registry_id, self._journal_view(registry_id), found, "accept", reason, actor,
                {**verdict, "receipt": receipt},
            )  # fmt: skip
            return Change(registry_id, record, found)

    def verify(self, expect_head: str | None = None) -> VerifyReport:
        """`registry pointers verify`: the journal's replay and every active target."""
        return self.verified(self.read(), expect_head)

    def verified(
        self, pointers: PointerFile, expect_head: str | None = None, *, checkpoint: bool = False
    ) -> VerifyReport:
        """`verify_workspace`, and the gate's word (`restore`: refused once a receipt of it
        failed) on each active snapshot a restart adopted while its folder was absent and whose
        folder is back; a store without the gate cannot ask it."""
        report = verify_workspace(
            self.workspace, self.journal_path, pointers, expect_head, checkpoint=checkpoint
        )
        for registry_id in report.returned if self.gate is not None else ():
            ref = pointers.active(registry_id)
            assert ref is not None and ref.run_id is not None  # returned: a folder it names
            folder = self.workspace.runs_dir / ref.run_id
            try:
                self._admit(registry_id, folder, ref, "restore", {"kind": "verify"})
            except PointerRefused as exc:
                message = (
                    f"{registry_id}: {exc.message} (it was adopted as found while its folder was "
                    f"absent, and is back); move it away: `registry pointers rollback "
                    f"{registry_id} --to RUN_ID --reason TEXT`, or promote a snapshot that passes"
                )
                report.problems.append(Finding(exc.code, message, registry_id=registry_id))
        return report

    def require_intact(self, action: str = "build") -> None:
        """Refuse (CHAIN_BROKEN, POINTER_MISMATCH, ...) while `verify` fails: a build and the
        promotion sensor call it before anything else, the store before every change."""
        self._require_intact(self.read(), None, action)

    def _require_intact(self, pointers: PointerFile, registry_id: str | None, action: str) -> None:
        """No change while `verify` fails (see `core.pointers.integrity.require_intact`)."""
        report = self.verified(pointers, checkpoint=True)
        try:
            require_intact(report, registry_id, action)
        except RegistryError as exc:
            raise PointerRefused(exc.message, code=exc.code, path=str(self.journal_path)) from None

    def _mismatch(self, pointers: PointerFile, registry_id: str) -> PointerRefused | None:
        """POINTER_MISMATCH when the file shows another pointer than the journal recorded.

        Reads only (no lock, no repair of the journal): readers call it too.
        """
        try:
            record = last_record_of(self.journal_path, registry_id)
            last = last_record(self.journal_path)
        except JournalFormatError as exc:
            return corrupt_journal(self.journal_path, exc)
        found = pointers.active(registry_id)
        if record is None and (last is None or found is None):
            return None  # no journal yet: the file is taken as found by the first change
        if record is None:
            return PointerRefused(
                f"{registry_id}: the pointer file says {found}, but the journal has no record of "
                f"{registry_id} (it captured the file at #1): the entry was added by hand; "
                f"{mismatch_advice(registry_id)}",
                code="POINTER_MISMATCH",
                path=str(self.pointers_path),
            )
        if found == record.to_ref:
            return None
        if last is not None and last.seq == record.seq and interrupted(pointers, record):
            return None  # an interrupted change: the next change completes it
        return PointerRefused(
            f"{registry_id}: {difference(found, record.to_ref)} (#{record.seq}); the file was "
            f"edited by hand: {mismatch_advice(registry_id)}",
            code="POINTER_MISMATCH",
            path=str(self.pointers_path),
        )
