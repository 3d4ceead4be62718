"""Explained deltas record by record: pure and total, every list sorted and capped."""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.paths import RESERVED_NAMES, printable, relpath_problem, sort_key
from registry_pipeline.core.yaml_io import loads_yaml_strict

MAX_EXPLAIN_BYTES = 64 * 1024 * 1024
"""Larger sides are not parsed: the file is reported by size only."""

Kind = Literal["records", "document", "unparseable", "binary_or_text"]
Change = Literal["added", "removed", "modified", "unchanged", "absent"]


def _listed(items: Sequence[str], max_listed: int, label: str) -> dict[str, Any]:
    """`{label: [the first max_listed of sorted items], "more": how many are left out}`."""
    return {label: list(items[:max_listed]), "more": max(len(items) - max_listed, 0)}


def _listed_text(listed: dict[str, Any], label: str) -> str:
    more = listed["more"]
    return ", ".join(listed[label]) + (f", +{more} more" if more else "")


def _fields_text(fields: dict[str, Any]) -> str:
    """`changed a, b; added c` ("" when no path differs)."""
    shown = [(name, part) for name, part in fields.items() if part["paths"]]
    return "; ".join(f"{name} {_listed_text(part, 'paths')}" for name, part in shown)


def _records_text(records: dict[str, Any]) -> str:
    """`2 records changed (A: status; B: x), 1 added (C)`."""
    counts, changed = records["counts"], records["changed"]
    shown = "; ".join(f"{c['id']}: {_listed_text(c, 'fields')}" for c in changed["records"])
    more = f"; +{changed['more']} more" if changed["more"] else ""
    details = {
        "changed": f"{shown}{more}",
        "added": _listed_text(records["added"], "ids"),
        "removed": _listed_text(records["removed"], "ids"),
    }
    text = ", ".join(
        f"{_records(counts[name]) if i == 0 else counts[name]} {name} ({detail})"
        for i, (name, detail) in enumerate((n, d) for n, d in details.items() if counts[n])
    )
    text = text or f"no record changed ({counts['unchanged']} unchanged)"
    if other := _fields_text(records["other_fields"]):
        text += f"; other fields: {other}"
    if records["identity"] == CONTENT:
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
    records: dict[str, Any] | None = None
    """For kind `records`: their location, identity, counts, and the ids added, removed, changed."""
    fields: dict[str, Any] | None = None
    """For kind `document`: the field paths `changed`, `added` and `removed`."""
    reason: str | None = None
    """Why the file could not be explained, for kind `unparseable`."""

    def as_json(self) -> dict[str, Any]:
        """The object printed per file by `registry delta show --explain --json`."""
        return {
            "relpath": self.relpath,
            "kind": self.kind,
            "change": self.change,
            "size": {"old": self.old_size, "new": self.new_size},
            "records": self.records,
            "fields": self.fields,
            "reason": self.reason,
        }

    def lines(self) -> list[str]:
        """A compact human rendering: one line per file."""
        head = self.relpath if self.change == "modified" else f"{self.relpath} ({self.change})"
        if self.records is not None:
            return [f"{head}: {_records_text(self.records)}"]
        if self.fields is not None:
            return [f"{head}: {_fields_text(self.fields) or 'no field changed'}"]
        if self.kind == "unparseable":
            return [f"{head}: not explained: {self.reason}"]
        sizes = [str(s) for s in (self.old_size, self.new_size) if s is not None]
        return [f"{head}: {' -> '.join(sizes)} bytes" if sizes else f"{head}: absent"]


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


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
    """`relpath` explained; its sides are read only for a parsed format within the size limit."""
    problem = relpath_problem(relpath)
    if problem is not None:
        return _unparseable(_base(printable(relpath), None, None), f"unsafe relpath: {problem}")
    try:
        base = _base(relpath, _size(old_folder, relpath), _size(new_folder, relpath))
    except OSError as exc:
        return _unparseable(_base(relpath, None, None), f"cannot read: {exc.strerror or exc}")
    fmt = None if relpath in RESERVED_NAMES else FORMATS.get(Path(relpath).suffix.lower())
    if fmt is None:
        return base
    if max(base.old_size or 0, base.new_size or 0) > MAX_EXPLAIN_BYTES:
        return _unparseable(base, f"larger than {MAX_EXPLAIN_BYTES} bytes: not parsed")
    old = old_folder / relpath if old_folder and base.old_size is not None else None
    new = new_folder / relpath if base.new_size is not None else None
    try:
        sides = (old.read_bytes() if old else None), (new.read_bytes() if new else None)
    except OSError as exc:
        return _unparseable(base, f"cannot read: {exc.strerror or exc}")
    if sides[0] is not None and sides[0] == sides[1]:
        base = replace(base, change="unchanged")
    docs: list[Document | None] = []
    for side, data in zip(("old", "new"), sides, strict=True):
        try:
            docs.append(None if data is None else parse(fmt, data))
        except RegistryError as exc:
            return _unparseable(base, f"{side} side is not valid {fmt}: {exc}")
    try:
        return _explain_documents(base, docs[0], docs[1], max_listed)
    except RecursionError:
        return _unparseable(base, "nested too deeply to compare")


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


def _base(relpath: str, old_size: int | None, new_size: int | None) -> FileExplanation:
    change = _CHANGES[old_size is not None, new_size is not None]
    return FileExplanation(relpath, "binary_or_text", change, old_size, new_size)


_CHANGES: dict[tuple[bool, bool], Change] = {
    (True, True): "modified", (False, True): "added",
    (True, False): "removed", (False, False): "absent",
}  # fmt: skip
"""A file's change by whether it is (old side, new side)."""


def _unparseable(base: FileExplanation, reason: str) -> FileExplanation:
    return replace(base, kind="unparseable", reason=reason)


def _explain_documents(
    base: FileExplanation, old: Document | None, new: Document | None, max_listed: int
) -> FileExplanation:
    key = locate_records(old, new)
    if key is not None:
        return replace(base, kind="records", records=_record_changes(old, new, key, max_listed))
    # a missing side is compared as an empty container, so only top-level items show
    present = new or old
    value = present.value if present else None
    empty: Any = {} if isinstance(value, dict) else [] if isinstance(value, list) else None
    diff = field_diff(old.value if old else empty, new.value if new else empty)
    return replace(base, kind="document", fields=_field_changes(diff, max_listed))


def _field_changes(diff: FieldDiff, max_listed: int) -> dict[str, Any]:
    """`{"changed": {"paths": [...], "more": N}, "added": ..., "removed": ...}`."""
    names = ("changed", "added", "removed")
    return {
        name: _listed([path_text(p) for p in paths], max_listed, "paths")
        for name, paths in zip(names, diff, strict=True)
    }


def _record_changes(
    old: Document | None, new: Document | None, key: str, max_listed: int
) -> dict[str, Any]:
    """Match the records at `key` by their identity (a field, or CONTENT: canonical JSON)."""
    old_records, new_records = _records_of(old, key) or [], _records_of(new, key) or []
    identity = pick_identity(old_records, new_records)
    changed: list[tuple[str, FieldDiff]] = []
    if identity == CONTENT:
        before = Counter(canonical(r) for r in old_records)
        after = Counter(canonical(r) for r in new_records)
        added = [_short(k) for k in sorted((after - before).elements())]
        removed = [_short(k) for k in sorted((before - after).elements())]
        unchanged = (before & after).total()
    else:
        old_by = {r[identity]: r for r in old_records}
        new_by = {r[identity]: r for r in new_records}
        common = sorted(old_by.keys() & new_by.keys(), key=_id_order)
        diffs = [(_id_text(k), field_diff(old_by[k], new_by[k])) for k in common]
        added = [_id_text(k) for k in sorted(new_by.keys() - old_by.keys(), key=_id_order)]
        removed = [_id_text(k) for k in sorted(old_by.keys() - new_by.keys(), key=_id_order)]
        changed = [(k, diff) for k, diff in diffs if any(diff)]
        unchanged = len(diffs) - len(changed)
    return {
        "location": key,
        "identity": identity,
        "counts": {
            "added": len(added),
            "removed": len(removed),
            "changed": len(changed),
            "unchanged": unchanged,
        },
        "added": _listed(added, max_listed, "ids"),
        "removed": _listed(removed, max_listed, "ids"),
        "changed": {
            "records": [
                {"id": k, **_listed([path_text(p) for p in paths], max_listed, "fields")}
                for k, diff in changed[:max_listed]
                for paths in [sorted(itertools.chain(*diff), key=path_order)]
            ],
            "more": max(len(changed) - max_listed, 0),
        },
        "other_fields": _field_changes(field_diff(_rest(old, key), _rest(new, key)), max_listed),
    }


FORMATS = {".json": "json", ".jsonl": "jsonl", ".yaml": "yaml", ".yml": "yaml"}
"""Explainable file suffixes and their format."""

ID_FIELDS = (
    "run_key", "registry_id", "op_id", "operation_id", "signal_id", "migration_id", "pack_id",
    "id", "run_id", "name", "key", "file", "relpath", "path",
)  # fmt: skip
"""Candidate identity fields, in order of preference; the migration ledger is keyed by `file`."""

CONTENT = "content"
"""The identity used when no field identifies every record uniquely: the record's canonical JSON."""

_PLAIN_KEY = re.compile(r"[^.\[\]\"\s]+")

FieldPath = tuple[str | int, ...]
FieldDiff = tuple[list[FieldPath], list[FieldPath], list[FieldPath]]
"""Paths that differ between two values, each list sorted: changed, added, removed."""


@dataclass(frozen=True)
class Document:
    """A parsed artifact: a JSON/YAML value, or the list of values of a JSONL file."""

    value: Any
    """The parsed value (a list of line values for JSONL)."""
    lines: bool
    """Whether `value` came from JSONL, where every line is a record."""


def parse(fmt: str, data: bytes) -> Document:
    """Parse `data` as `fmt` (json, jsonl or yaml); bad content raises UNPARSEABLE."""
    try:
        if fmt == "jsonl":
            return Document(list(_jsonl_values(data)), lines=True)
        if fmt == "json":
            return Document(loads_strict(data), lines=False)
        return Document(loads_yaml_strict(data), lines=False)  # as every registry's YAML is read
    except ValueError as exc:  # JSONDecodeProblem, the strict readers' one refusal
        raise RegistryError.of("UNPARSEABLE", reason=" ".join(str(exc).split())[:300]) from None


def _jsonl_values(data: bytes) -> Iterator[Any]:
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            try:
                yield loads_strict(line)
            except JSONDecodeProblem as exc:
                raise RegistryError.of("UNPARSEABLE", reason=f"line {number}: {exc}") from None


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys: the identity of a record that has no id field."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def locate_records(old: Document | None, new: Document | None) -> str | None:
    """Where both sides hold their records (a key, or '' for an array or JSONL), or None."""
    sides = [doc for doc in (old, new) if doc is not None]
    for key in dict.fromkeys(k for doc in sides if (k := _own_location(doc)) is not None):
        if all(_records_of(doc, key) is not None for doc in sides):
            return key
    return None


def _own_location(doc: Document) -> str | None:
    if doc.lines or _is_record_list(doc.value):
        return ""
    if isinstance(doc.value, dict):
        for key, value in doc.value.items():
            if value and _is_record_list(value):
                return str(key)
    return None


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _records_of(doc: Document | None, key: str) -> list[Any] | None:
    """A side's records at `key`, or None when it holds no records there."""
    if doc is None:
        return []
    value = doc.value if key == "" else doc.value.get(key) if isinstance(doc.value, dict) else None
    return value if (doc.lines and key == "") or _is_record_list(value) else None


def _rest(doc: Document | None, key: str) -> Any:
    """A side's document without its record list ({} when there is nothing else)."""
    if doc is None or key == "":
        return {}
    return {k: v for k, v in doc.value.items() if k != key}


def pick_identity(old: Sequence[Any], new: Sequence[Any]) -> str:
    """The first ID_FIELDS name present with a unique str/int value in every record of each side."""
    if not old and not new:
        return CONTENT
    for name in ID_FIELDS:
        if _identifies(old, name) and _identifies(new, name):
            return name
    return CONTENT


def _identifies(records: Sequence[Any], name: str) -> bool:
    values = set()
    for record in records:
        if not isinstance(record, dict):
            return False
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int) or value in values:
            return False
        values.add(value)
    return True


def _id_order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, value)


def _id_text(value: Any) -> str:
    return value if isinstance(value, str) else canonical(value)


def _short(text: str, limit: int = 60) -> str:
    """How a content identity is shown: cut short rather than dumped."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_diff(old: Any, new: Any) -> FieldDiff:
    """Where `new` differs from `old`, descending into objects and lists (iteratively)."""
    changed: list[FieldPath] = []
    added: list[FieldPath] = []
    removed: list[FieldPath] = []
    stack: list[tuple[FieldPath, Any, Any]] = [((), old, new)]
    while stack:
        path, a, b = stack.pop()
        if isinstance(a, dict) and isinstance(b, dict):
            removed.extend((*path, key) for key in a.keys() - b.keys())
            added.extend((*path, key) for key in b.keys() - a.keys())
            stack.extend(((*path, key), a[key], b[key]) for key in a.keys() & b.keys())
        elif isinstance(a, list) and isinstance(b, list):
            common = min(len(a), len(b))
            stack.extend(((*path, i), a[i], b[i]) for i in range(common))
            removed.extend((*path, i) for i in range(common, len(a)))
            added.extend((*path, i) for i in range(common, len(b)))
        elif not _same_leaf(a, b):
            changed.append(path)
    order = functools.partial(sorted, key=path_order)
    return order(changed), order(added), order(removed)


def _same_leaf(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def path_order(path: FieldPath) -> tuple[tuple[int, Any], ...]:
    """Sort key of a field path: list indices numerically, keys as text."""
    return tuple(_id_order(part) for part in path)


def path_text(path: FieldPath) -> str:
    """`thresholds.stale_after_hours`, `items[3].name`, `["a.b"]`; `$` for the whole value."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text or "$"
