"""Parsing artifacts into records and diffing them field by field, for `delta_explain`."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict

FORMATS = {".json": "json", ".jsonl": "jsonl", ".yaml": "yaml", ".yml": "yaml"}
"""Explainable file suffixes and their format."""

ID_FIELDS = (
    "run_key", "registry_id", "op_id", "operation_id", "signal_id", "migration_id", "pack_id",
    "id", "run_id", "name", "key", "file", "relpath", "path",
)  # fmt: skip
"""Candidate identity fields, in order of preference; the migration ledger is keyed by `file`."""

CONTENT = "content"
"""The identity used when no field identifies every record uniquely: the record's canonical JSON."""

_YAML_NODE_BUDGET = 2_000_000
_YAML_MAX_DEPTH = 400
_PLAIN_KEY = re.compile(r"[^.\[\]\"\s]+")

FieldPath = tuple[str | int, ...]


class ParseProblem(ValueError):
    """One side of an artifact cannot be read as its format; the message says where and why."""


@dataclass(frozen=True)
class Document:
    """A parsed artifact: a JSON/YAML value, or the list of values of a JSONL file."""

    value: Any
    """The parsed value (a list of line values for JSONL)."""
    lines: bool
    """Whether `value` came from JSONL, where every line is a record."""


@dataclass(frozen=True)
class Records:
    """The record lists of both sides, and the rest of each document for a field diff."""

    key: str
    """Top-level key holding the records, or "" for a top-level array or JSONL lines."""
    old: list[Any]
    """Records of the old side (empty when the file is added)."""
    new: list[Any]
    """Records of the new side (empty when the file is removed)."""
    old_rest: Any
    """The old document without its record list ({} when there is nothing else)."""
    new_rest: Any
    """The new document without its record list."""


def parse(fmt: str, data: bytes) -> Document:
    """Parse `data` as `fmt` (json, jsonl or yaml), raising ParseProblem on bad content."""
    try:
        if fmt == "jsonl":
            return Document(list(_jsonl_values(data)), lines=True)
        if fmt == "json":
            return Document(loads_strict(data), lines=False)
        return Document(_plain(YAML(typ="safe").load(data), 0, Counter()), lines=False)
    except ParseProblem:
        raise
    except (YAMLError, ValueError, TypeError) as exc:
        # ruamel reports bad dates and odd keys as ValueError/TypeError, not YAMLError.
        raise ParseProblem(" ".join(str(exc).split())[:300]) from None
    except RecursionError:
        raise ParseProblem("nested too deeply") from None


def _jsonl_values(data: bytes) -> Iterator[Any]:
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            try:
                yield loads_strict(line)
            except JSONDecodeProblem as exc:
                raise ParseProblem(f"line {number}: {exc}") from None


def _plain(value: Any, depth: int, seen: Counter[str]) -> Any:
    """YAML value as JSON data: string keys, dates as ISO text; refuses alias bombs and cycles."""
    seen["nodes"] += 1
    if seen["nodes"] > _YAML_NODE_BUDGET or depth > _YAML_MAX_DEPTH:
        raise ParseProblem("too large or too deeply nested once aliases are expanded")
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1, seen) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1, seen) for v in value]
    if isinstance(value, set | frozenset):  # !!set: hash order is not stable across processes
        return sorted((_plain(v, depth + 1, seen) for v in value), key=canonical)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return value
    return str(value)


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys: the identity of a record that has no id field."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def locate_records(old: Document | None, new: Document | None) -> Records | None:
    """The records of both sides, or None when the documents are not record collections."""
    sides = [doc for doc in (old, new) if doc is not None]
    for key in dict.fromkeys(k for doc in sides if (k := _own_location(doc)) is not None):
        if all(_fits(doc, key) for doc in sides):
            return Records(
                key, _records_at(old, key), _records_at(new, key), _rest(old, key), _rest(new, key)
            )
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


def _fits(doc: Document, key: str) -> bool:
    if doc.lines or key == "":
        return key == "" and (doc.lines or _is_record_list(doc.value))
    return isinstance(doc.value, dict) and _is_record_list(doc.value.get(key))


def _records_at(doc: Document | None, key: str) -> list[Any]:
    if doc is None:
        return []
    found = doc.value if key == "" else doc.value[key]
    return list(found)


def _rest(doc: Document | None, key: str) -> Any:
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


@dataclass(frozen=True)
class FieldDiff:
    """Paths that differ between two values, each list sorted."""

    changed: list[FieldPath]
    """Paths present on both sides with different values."""
    added: list[FieldPath]
    """Paths only on the new side."""
    removed: list[FieldPath]
    """Paths only on the old side."""

    def all_paths(self) -> list[FieldPath]:
        """Every differing path, sorted."""
        return sorted(self.changed + self.added + self.removed, key=path_order)

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)


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
    return FieldDiff(
        sorted(changed, key=path_order),
        sorted(added, key=path_order),
        sorted(removed, key=path_order),
    )


def _same_leaf(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def path_order(path: FieldPath) -> tuple[tuple[int, Any], ...]:
    """Sort key of a field path: list indices numerically, keys as text."""
    return tuple((0, part) if isinstance(part, int) else (1, part) for part in path)


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


@dataclass(frozen=True)
class Split:
    """Shown ids of records added, removed and changed (sorted), and the unchanged count."""

    added: list[str]
    """Ids only on the new side."""
    removed: list[str]
    """Ids only on the old side."""
    changed: list[tuple[str, FieldDiff]]
    """Ids on both sides whose records differ, with the differences."""
    unchanged: int
    """Records equal on both sides."""


def split_records(old: Sequence[Any], new: Sequence[Any], identity: str) -> Split:
    """Match records by `identity` (a field, or CONTENT: a multiset of canonical JSON)."""
    if identity == CONTENT:
        before = Counter(canonical(r) for r in old)
        after = Counter(canonical(r) for r in new)
        added = sorted((after - before).elements())
        removed = sorted((before - after).elements())
        return Split(
            [_short(k) for k in added], [_short(k) for k in removed], [], (before & after).total()
        )
    old_by = {r[identity]: r for r in old}
    new_by = {r[identity]: r for r in new}
    common = sorted(old_by.keys() & new_by.keys(), key=_id_order)
    diffs = [(key, field_diff(old_by[key], new_by[key])) for key in common]
    return Split(
        [_id_text(k) for k in sorted(new_by.keys() - old_by.keys(), key=_id_order)],
        [_id_text(k) for k in sorted(old_by.keys() - new_by.keys(), key=_id_order)],
        [(_id_text(key), diff) for key, diff in diffs if diff],
        sum(1 for _, diff in diffs if not diff),
    )
