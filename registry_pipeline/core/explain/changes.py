"""Explained deltas: what changed inside a JSON, JSONL or YAML artifact, record by record.

Pure and total: bad content gives an `unparseable` explanation, never an exception, and every
list is sorted and capped at `max_listed` with a count of the rest, so a large diff stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from registry_pipeline.core.explain import _records as rec
from registry_pipeline.core.seal.paths import RESERVED_NAMES, printable, relpath_problem, sort_key

MAX_EXPLAIN_BYTES = 64 * 1024 * 1024
"""Larger sides are not parsed: the file is reported by size only."""

Kind = Literal["records", "document", "unparseable", "binary_or_text"]
Change = Literal["added", "removed", "modified", "unchanged", "absent"]


@dataclass(frozen=True)
class Listed:
    """A sorted list shown up to a cap, and how many more items were left out."""

    items: tuple[str, ...]
    """The first items, at most `max_listed`."""
    more: int = 0
    """How many items follow and are not listed."""

    @classmethod
    def of(cls, items: Sequence[str], max_listed: int) -> Listed:
        """The first `max_listed` of already sorted `items`."""
        return cls(tuple(items[:max_listed]), max(len(items) - max_listed, 0))

    def as_json(self, label: str) -> dict[str, Any]:
        """`{label: [...], "more": N}`."""
        return {label: list(self.items), "more": self.more}

    def __str__(self) -> str:
        return ", ".join(self.items) + (f", +{self.more} more" if self.more else "")


@dataclass(frozen=True)
class FieldChanges:
    """Dotted field paths that differ between two values (`[3]` for a list index)."""

    changed: Listed
    """Paths on both sides with different values."""
    added: Listed
    """Paths only on the new side."""
    removed: Listed
    """Paths only on the old side."""

    def __bool__(self) -> bool:
        return any(part.items for part in (self.changed, self.added, self.removed))

    def as_json(self) -> dict[str, Any]:
        """`{"changed": {"paths": [...], "more": N}, "added": ..., "removed": ...}`."""
        return {
            "changed": self.changed.as_json("paths"),
            "added": self.added.as_json("paths"),
            "removed": self.removed.as_json("paths"),
        }

    def __str__(self) -> str:
        parts = {"changed": self.changed, "added": self.added, "removed": self.removed}
        return "; ".join(f"{name} {listed}" for name, listed in parts.items() if listed.items)


@dataclass(frozen=True)
class ChangedRecord:
    """One record present on both sides with different content."""

    id: str
    """The record's identity value."""
    fields: Listed
    """Field paths that changed, were added or were removed inside the record."""

    def as_json(self) -> dict[str, Any]:
        """`{"id": ..., "fields": [...], "more": N}`."""
        return {"id": self.id, **self.fields.as_json("fields")}


@dataclass(frozen=True)
class RecordChanges:
    """Records added, removed and changed between two sides of an artifact."""

    location: str
    """Top-level key holding the records ("" for a top-level array or JSONL lines)."""
    identity: str
    """The id field matching records across sides, or "content" when none identifies them."""
    counts: dict[str, int]
    """Records `added`, `removed`, `changed` and `unchanged`."""
    added: Listed
    """Ids of added records."""
    removed: Listed
    """Ids of removed records."""
    changed: tuple[ChangedRecord, ...]
    """The first changed records, with their changed fields."""
    changed_more: int
    """Changed records not listed."""
    other_fields: FieldChanges
    """Changes in the document outside the record list."""

    def as_json(self) -> dict[str, Any]:
        """The `records` object of `FileExplanation.as_json`."""
        return {
            "location": self.location,
            "identity": self.identity,
            "counts": dict(self.counts),
            "added": self.added.as_json("ids"),
            "removed": self.removed.as_json("ids"),
            "changed": {"records": [c.as_json() for c in self.changed], "more": self.changed_more},
            "other_fields": self.other_fields.as_json(),
        }

    def summary(self) -> str:
        """`2 records changed (A: status; B: x), 1 added (C)`."""
        shown = "; ".join(f"{c.id}: {c.fields}" for c in self.changed)
        more = f"; +{self.changed_more} more" if self.changed_more else ""
        parts = [
            (name, detail)
            for name, detail in (
                ("changed", f"{shown}{more}"),
                ("added", str(self.added)),
                ("removed", str(self.removed)),
            )
            if self.counts[name]
        ]
        text = ", ".join(
            f"{_records(self.counts[name]) if i == 0 else self.counts[name]} {name} ({detail})"
            for i, (name, detail) in enumerate(parts)
        )
        text = text or f"no record changed ({self.counts['unchanged']} unchanged)"
        if self.other_fields:
            text += f"; other fields: {self.other_fields}"
        if self.identity == rec.CONTENT:
            text += " [no id field: records compared by content]"
        return text


@dataclass(frozen=True)
class FileExplanation:
    """What changed inside one artifact between two snapshots."""

    relpath: str
    """The artifact's relpath inside the run folder."""
    kind: Kind
    """`records`, `document` (field diff), `unparseable` or `binary_or_text` (sizes only)."""
    change: Change
    """Whether the file was added, removed, modified or is byte-identical."""
    old_size: int | None
    """Bytes on the old side (None when absent)."""
    new_size: int | None
    """Bytes on the new side (None when absent)."""
    records: RecordChanges | None = None
    """Record changes, for kind `records`."""
    fields: FieldChanges | None = None
    """Field changes of the whole document, for kind `document`."""
    reason: str | None = None
    """Why the file could not be explained, for kind `unparseable`."""

    def as_json(self) -> dict[str, Any]:
        """The object printed per file by `registry delta show --explain --json`."""
        return {
            "relpath": self.relpath,
            "kind": self.kind,
            "change": self.change,
            "size": {"old": self.old_size, "new": self.new_size},
            "records": self.records.as_json() if self.records else None,
            "fields": self.fields.as_json() if self.fields is not None else None,
            "reason": self.reason,
        }

    def lines(self) -> list[str]:
        """A compact human rendering: one line per file."""
        head = self.relpath if self.change == "modified" else f"{self.relpath} ({self.change})"
        if self.records is not None:
            return [f"{head}: {self.records.summary()}"]
        if self.fields is not None:
            return [f"{head}: {self.fields or 'no field changed'}"]
        if self.kind == "unparseable":
            return [f"{head}: not explained: {self.reason}"]
        sizes = [str(s) for s in (self.old_size, self.new_size) if s is not None]
        return [f"{head}: {' -> '.join(sizes)} bytes" if sizes else f"{head}: absent"]


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def explain_file(
    relpath: str, old: bytes | None, new: bytes | None, *, max_listed: int = 10
) -> FileExplanation:
    """Explain the change of `relpath` from `old` to `new` bytes (None: absent on that side)."""
    if max_listed < 0:
        raise ValueError("max_listed must be >= 0")
    base = _base(relpath, None if old is None else len(old), None if new is None else len(new))
    if old is not None and old == new:
        base = replace(base, change="unchanged")
    fmt = _format(relpath)
    if fmt is None:
        return base
    if max(len(old or b""), len(new or b"")) > MAX_EXPLAIN_BYTES:
        return _unparseable(base, f"larger than {MAX_EXPLAIN_BYTES} bytes: not parsed")
    docs: list[rec.Document | None] = []
    for side, data in (("old", old), ("new", new)):
        try:
            docs.append(None if data is None else rec.parse(fmt, data))
        except rec.ParseProblem as exc:
            return _unparseable(base, f"{side} side is not valid {fmt}: {exc}")
    try:
        return _explain_documents(base, docs[0], docs[1], max_listed)
    except RecursionError:
        return _unparseable(base, "nested too deeply to compare")


def explain_snapshots(
    old_folder: Path | None, new_folder: Path, paths: Sequence[str], *, max_listed: int = 10
) -> list[FileExplanation]:
    """Explain each relpath of a delta record (added, removed or modified), in byte order."""
    return [
        _explain_path(old_folder, new_folder, relpath, max_listed)
        for relpath in sorted(set(paths), key=sort_key)
    ]


def _explain_path(
    old_folder: Path | None, new_folder: Path, relpath: str, max_listed: int
) -> FileExplanation:
    problem = relpath_problem(relpath)
    if problem is not None:
        return _unparseable(_base(printable(relpath), None, None), f"unsafe relpath: {problem}")
    try:
        old_size = _size(old_folder, relpath)
        new_size = _size(new_folder, relpath)
    except OSError as exc:
        return _unparseable(_base(relpath, None, None), f"cannot read: {exc.strerror or exc}")
    base = _base(relpath, old_size, new_size)
    if _format(relpath) is None:
        return base
    if max(old_size or 0, new_size or 0) > MAX_EXPLAIN_BYTES:
        return _unparseable(base, f"larger than {MAX_EXPLAIN_BYTES} bytes: not parsed")
    try:
        old = (old_folder / relpath).read_bytes() if old_folder and old_size is not None else None
        new = (new_folder / relpath).read_bytes() if new_size is not None else None
    except OSError as exc:
        return _unparseable(base, f"cannot read: {exc.strerror or exc}")
    return explain_file(relpath, old, new, max_listed=max_listed)


def _size(folder: Path | None, relpath: str) -> int | None:
    """Size of a regular file inside `folder`, None when absent; refuses a symlink escape."""
    if folder is None:
        return None
    path = folder / relpath
    if not path.is_file():
        return None
    if not path.resolve().is_relative_to(folder.resolve()):
        raise OSError(f"{relpath} resolves outside the run folder")
    return path.stat().st_size


def _format(relpath: str) -> str | None:
    if relpath in RESERVED_NAMES:
        return None
    return rec.FORMATS.get(Path(relpath).suffix.lower())


def _base(relpath: str, old_size: int | None, new_size: int | None) -> FileExplanation:
    change: Change = "modified"
    if old_size is None or new_size is None:
        change = (
            "added" if new_size is not None else "removed" if old_size is not None else "absent"
        )
    return FileExplanation(relpath, "binary_or_text", change, old_size, new_size)


def _unparseable(base: FileExplanation, reason: str) -> FileExplanation:
    return replace(base, kind="unparseable", reason=reason)


def _explain_documents(
    base: FileExplanation, old: rec.Document | None, new: rec.Document | None, max_listed: int
) -> FileExplanation:
    found = rec.locate_records(old, new)
    if found is not None:
        return replace(base, kind="records", records=_record_changes(found, max_listed))
    present = new or old
    empty = _empty_like(present.value if present else None)
    diff = rec.field_diff(old.value if old else empty, new.value if new else empty)
    return replace(base, kind="document", fields=_field_changes(diff, max_listed))


def _empty_like(value: Any) -> Any:
    """What a missing side is compared as: an empty container, so only top-level items show."""
    return {} if isinstance(value, dict) else [] if isinstance(value, list) else None


def _field_changes(diff: rec.FieldDiff, max_listed: int) -> FieldChanges:
    def listed(paths: list[rec.FieldPath]) -> Listed:
        return Listed.of([rec.path_text(p) for p in paths], max_listed)

    return FieldChanges(listed(diff.changed), listed(diff.added), listed(diff.removed))


def _record_changes(found: rec.Records, max_listed: int) -> RecordChanges:
    identity = rec.pick_identity(found.old, found.new)
    split = rec.split_records(found.old, found.new, identity)
    return RecordChanges(
        location=found.key,
        identity=identity,
        counts={
            "added": len(split.added),
            "removed": len(split.removed),
            "changed": len(split.changed),
            "unchanged": split.unchanged,
        },
        added=Listed.of(split.added, max_listed),
        removed=Listed.of(split.removed, max_listed),
        changed=tuple(
            ChangedRecord(key, Listed.of([rec.path_text(p) for p in diff.all_paths()], max_listed))
            for key, diff in split.changed[:max_listed]
        ),
        changed_more=max(len(split.changed) - max_listed, 0),
        other_fields=_field_changes(rec.field_diff(found.old_rest, found.new_rest), max_listed),
    )
