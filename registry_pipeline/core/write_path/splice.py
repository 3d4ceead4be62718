"""The new text of a registry file with one entry inserted or replaced, every other byte kept.

A block-style YAML list is spliced at its items' line spans (the marks of ruamel.yaml's nodes in
the strict parse, `content._item_spans`), the entry's text written by ruamel.yaml's round-trip
dumper (a replaced entry merged into its old text, so its comments stay). A file that is one entry
is that entry's round trip; other YAML lists (flow style, a comment on a dash's line, a keep block
scalar ending an item, none yet) go round-trip whole, which keeps comments but may re-indent. A
JSON list or map has its one member replaced or inserted at the offsets the JSON decoder reads,
indented like its neighbours. Each result is parsed again and compared with what was meant: a
file that would read back differently is never written."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.write_path.content import (
    Entry,
    EntryType,
    ParsedFile,
    pointer_parts,
    resolve,
)
from registry_pipeline.core.yaml_io import STR, loads_yaml_strict, plain_reads_as_str

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_Member = tuple[str | None, int, int, int]
"""A member of an array or object: its name (None in an array), where it starts (its key or
value), where its value starts and where it ends (character offsets)."""


def _differs(what: str, path: str | None = None) -> RegistryError:
    """SPLICE_MISMATCH (exit 3): the bytes would not read back as the intended document, a bug
    reported with the file rather than written."""
    return RegistryError(
        f"the {what} would read back differently", code="SPLICE_MISMATCH", path=path, exit_code=3
    )


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]


def _members(text: str, start: int) -> tuple[list[_Member], int]:
    """The members of the array or object whose bracket is at `start`, and the offset of its
    closing bracket: read with the JSON decoder itself, so names are exact."""
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


def json_dump(value: Any, indent: str, newline: str = "\n") -> str:
    """`value` as indented JSON whose continuation lines start with `indent`."""
    text = json.dumps(value, indent="\t" if indent.startswith("\t") else "  ", ensure_ascii=False)
    return text.replace("\n", newline + indent)


def json_container(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, key: str, value: Any
) -> tuple[bytes, Any]:
    """The file's bytes and document once the list or map member `key` holds `value`."""
    if parsed is None:
        raise RegistryError(
            f"{entry_type.source} does not exist: create it with its first entry by hand",
            code="REGISTRY_FILE_MISSING",
            path=entry_type.source,
        )
    text = parsed.data.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    expected = json.loads(json.dumps(parsed.document))
    container = resolve(expected, entry_type.container)
    opening = _skip(text, 0)
    for name in pointer_parts(entry_type.container):
        members, _ = _members(text, opening)
        in_object = text[opening] == "{"
        opening = (next(m for m in members if m[0] == name) if in_object else members[int(name)])[2]
    members, closing = _members(text, opening)
    is_map = entry_type.layout == "map"
    index = old.index if old is not None and old.index is not None and not is_map else None
    if is_map:
        index = next((i for i, m in enumerate(members) if m[0] == key), None)
    if index is not None:  # replace the value in place
        _, begin, start, stop = members[index]
        body = json_dump(value, _indent_of(text, begin), newline)
        container[key if is_map else index] = value
    else:
        index = json_index(entry_type, container, key)
        outer = _indent_of(text, opening)
        if members:  # the indentation of its neighbour
            indent = _indent_of(text, members[min(index, len(members) - 1)][1])
        else:
            indent = outer + ("\t" if outer.startswith("\t") else "  ")
        member = json.dumps(key, ensure_ascii=False) + ": " if is_map else ""
        member += json_dump(value, indent, newline)
        if not members:
            start, stop, body = opening + 1, closing, f"{newline}{indent}{member}{newline}{outer}"
        elif index < len(members):
            start = stop = members[index][1]
            body = member + "," + newline + indent
        else:
            start = stop = members[-1][3]
            body = "," + newline + indent + member
        pairs = list(container.items()) if is_map else container
        pairs.insert(index, (key, value) if is_map else value)
        if is_map:
            container.clear()
            container.update(pairs)
    bom = "\ufeff" if parsed.data.startswith(b"\xef\xbb\xbf") else ""
    result = (bom + text[:start] + body + text[stop:]).encode()
    if loads_strict(result) != expected:
        raise _differs("written entry", entry_type.source)
    return result, expected


def json_index(entry_type: EntryType, container: Any, key: str) -> int:
    """Where a new member of a list or map goes (JSON or YAML): before the first greater key
    (key order), else at the end."""
    if entry_type.order != "key":
        return len(container)
    if isinstance(container, list):
        container = [str(i.get(entry_type.key)) if isinstance(i, dict) else "" for i in container]
    return next((i for i, other in enumerate(container) if other > key), len(container))


_READERS = [VersionedResolver(version) for version in ((1, 1), (1, 2))]
"""ruamel.yaml's YAML 1.1 and 1.2 resolvers: a string either would read as something else
(`yes`, `12:30`, `2024-01-01`, `1_000`, `''`) is written quoted."""
UNSAFE_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\n\r\t]")
"""Characters written escaped in a double-quoted scalar (line breaks YAML 1.1 readers fold,
controls), so the file's lines stay the parser's lines."""
FULL_CHECK_BYTES = 64 * 1024
"""Spliced files smaller than this are parsed whole again; larger ones have the entry's own text
parsed again and rely on the spans the strict parse found (`content._item_spans`)."""


def new_text(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, key: str, value: Any
) -> ParsedFile:
    """The entry's file once the entry `key` holds `value` (inserted or replaced): its bytes,
    its document and, for a spliced YAML list, the moved line spans."""
    data = parsed.data if parsed is not None else b""
    # new quoted strings follow the file's quotes: double when most of its quoted values are
    double = data.count(b': "') + data.count(b'- "') > data.count(b": '") + data.count(b"- '")
    if not entry_type.is_yaml:
        if entry_type.layout == "files":
            return ParsedFile(_as_file(json_dump(value, "") + "\n", data), value)
        return ParsedFile(*json_container(entry_type, parsed, old, key, value))
    if entry_type.layout == "files":
        text = _rewrite(parsed, lambda yaml, document: _merge(document, value, double))
        if loads_yaml_strict(text) != value:
            raise _differs("written entry")
        return ParsedFile(_as_file(text, data), value)
    at = old.index if old is not None else None  # the replaced entry's place
    index, replace = (_insert_at(entry_type, parsed, key), False) if at is None else (at, True)
    spliced = None
    if parsed is not None and parsed.spans:
        spliced = _splice(entry_type, parsed, replace, index, value, double)
    return spliced or _roundtrip(entry_type, parsed, replace, index, value, double)


def _yaml(offset: int = 2) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def _dump(yaml: Any, value: Any) -> str:
    stream = io.StringIO()
    yaml.dump(value, stream)
    return stream.getvalue()


def _quoted(value: Any, double: bool = False) -> Any:
    """`value` with the strings a YAML 1.1 reader would misread marked to be written quoted."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    if isinstance(value, dict):
        return {_quoted(k, double): _quoted(v, double) for k, v in value.items()}
    if isinstance(value, list):
        return [_quoted(v, double) for v in value]
    if isinstance(value, str) and UNSAFE_RAW.search(value):
        return DoubleQuotedScalarString(value)  # escaped: \N, \L, \P, \x..
    if isinstance(value, str) and (
        not plain_reads_as_str(value)  # our own reader first: `.5e3`, `.INf`, `+.nan`
        or any(reader.resolve(ScalarNode, value, (True, False)) != STR for reader in _READERS)
    ):
        return (DoubleQuotedScalarString if double else SingleQuotedScalarString)(value)
    return value


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
        for i, v in enumerate(new):
            if i < len(old):
                old[i] = _merge(old[i], v, double)
            else:
                old.append(_quoted(v, double))
        return old
    same_kind = type(old) is type(new) or (isinstance(old, str) and isinstance(new, str))
    return old if same_kind and old == new else _quoted(new, double)


def _as_file(text: str, original: bytes) -> bytes:
    """`text` (LF line ends) with the original file's line ends and byte-order mark."""
    if b"\r\n" in original:
        text = text.replace("\n", "\r\n")
    return ("\ufeff" * original.startswith(b"\xef\xbb\xbf") + text).encode()


def _rewrite(parsed: ParsedFile | None, edit: Callable[[Any, Any], Any]) -> str:
    """The file's text once `edit(yaml, round-trip document)` changed it (LF line ends)."""
    yaml = _yaml()
    original = parsed.data.decode("utf-8-sig").replace("\r\n", "\n") if parsed else ""
    document = yaml.load(original)
    text = _dump(yaml, edit(yaml, document))
    if document is None and original.strip():  # comments only: they stay, the entries follow
        text = original + ("" if original.endswith("\n") else "\n") + text
    return text


def _insert_at(entry_type: EntryType, parsed: ParsedFile | None, key: str) -> int:
    """Where a new entry goes in the file's list (0 when it has none yet)."""
    try:
        items = resolve(parsed.document if parsed is not None else None, entry_type.container)
    except KeyError:
        return 0
    return json_index(entry_type, items, key) if isinstance(items, list) else 0


def _with_entry(document: Any, entry_type: EntryType, replace: bool, value: Any, index: int) -> Any:
    """`document` with the entry put at `index` (in place: the old parse is consumed)."""
    items = resolve(document, entry_type.container)
    items[index : index + replace] = [value]
    return document


def _splice(
    entry_type: EntryType,
    parsed: ParsedFile,
    replace: bool,
    index: int,
    value: Any,
    double: bool,
) -> ParsedFile | None:
    """The file with the entry's lines spliced in at `index`, or None where only a round-trip can
    write it (a line of the old entry left of its dash, text that would not read back)."""
    spans = parsed.spans or ()
    lines = parsed.data.decode("utf-8-sig").splitlines(keepends=True)
    dash = lines[spans[0][0]].index("-")
    offset = _offset(lines, spans[0][0], dash)
    yaml, shift = _yaml(offset), dash - offset
    if replace:
        start, stop = spans[index][0], spans[index][1] + 1
        snippet = lines[start:stop]
        if any(line.strip() and len(line) - len(line.lstrip(" ")) < shift for line in snippet):
            return None  # a line left of the entry (a comment): round-trip the whole file
        item = yaml.load("".join(line[shift:].rstrip("\r\n") + "\n" for line in snippet))
        text = _dump(yaml, _merge(item, [value], double))
    else:
        text = _dump(yaml, [_quoted(value, double)])
        if index < len(spans):  # the comment just above an entry stays with it
            start = spans[index][0]
            while start > 0 and _comment_at(lines[start - 1], dash, above=True):
                start -= 1
        else:  # a comment indented into the last entry stays with it
            start = spans[-1][1] + 1
            while start < len(lines) and _comment_at(lines[start], dash, above=False):
                start += 1
        stop = start
    block = [" " * shift + line if line.strip() else line for line in text.splitlines()]
    if text.count("\n") != len(block) or loads_yaml_strict(text) != [value]:
        return None  # the text would not read back as the entry, line for line
    newline = "\r\n" if lines[spans[0][0]].endswith("\r\n") else "\n"
    if start > 0 and not lines[start - 1].endswith(("\n", "\r")):
        lines[start - 1] += newline  # the file did not end with a newline
    lines[start:stop] = [line + newline for line in block]
    data = ("\ufeff" * parsed.data.startswith(b"\xef\xbb\xbf") + "".join(lines)).encode()
    document = _with_entry(parsed.document, entry_type, replace, value, index)
    if len(data) < FULL_CHECK_BYTES and loads_yaml_strict(data) != document:
        raise _differs("spliced file", entry_type.source)
    grown = len(block) - (stop - start)
    moved = [(a + grown, b + grown) if a >= stop else (a, b) for a, b in spans]
    moved[index : index + replace] = [(start, start + len(block) - 1)]
    return ParsedFile(data, document, tuple(moved))


def _comment_at(line: str, dash: int, *, above: bool) -> bool:
    """Whether `line` is a comment of the entry below (`above`: at most at the dashes' column)
    or of the entry above (indented past the dashes)."""
    stripped = line.lstrip(" ")
    indent = len(line) - len(stripped)
    return stripped.startswith("#") and (indent <= dash if above else indent > dash)


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
    replace: bool,
    index: int,
    value: Any,
    double: bool,
) -> ParsedFile:
    """The whole file round-trip with the list created where missing and the entry put at
    `index`: comments kept, layout possibly not."""
    parts = pointer_parts(entry_type.container)

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

    text = _rewrite(parsed, edit)
    expected = loads_yaml_strict(text)
    wanted = parsed.document if parsed is not None else None
    with contextlib.suppress(KeyError):  # a file that had no list: only the entry is compared
        had_list = isinstance(resolve(wanted, entry_type.container), list)
        if had_list and expected != _with_entry(wanted, entry_type, replace, value, index):
            raise _differs("rewritten file")
    if resolve(expected, entry_type.container)[index] != value:
        raise _differs("written entry")
    return ParsedFile(_as_file(text, parsed.data if parsed is not None else b""), expected)
