"""The new text of a JSON registry file with one entry inserted or replaced, every other byte
kept (at the offsets the JSON decoder reads, indented like its neighbours), parsed again and
compared with what was meant; also what the YAML splice shares."""

from __future__ import annotations

import json
import re
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import loads_strict, pointer_tokens, resolve_pointer
from registry_pipeline.core.write_path.content import (
    Entry,
    EntryType,
    ParsedFile,
)

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_Member = tuple[str | None, int, int, int]
"""A member of an array or object: its name (None in an array), where it starts (its key or
value), where its value starts and where it ends (character offsets)."""


def mismatch(what: str, path: str | None = None) -> RegistryError:
    """SPLICE_MISMATCH (exit 3): the bytes would not read back as meant (a bug; not written)."""
    return RegistryError(
        f"the {what} would read back differently", code="SPLICE_MISMATCH", path=path, exit_code=3
    )


def json_index(entry_type: EntryType, container: Any, key: str) -> int:
    """Where a new member of a list or map goes: before the first greater key (key order), else
    at the end."""
    if entry_type.order != "key":
        return len(container)
    if isinstance(container, list):
        container = [str(i.get(entry_type.key)) if isinstance(i, dict) else "" for i in container]
    return next((i for i, other in enumerate(container) if other > key), len(container))


def as_file(text: str, original: bytes) -> bytes:
    """`text` (LF line ends) with the original file's line ends and byte-order mark."""
    if b"\r\n" in original:
        text = text.replace("\n", "\r\n")
    return ("\ufeff" * original.startswith(b"\xef\xbb\xbf") + text).encode()


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]


def _members(text: str, start: int) -> tuple[list[_Member], int]:
    """The members of the array or object whose bracket is at `start`, and the offset of its
    closing bracket (read with the JSON decoder itself)."""
    closing = "]" if text[start] == "[" else "}"
    members: list[_Member] = []
    at = _skip(text, start + 1)
    while text[at] != closing:
        begin, name = at, None
        if closing == "}":
            name, at = json.decoder.scanstring(text, at + 1)  # type: ignore[attr-defined]
            at = _skip(text, _skip(text, at) + 1)  # past the colon
        end = _DECODER.raw_decode(text, at)[1]
        members.append((name, begin, at, end))
        at = _skip(text, end)
        at = _skip(text, at + 1) if text[at] == "," else at
    return members, at


def _indent_of(text: str, offset: int) -> str:
    """The whitespace that starts the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    return text[start : _skip(text, start)].replace("\n", "").replace("\r", "")


def _dump(value: Any, indent: str, newline: str = "\n") -> str:
    """`value` as indented JSON whose continuation lines start with `indent`."""
    text = json.dumps(value, indent="\t" if indent.startswith("\t") else "  ", ensure_ascii=False)
    return text.replace("\n", newline + indent)


def json_text(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, key: str, value: Any
) -> ParsedFile:
    """The file's bytes and document once its entry `key` holds `value`."""
    if entry_type.layout == "files":
        return ParsedFile(as_file(_dump(value, "") + "\n", parsed.data if parsed else b""), value)
    if parsed is None:
        raise RegistryError(
            f"{entry_type.source} does not exist: create it with its first entry by hand",
            code="REGISTRY_FILE_MISSING",
            path=entry_type.source,
        )
    text = parsed.data.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    expected = json.loads(json.dumps(parsed.document))
    container = resolve_pointer(expected, entry_type.container)
    opening = _skip(text, 0)
    for name in pointer_tokens(entry_type.container):
        members, _ = _members(text, opening)
        in_object = text[opening] == "{"
        opening = (next(m for m in members if m[0] == name) if in_object else members[int(name)])[2]
    members, closing = _members(text, opening)
    is_map = entry_type.layout == "map"
    index = old.index if old is not None and not is_map else None
    if is_map:
        index = next((i for i, m in enumerate(members) if m[0] == key), None)
    if index is not None:  # replace the value in place
        _, begin, start, stop = members[index]
        body = _dump(value, _indent_of(text, begin), newline)
        container[key if is_map else index] = value
    else:
        index = json_index(entry_type, container, key)
        outer = _indent_of(text, opening)
        if members:  # the indentation of its neighbour
            indent = _indent_of(text, members[min(index, len(members) - 1)][1])
        else:
            indent = outer + ("\t" if outer.startswith("\t") else "  ")
        member = json.dumps(key, ensure_ascii=False) + ": " if is_map else ""
        member += _dump(value, indent, newline)
        if not members:
            start, stop, body = opening + 1, closing, f"{newline}{indent}{member}{newline}{outer}"
        elif index < len(members):
            start = stop = members[index][1]
            body = member + "," + newline + indent
        else:
            start = stop = members[-1][3]
            body = "," + newline + indent + member
        if is_map:  # compared as a dict: its members' order is the text's to keep
            container[key] = value
        else:
            container.insert(index, value)
    bom = "\ufeff" if parsed.data.startswith(b"\xef\xbb\xbf") else ""
    result = (bom + text[:start] + body + text[stop:]).encode()
    if loads_strict(result) != expected:
        raise mismatch("written entry", entry_type.source)
    return ParsedFile(result, expected)
