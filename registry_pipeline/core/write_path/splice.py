"""The new text of a YAML registry file with one entry inserted or replaced (JSON: `json_splice`).

A block-style list is spliced at its items' line spans, the entry's text written by ruamel.yaml's
round-trip dumper (a replaced entry merged into its old text, so its comments stay); any other
file goes round-trip whole, which keeps comments but may re-indent. Each result is parsed again:
a file that would read back differently is never written."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from registry_pipeline.core.json_strict import pointer_tokens, resolve_pointer
from registry_pipeline.core.write_path.content import (
    Entry,
    EntryType,
    ParsedFile,
)
from registry_pipeline.core.write_path.json_splice import as_file, json_index, json_text, mismatch
from registry_pipeline.core.yaml_io import RESOLVER, STR, loads_yaml_strict

_READERS = [VersionedResolver((1, 1)), VersionedResolver((1, 2)), RESOLVER]
"""ruamel.yaml's YAML 1.1 and 1.2 resolvers and ours: a string one would read as something else
(`yes`, `12:30`, `2024-01-01`, `1_000`, `''`, `.5e3`, `<<`) is written quoted."""
UNSAFE_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\n\r\t]")
"""Characters written escaped in a double-quoted scalar (line breaks YAML 1.1 readers fold,
controls), so the file's lines stay the parser's lines."""
FULL_CHECK_BYTES = 64 * 1024
"""Spliced files smaller than this are parsed whole again; larger ones have the entry's own text
parsed again and rely on the spans the strict parse found (`content._item_spans`)."""


def new_text(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, key: str, value: Any
) -> ParsedFile:
    """The entry's file once the entry `key` holds `value` (inserted or replaced)."""
    if entry_type.suffix == ".json":
        return json_text(entry_type, parsed, old, key, value)
    data = parsed.data if parsed is not None else b""
    # new quoted strings follow the file's quotes: double when most of its quoted values are
    double = data.count(b': "') + data.count(b'- "') > data.count(b": '") + data.count(b"- '")
    if entry_type.layout == "files":
        text = _rewrite(parsed, lambda yaml, document: _merge(document, value, double))
        if loads_yaml_strict(text) != value:
            raise mismatch("written entry")
        return ParsedFile(as_file(text, data), value)
    at = old.index if old is not None else None  # the replaced entry's place
    index, replace = (_insert_at(entry_type, parsed, key), False) if at is None else (at, True)
    spliced = None
    if parsed is not None and parsed.spans:
        spliced = _splice(entry_type, parsed, replace, index, value, double)
    return spliced or _roundtrip(entry_type, parsed, replace, index, value, double)


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
    """`value` with the strings a YAML 1.1 or 1.2 reader or ours would misread marked to be
    quoted (double-quoted, escaped, with a character not to be written raw)."""
    if isinstance(value, dict):
        return {_quoted(k, double): _quoted(v, double) for k, v in value.items()}
    if isinstance(value, list):
        return [_quoted(v, double) for v in value]
    if not isinstance(value, str):
        return value
    unsafe = UNSAFE_RAW.search(value)  # escaped: \N, \L, \P, \x..
    if not unsafe and all(r.resolve(ScalarNode, value, (True, False)) == STR for r in _READERS):
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
        items = resolve_pointer(
            parsed.document if parsed is not None else None, entry_type.container
        )
    except KeyError:
        return 0
    return json_index(entry_type, items, key) if isinstance(items, list) else 0


def _with_entry(document: Any, entry_type: EntryType, replace: bool, value: Any, index: int) -> Any:
    """`document` with the entry put at `index` (in place: the old parse is consumed)."""
    resolve_pointer(document, entry_type.container)[index : index + replace] = [value]
    return document


def _splice(
    entry_type: EntryType, parsed: ParsedFile, replace: bool, index: int, value: Any, double: bool
) -> ParsedFile | None:
    """The file with the entry's lines spliced in at `index`, or None where only a round-trip can
    write it."""
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
    else:  # the comment just above an entry stays with it, one indented into the last entry too
        text = _dump(yaml, [_quoted(value, double)])
        if index < len(spans):
            start = spans[index][0]
            while start > 0 and re.match(rf" {{0,{dash}}}#", lines[start - 1]):
                start -= 1
        else:
            start = spans[-1][1] + 1
            while start < len(lines) and re.match(rf" {{{dash + 1},}}#", lines[start]):
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
        raise mismatch("spliced file", entry_type.source)
    grown = len(block) - (stop - start)
    moved = [(a + grown, b + grown) if a >= stop else (a, b) for a, b in spans]
    moved[index : index + replace] = [(start, start + len(block) - 1)]
    return ParsedFile(data, document, tuple(moved))


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

    text = _rewrite(parsed, edit)
    expected = loads_yaml_strict(text)
    wanted = parsed.document if parsed is not None else None
    with contextlib.suppress(KeyError):  # a file that had no list: only the entry is compared
        had_list = isinstance(resolve_pointer(wanted, entry_type.container), list)
        if had_list and expected != _with_entry(wanted, entry_type, replace, value, index):
            raise mismatch("rewritten file")
    if resolve_pointer(expected, entry_type.container)[index] != value:
        raise mismatch("written entry")
    return ParsedFile(as_file(text, parsed.data if parsed is not None else b""), expected)
