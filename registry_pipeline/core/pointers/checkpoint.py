"""A checkpoint of the journal's last full verification, so that the check every pointer
change makes first (`integrity.require_intact`) costs the same at 10 and at 100,000 records.

After a full replay finds the chain whole, the store keeps, in
`.codex/cache/pointer_journal_checkpoint.json`, the journal file's identity (device, inode,
size, mtime and ctime in nanoseconds), the record count, the head and each registry's last
record. While the file's identity is unchanged, nobody has touched it since: the replay's
result is the checkpoint's. Each of the store's own appends advances the checkpoint with the
record it wrote; anything else that touches the file (a hand edit, a restore from a backup, a
torn-tail repair) changes its ctime, and the next change replays the whole journal again.
`registry pointers verify` never uses the checkpoint.

A checkpoint is a cache, not evidence: someone who can write `.codex/cache/` can forge one, as
they can rewrite the journal; `registry pointers verify` replays everything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.fs import write_atomic
from registry_pipeline.core.pointers.journal import JournalFormatError, JournalRecord, parse_record
from registry_pipeline.core.pointers.journal_replay import VerifyReport
from registry_pipeline.core.workspace.safe_write import require_safe

CHECKPOINT_RELPATH = ".codex/cache/pointer_journal_checkpoint.json"
CHECKPOINT_VERSION = 1
CHAIN_CODES = frozenset({"RECORD_UNREADABLE", "CHAIN_BROKEN", "SEQ_GAP", "FROM_MISMATCH"})


def identity(journal: Path) -> list[int] | None:
    """The journal file's identity: device, inode, size, mtime_ns, ctime_ns (None: no file)."""
    try:
        st = os.stat(journal, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


@dataclass(frozen=True)
class Checkpoint:
    """A whole chain's replay, valid while the journal's identity is `stat`."""

    stat: list[int]
    records: int
    head: str | None
    last_registry: str | None
    last: dict[str, JournalRecord]

    def report(self) -> VerifyReport:
        """The replay's report as the checkpoint keeps it (no notes: `verify` gives those)."""
        return VerifyReport(records=self.records, head=self.head, last_records=dict(self.last))

    def last_record(self) -> JournalRecord | None:
        """The journal's last record."""
        return self.last.get(self.last_registry) if self.last_registry else None

    def advanced(self, record: JournalRecord, stat: list[int]) -> Checkpoint:
        """After the store appended `record`, leaving the file at `stat`."""
        last = {**self.last, record.registry_id: record}
        return Checkpoint(stat, self.records + 1, record.sha256, record.registry_id, last)


def load(root: Path, journal: Path) -> Checkpoint | None:
    """The checkpoint, if it is readable and the journal is still the file it describes."""
    try:
        document = json.loads((root / CHECKPOINT_RELPATH).read_bytes())
        if document.get("version") != CHECKPOINT_VERSION or document["stat"] != identity(journal):
            return None
        last = {
            registry_id: replace(parse_record(entry["line"].encode()), sha256=entry["sha256"])
            for registry_id, entry in document["last"].items()
        }
        return Checkpoint(document["stat"], document["records"], document["head"],
                          document["last_registry"], last)  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError, JournalFormatError):
        return None


def from_report(report: VerifyReport, journal: Path) -> Checkpoint | None:
    """A checkpoint of a full replay whose chain is whole (None when it is not)."""
    stat = identity(journal)
    if stat is None or any(p.code in CHAIN_CODES for p in report.problems):
        return None
    if any(note.code == "TORN_TAIL" for note in report.notes):
        return None  # the next change cuts it off first
    last = max(report.last_records.values(), key=lambda r: r.seq, default=None)
    return Checkpoint(stat, report.records, report.head,
                      last.registry_id if last else None, dict(report.last_records))  # fmt: skip


def save(root: Path, checkpoint: Checkpoint | None) -> None:
    """Write the checkpoint (a failure to write it only costs the next change a full replay)."""
    if checkpoint is None:
        return
    path = root / CHECKPOINT_RELPATH
    document = {
        "version": CHECKPOINT_VERSION,
        "stat": checkpoint.stat,
        "records": checkpoint.records,
        "head": checkpoint.head,
        "last_registry": checkpoint.last_registry,
        "last": {
            registry_id: {"line": record.line().decode(), "sha256": record.sha256}
            for registry_id, record in checkpoint.last.items()
        },
    }
    try:
        require_safe(root, path)
    except RegistryError:  # UNSAFE_PATH: a cache we simply do not keep
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(document, sort_keys=True).encode(), durable=False)
    except OSError:
        discard(root)


def discard(root: Path) -> None:
    """Remove the checkpoint (the next change replays the whole journal)."""
    try:
        (root / CHECKPOINT_RELPATH).unlink(missing_ok=True)
    except OSError:
        return
