"""The JSON half of the splice: one member of a list or map replaced or inserted at the
character offsets the JSON decoder itself reads, indented like its neighbours, every other
character of the file kept (its line ends and byte-order mark too)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core._json import loads_strict
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.write_path.content import Entry, ParsedFile, resolve
from registry_pipeline.core.write_path.findings import SpliceError
from registry_pipeline.core.write_path.types import EntryType

_SPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True)
class _Member:
    """One member of a JSON array or object in the file's text (character offsets)."""

    name: str | None
    start: int
    """Where the member starts (its key, or its value in an array)."""
    value_start: int
    value_end: int


def _scan(text: str, start: int) -> tuple[list[_Member], int]:
    """The members of the array or object whose opening bracket is at `start`, and the offset
    of its closing bracket: read with the JSON decoder itself, so names are exact."""
    decoder = json.JSONDecoder()
    closing = "]" if text[start] == "[" else "}"
    members: list[_Member] = []
    at = _SPACE.match(text, start + 1).end()  # type: ignore[union-attr]
    while text[at] != closing:
        begin, name = at, None
        if closing == "}":
            name, at = json.decoder.scanstring(text, at + 1)  # type: ignore[attr-defined]
            at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
            at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]  # past ':'
        _value, end = decoder.raw_decode(text, at)
        members.append(_Member(name, begin, at, end))
        at = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if text[at] == ",":
            at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
    return members, at


def _indent_of(text: str, offset: int) -> str:
    """The whitespace that starts the line holding `offset`."""
    line_start = text.rfind("\n", 0, offset) + 1
    return _SPACE.match(text, line_start).group().replace("\n", "").replace("\r", "")  # type: ignore[union-attr]


def json_dump(value: Any, indent: str, newline: str = "\n") -> str:
    """`value` as indented JSON whose continuation lines start with `indent`."""
    unit = "\t" if indent.startswith("\t") else "  "
    text = json.dumps(value, indent=unit, ensure_ascii=False)
    return text.replace("\n", newline + indent)


def json_container(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, key: str, value: Any
) -> tuple[bytes, Any]:
    if parsed is None:
        raise RegistryError(
            f"{entry_type.source} does not exist: create it with its first entry by hand",
            code="REGISTRY_FILE_MISSING",
            path=entry_type.source,
        )
    bom = "\ufeff" if parsed.data.startswith(b"\xef\xbb\xbf") else ""
    text = parsed.data.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    expected = json.loads(json.dumps(parsed.document))
    container = resolve(expected, entry_type.container)
    opening = _container_offset(text, entry_type.container)
    members, closing = _scan(text, opening)
    is_map = entry_type.layout == "map"
    target = (
        next((m for m in members if m.name == key), None)
        if is_map
        else members[old.index]
        if old is not None and old.index is not None
        else None
    )
    if target is not None:  # replace the value in place
        start, stop = target.value_start, target.value_end
        body = json_dump(value, _indent_of(text, target.start), newline)
    else:
        index = json_index(entry_type, container, key)
        if members:
            anchor = members[min(index, len(members) - 1)]
            indent = _indent_of(text, anchor.start)
        else:
            outer = _indent_of(text, opening)
            indent = outer + ("\t" if outer.startswith("\t") else "  ")
        member = json_dump(value, indent, newline)
        if is_map:
            member = json.dumps(key, ensure_ascii=False) + ": " + member
        if not members:
            start, stop = opening + 1, closing
            body = newline + indent + member + newline + _indent_of(text, opening)
        elif index < len(members):
            start = stop = members[index].start
            body = member + "," + newline + indent
        else:
            start = stop = members[-1].value_end
            body = "," + newline + indent + member
    _set_member(expected, entry_type, container, old, key, value)
    result = (bom + text[:start] + body + text[stop:]).encode()
    if loads_strict(result) != expected:
        raise SpliceError("the written entry would read back differently", path=entry_type.source)
    return result, expected


def _container_offset(text: str, pointer: str) -> int:
    """The offset of the opening bracket of the value at `pointer` (walked with `_scan`)."""
    at = _SPACE.match(text).end()  # type: ignore[union-attr]
    for part in pointer[1:].split("/") if pointer else []:
        name = part.replace("~1", "/").replace("~0", "~")
        members, _ = _scan(text, at)
        if text[at] == "{":
            member = next(m for m in members if m.name == name)
        else:
            member = members[int(name)]
        at = member.value_start
    return at


def _set_member(
    expected: Any, entry_type: EntryType, container: Any, old: Entry | None, key: str, value: Any
) -> None:
    """The parsed document as it should read after the write."""
    if entry_type.layout == "map" and key in container:
        container[key] = value
    elif entry_type.layout == "map":
        names = list(container)
        names.insert(json_index(entry_type, container, key), key)
        replaced = {**container, key: value}
        container.clear()
        container.update((name, replaced[name]) for name in names)
    elif old is not None and old.index is not None:
        container[old.index] = value
    else:
        container.insert(json_index(entry_type, container, key), value)


def json_index(entry_type: EntryType, container: Any, key: str) -> int:
    """Where a new member of a list or map goes (JSON or YAML): before the first greater key
    (key order), else at the end."""
    if entry_type.order == "key":
        keys = (
            list(container)
            if isinstance(container, dict)
            else [
                str(item.get(entry_type.key or "")) if isinstance(item, dict) else ""
                for item in container
            ]
        )
        for index, other in enumerate(keys):
            if other > key:
                return index
    return len(container)
