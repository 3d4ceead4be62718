"""One entry spliced into a registry file, every other byte kept; it must read back the same."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import (
    json_members,
    loads_strict,
    pointer_tokens,
    resolve_pointer,
    skip_space,
)
from registry_pipeline.core.write_path.content import Entry, EntryType, ParsedFile
from registry_pipeline.core.yaml_io import STR, loads_yaml_strict, plain_tag

_READERS = [VersionedResolver((1, 1)), VersionedResolver((1, 2))]
"""A string that these or `plain_tag` would read as another type (`yes`, `12:30`) is quoted."""
UNSAFE_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\n\r\t]")
"""Characters written escaped (double-quoted), so the file's lines stay the parser's lines."""
FULL_CHECK_BYTES = 64 * 1024
"""Spliced files smaller than this are parsed whole again; larger ones only the entry's text."""


def new_text(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, key: str, value: Any
) -> ParsedFile:
    """The entry's file once the entry `key` holds `value` (inserted or replaced)."""
    data = parsed.data if parsed is not None else b""
    # new quoted strings follow the file's quotes: double when most of its quoted values are
    double = data.count(b': "') + data.count(b'- "') > data.count(b": '") + data.count(b"- '")
    if entry_type.layout == "files" and entry_type.suffix == ".json":
        return ParsedFile(as_file(_json(value, "") + "\n", data), value)
    if entry_type.layout == "files":
        text = _rewrite(data, lambda yaml, document: _merge(document, value, double))
        if loads_yaml_strict(text) != value:
            raise mismatch("written entry")
        return ParsedFile(as_file(text, data), value)
    if parsed is None and entry_type.suffix == ".json":
        raise RegistryError.of("REGISTRY_FILE_MISSING", path=entry_type.source)
    replace = old is not None
    index, had_list = _place(entry_type, parsed, replace, key, value)
    if parsed is not None and entry_type.suffix == ".json":
        return _json_splice(entry_type, parsed, replace, index, key, value)
    spliced = None
    if parsed is not None and parsed.spans:
        spliced = _splice(entry_type, parsed, replace, index, value, double)
    return spliced or _roundtrip(entry_type, parsed, had_list, replace, index, value, double)


def _place(
    entry_type: EntryType, parsed: ParsedFile | None, replace: bool, key: str, value: Any
) -> tuple[int, bool]:
    """The entry's index, set there in the old parse (the new file's now); whether it had a list."""
    try:
        container = resolve_pointer(parsed.document if parsed else None, entry_type.container)
    except KeyError:
        container = None  # no list yet: the YAML round-trip makes one
    if isinstance(container, dict):
        names = list(container)
    else:
        names = [str(i.get(entry_type.key)) if isinstance(i, dict) else "" for i in container or ()]
    if replace:
        index = names.index(key)
    elif entry_type.order == "key":
        index = next((i for i, name in enumerate(names) if name > key), len(names))
    else:
        index = len(names)
    if isinstance(container, dict):  # compared as a dict: the order of a map is the text's
        container[key] = value
    elif isinstance(container, list):
        container[index : index + replace] = [value]
    return index, isinstance(container, list)


def mismatch(what: str, path: str | None = None) -> RegistryError:
    """SPLICE_MISMATCH (exit 3): the bytes would not read back as meant (a bug; not written)."""
    return RegistryError.of("SPLICE_MISMATCH", path=path, what=what)


def as_file(text: str, original: bytes) -> bytes:
    """`text` (LF line ends) with the original file's line ends and byte-order mark."""
    if b"\r\n" in original:
        text = text.replace("\n", "\r\n")
    return ("\ufeff" * original.startswith(b"\xef\xbb\xbf") + text).encode()


def _yaml(offset: int = 2) -> Any:
    yaml = YAML(typ="rt", pure=True)
    yaml.width, yaml.preserve_quotes = 4096, True
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def _dump(yaml: Any, value: Any) -> str:
    stream = io.StringIO()
    yaml.dump(value, stream)
    return stream.getvalue()


def _quoted(value: Any, double: bool = False) -> Any:
    """`value` with every string a YAML reader would misread marked to be quoted."""
    if isinstance(value, dict):
        return {_quoted(k, double): _quoted(v, double) for k, v in value.items()}
    if isinstance(value, list):
        return [_quoted(v, double) for v in value]
    if not isinstance(value, str):
        return value
    unsafe = UNSAFE_RAW.search(value)  # escaped: \N, \L, \P, \x..
    resolved = (r.resolve(ScalarNode, value, (True, False)) for r in _READERS)
    if not unsafe and plain_tag(value) == STR and all(tag == STR for tag in resolved):
        return value
    return (DoubleQuotedScalarString if double or unsafe else SingleQuotedScalarString)(value)


def _merge(old: Any, new: Any, double: bool) -> Any:
    """`new`, keeping `old`'s round-trip nodes where equal (their comments and quoting stay)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for gone in [k for k in old if k not in new]:
            del old[gone]
        for k, v in new.items():
            old[k if k in old else _quoted(k, double)] = _merge(old.get(k), v, double)
        return old
    if isinstance(old, list) and isinstance(new, list):
        del old[len(new) :]
        for i, v in enumerate(new):  # one item set at a time: a slice drops their comments
            if i < len(old):
                old[i] = _merge(old[i], v, double)
            else:
                old.append(_quoted(v, double))
        return old
    same_kind = type(old) is type(new) or (isinstance(old, str) and isinstance(new, str))
    return old if same_kind and old == new else _quoted(new, double)


def _rewrite(data: bytes, edit: Callable[[Any, Any], Any]) -> str:
    """The file's text once `edit(yaml, round-trip document)` changed it (LF line ends)."""
    yaml = _yaml()
    original = data.decode("utf-8-sig").replace("\r\n", "\n")
    document = yaml.load(original)
    text = _dump(yaml, edit(yaml, document))
    if document is None and original.strip():  # comments only: they stay, the entries follow
        text = original + ("" if original.endswith("\n") else "\n") + text
    return text


def _splice(
    entry_type: EntryType, parsed: ParsedFile, replace: bool, index: int, value: Any, double: bool
) -> ParsedFile | None:
    """The file with the entry's lines spliced in at `index` (None: only a round-trip can)."""
    spans = parsed.spans or ()
    lines = parsed.data.decode("utf-8-sig").splitlines(keepends=True)
    dash = lines[spans[0][0]].index("-")
    offset = _offset(lines, spans[0][0], dash)
    yaml, shift = _yaml(offset), dash - offset
    item = None
    if replace:
        start = spans[index][0]
        snippet = lines[start : spans[index][1] + 1]
        if any(line.strip() and len(line) - len(line.lstrip(" ")) < shift for line in snippet):
            return None  # a line left of the entry (a comment): round-trip the whole file
        item = yaml.load("".join(line[shift:].rstrip("\r\n") + "\n" for line in snippet))
    elif index < len(spans):  # the comment just above an entry stays with it
        start = spans[index][0]
        while start > 0 and re.match(rf" {{0,{dash}}}#", lines[start - 1]):
            start -= 1
    else:  # after the last entry, and after a comment indented into it
        start = spans[-1][1] + 1
        while start < len(lines) and re.match(rf" {{{dash + 1},}}#", lines[start]):
            start += 1
    stop = spans[index][1] + 1 if replace else start
    text = _dump(yaml, _merge(item, [value], double))
    block = [" " * shift + line if line.strip() else line for line in text.splitlines()]
    if text.count("\n") != len(block) or loads_yaml_strict(text) != [value]:
        return None  # the text would not read back as the entry, line for line
    newline = "\r\n" if lines[spans[0][0]].endswith("\r\n") else "\n"
    if start > 0 and not lines[start - 1].endswith(("\n", "\r")):
        lines[start - 1] += newline  # the file did not end with a newline
    lines[start:stop] = [line + newline for line in block]
    data = ("\ufeff" * parsed.data.startswith(b"\xef\xbb\xbf") + "".join(lines)).encode()
    if len(data) < FULL_CHECK_BYTES and loads_yaml_strict(data) != parsed.document:
        raise mismatch("spliced file", entry_type.source)
    grown = len(block) - (stop - start)
    moved = [(a + grown, b + grown) if a >= stop else (a, b) for a, b in spans]
    moved[index : index + replace] = [(start, start + len(block) - 1)]
    return ParsedFile(data, parsed.document, tuple(moved))


def _offset(lines: list[str], dash_line: int, dash: int) -> int:
    """How far the list's dashes sit right of their parent key (0 or 2, usually)."""
    for line in reversed(lines[:dash_line]):
        stripped = line.lstrip(" ")
        if stripped.strip() and not stripped.startswith("#"):
            return max(0, dash - (len(line) - len(stripped)))
    return 0


def _roundtrip(
    entry_type: EntryType,
    parsed: ParsedFile | None,
    had_list: bool,
    replace: bool,
    index: int,
    value: Any,
    double: bool,
) -> ParsedFile:
    """The whole file round-trip, the list created where missing and the entry put at `index`."""
    parts = pointer_tokens(entry_type.container)

    def edit(yaml: Any, document: Any) -> Any:
        if document is None:
            document = yaml.map() if parts else yaml.seq()
        holder = document
        for part in parts[:-1]:
            holder = holder.setdefault(part, yaml.map())
        if parts and not isinstance(holder.get(parts[-1]), list):
            holder[parts[-1]] = yaml.seq()
        items = holder[parts[-1]] if parts else document
        if replace:  # one item set, not a slice: a slice drops the items' comments
            items[index] = _merge(items[index], value, double)
        else:
            items.insert(index, _quoted(value, double))
        return document

    data = parsed.data if parsed is not None else b""
    text = _rewrite(data, edit)
    written = loads_yaml_strict(text)
    if had_list and parsed is not None and written != parsed.document:
        raise mismatch("rewritten file")
    if resolve_pointer(written, entry_type.container)[index] != value:
        raise mismatch("written entry")
    return ParsedFile(as_file(text, data), written)


def _indent_of(text: str, offset: int) -> str:
    """The whitespace that starts the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    return text[start : skip_space(text, start)].replace("\n", "").replace("\r", "")


def _json(value: Any, indent: str, newline: str = "\n") -> str:
    """`value` as indented JSON whose continuation lines start with `indent`."""
    text = json.dumps(value, indent="\t" if indent.startswith("\t") else "  ", ensure_ascii=False)
    return text.replace("\n", newline + indent)


def _json_splice(
    entry_type: EntryType, parsed: ParsedFile, replace: bool, index: int, key: str, value: Any
) -> ParsedFile:
    """The JSON file with the entry's text put in at `index` of its array or object."""
    text = parsed.data.decode()  # no byte-order mark: the strict parse refuses one
    newline = "\r\n" if "\r\n" in text else "\n"
    opening, document, holder, last = skip_space(text, 0), parsed.document, None, None
    for name in pointer_tokens(entry_type.container):
        members, _ = json_members(text, opening)
        in_object = text[opening] == "{"
        opening = (next(m for m in members if m[0] == name) if in_object else members[int(name)])[2]
        holder, last = document, name if in_object else int(name)
        document = document[last]
    if document is None:  # `null`: no entries yet, so the entry starts the list
        text = f"{text[:opening]}[]{text[opening + len('null') :]}"
        if holder is None:
            parsed = ParsedFile(parsed.data, [value])
        else:
            holder[last] = [value]
    members, closing = json_members(text, opening)
    if replace:
        _, begin, start, stop = members[index]
        body = _json(value, _indent_of(text, begin), newline)
    else:
        outer = _indent_of(text, opening)
        if members:  # the indentation of its neighbour
            indent = _indent_of(text, members[min(index, len(members) - 1)][1])
        else:
            indent = outer + ("\t" if outer.startswith("\t") else "  ")
        member = json.dumps(key, ensure_ascii=False) + ": " if entry_type.layout == "map" else ""
        member += _json(value, indent, newline)
        if not members:
            start, stop, body = opening + 1, closing, f"{newline}{indent}{member}{newline}{outer}"
        elif index < len(members):
            start = stop = members[index][1]
            body = member + "," + newline + indent
        else:
            start = stop = members[-1][3]
            body = "," + newline + indent + member
    result = (text[:start] + body + text[stop:]).encode()
    if loads_strict(result) != parsed.document:
        raise mismatch("written entry", entry_type.source)
    return ParsedFile(result, parsed.document)
