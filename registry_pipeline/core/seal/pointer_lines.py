"""The 1-based line where a JSON pointer's value starts, in text `loads_strict` accepted."""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from registry_pipeline.core.json_strict import pointer_tokens, skip_space

_DECODER = json.JSONDecoder()
_HERE = object()
"""Trie key: a pointer ends at this node."""


def pointer_lines(text: str, pointers: Iterable[str]) -> dict[str, int]:
    """The line of each pointer that names a value in `text` (pointers not found are left out)."""
    trie: dict[Any, Any] = {}
    wanted = 0
    for pointer in set(pointers):
        if pointer and not pointer.startswith("/"):
            continue
        node = trie
        for token in pointer_tokens(pointer):
            node = node.setdefault(token, {})
        node[_HERE] = pointer
        wanted += 1
    offsets: dict[str, int] = {}
    if wanted:  # StopIteration: every pointer found; the others: not JSON (lines are a courtesy)
        with suppress(StopIteration, ValueError, IndexError):
            _walk(text, skip_space(text, 0), trie, offsets, wanted)
    lines: dict[str, int] = {}
    line, at = 1, 0
    for pointer, offset in sorted(offsets.items(), key=lambda item: item[1]):
        line += text.count("\n", at, offset)
        at = offset
        lines[pointer] = line
    return lines


def _walk(text: str, at: int, node: dict[Any, Any], found: dict[str, int], wanted: int) -> int:
    """Record the pointers ending at the value starting at `at`; returns where the value ends."""
    if _HERE in node:
        found[node[_HERE]] = at
        if len(found) == wanted:
            raise StopIteration  # every pointer found: stop walking
    if len(node) == (1 if _HERE in node else 0) or text[at] not in "{[":
        return _skip_value(text, at)
    closer = "}" if text[at] == "{" else "]"
    at = skip_space(text, at + 1)
    if text[at] == closer:
        return at + 1
    number = 0
    while True:
        if closer == "}":  # a member: its key, then past the colon
            key, at = _DECODER.raw_decode(text, at)
            at = skip_space(text, skip_space(text, at) + 1)
        else:  # an item: its index
            key, number = str(number), number + 1
        child = node.get(key)
        at = _walk(text, at, child, found, wanted) if child else _skip_value(text, at)
        at = skip_space(text, at)
        if text[at] == closer:
            return at + 1
        at = skip_space(text, at + 1)  # past the comma


def _skip_value(text: str, at: int) -> int:
    return int(_DECODER.raw_decode(text, at)[1])
