"""What an update changes: the unified diff `registry add-entry --dry-run` prints (`patch -p1`
applies it), and the fields whose JSON type it would change (FIELD_TYPE_CHANGED)."""

from __future__ import annotations

import difflib
import re
from typing import Any

HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def unified_diff(file: str, before: bytes | None, after: bytes, context: int = 3) -> str:
    """The change as a unified diff (what `--dry-run` prints). Only the changed region is
    compared (a splice changes one region): linear in the file, not quadratic."""
    old = before.decode("utf-8", "replace").splitlines(keepends=True) if before else []
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    start = max(0, prefix - context)
    lines = difflib.unified_diff(
        old[start : len(old) - max(0, suffix - context)],
        new[start : len(new) - max(0, suffix - context)],
        f"a/{file}" if before else "/dev/null",
        f"b/{file}",
        n=context,
    )
    return "".join(_no_newline_marked(_shift_hunk(line, start)) for line in lines)


def _no_newline_marked(line: str) -> str:
    """A diff line of a last line without a newline, marked as `diff` and `patch` expect."""
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def _shift_hunk(line: str, offset: int) -> str:
    """A hunk header with its line numbers moved down by `offset`."""
    match = HUNK.match(line)
    if match is None or not offset:
        return line

    def moved(start: str, count: str | None) -> str:
        return f"{int(start) + offset}{count or ''}"

    old_start, old_count, new_start, new_count = match.groups()
    return f"@@ -{moved(old_start, old_count)} +{moved(new_start, new_count)} @@\n"


def type_changes(old: Any, new: Any, where: str) -> list[tuple[str, str]]:
    """(field, message) for each field whose JSON type an update changes (null aside)."""
    if old is None or new is None:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            change
            for name in old.keys() & new.keys()
            for change in type_changes(old[name], new[name], f"{where}/{name}")
        ]
    if isinstance(old, list) and isinstance(new, list):
        return [
            change
            for index, (a, b) in enumerate(zip(old, new, strict=False))
            for change in type_changes(a, b, f"{where}/{index}")
        ]
    before, after = _json_type(old), _json_type(new)
    if before != after:
        return [(where, f"was {before} ({old!r}), would become {after} ({new!r})")]
    return []


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
