"""The new text of a registry file with one entry inserted or replaced.

Every other byte of the file stays as it was: the entry's text is spliced in at line (YAML) or
character (JSON) boundaries found by the strict parse. A replaced YAML entry is merged into its
old text round-trip (`ruamel.yaml`), so its own comments stay too. Where no splice is possible (a
flow-style or empty YAML list) the whole file goes round-trip through `ruamel.yaml`, which keeps
comments but may re-indent. Each result is parsed again and compared with what was meant before
it is returned: a splice that would read back differently is never written.
"""

from __future__ import annotations

import io
import re
from contextvars import ContextVar
from typing import Any

from registry_pipeline.core._yaml import loads_yaml_strict
from registry_pipeline.core.write_path._splice_json import json_container, json_dump, json_index
from registry_pipeline.core.write_path.content import Entry, ParsedFile, resolve
from registry_pipeline.core.write_path.findings import SpliceError
from registry_pipeline.core.write_path.types import EntryType

YAML_11_LOOKALIKE = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|~|null|Null|NULL|true|True|TRUE"
    r"|false|False|FALSE|[-+]?[0-9_]+(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|[-+]?\.?[0-9][0-9_.eE+-]*"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|0b[01_]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|\.(?:inf|Inf|INF|nan|NaN|NAN))$"
)
"""Strings a YAML 1.1 reader would take for something else: written quoted."""
UNSAFE_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\n\r\t]")
"""Characters written escaped in a double-quoted scalar (line breaks YAML 1.1 readers fold,
controls), so the file's lines stay the parser's lines."""


FULL_CHECK_BYTES = 64 * 1024
"""Spliced files smaller than this are parsed whole again before they are written; larger ones
have the entry's own text parsed again, and rely on the splice points the strict parse found
(`content._item_spans` refuses every layout it cannot splice exactly)."""


def new_text(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, key: str, value: Any
) -> ParsedFile:
    """The entry's file once the entry `key` holds `value` (inserted or replaced): its bytes,
    its document and, for a spliced YAML list, the moved line spans (None when the file was
    written round-trip)."""
    _DOUBLE_QUOTES.set(_quote_style(parsed.data if parsed is not None else None))
    if entry_type.layout == "files":
        if entry_type.is_yaml:
            return ParsedFile(_yaml_file(parsed, value), value)
        text = json_dump(value, "") + "\n"
        return ParsedFile(_as_file(text, parsed.data if parsed is not None else b""), value)
    if entry_type.is_yaml:
        return _yaml_list(entry_type, parsed, old, key, value)
    data, document = json_container(entry_type, parsed, old, key, value)
    return ParsedFile(data, document)


# --- YAML -----------------------------------------------------------------------------------


def _yaml(offset: int = 2) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


_DOUBLE_QUOTES: ContextVar[bool] = ContextVar("double_quotes", default=False)
"""Whether the file being written quotes with `"` rather than `'` (new strings follow it)."""


def _quoted(value: Any) -> Any:
    """`value` with strings a YAML 1.1 reader would misread marked to be written quoted, in
    the quote style of the file."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    if isinstance(value, dict):
        return {_quoted(k): _quoted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quoted(v) for v in value]
    if isinstance(value, str) and UNSAFE_RAW.search(value):
        return DoubleQuotedScalarString(value)  # escaped: \N, \L, \P, \x..
    if isinstance(value, str) and (YAML_11_LOOKALIKE.match(value) or not value):
        style = DoubleQuotedScalarString if _DOUBLE_QUOTES.get() else SingleQuotedScalarString
        return style(value)
    return value


def _quote_style(data: bytes | None) -> bool:
    """True when the file's quoted scalars mostly use `"`."""
    if not data:
        return False
    return data.count(b': "') + data.count(b'- "') > data.count(b": '") + data.count(b"- '")


def _dump(yaml: Any, value: Any) -> str:
    stream = io.StringIO()
    yaml.dump(value, stream)
    return stream.getvalue()


def _merge(old: Any, new: Any) -> Any:
    """`new`, reusing `old`'s round-trip nodes where they are equal (their comments and
    quoting stay)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(old, CommentedMap) and isinstance(new, dict):
        for gone in [k for k in old if k not in new]:
            del old[gone]
        for k, v in new.items():
            if k in old:
                old[k] = _merge(old[k], v)
            else:
                old[_quoted(k)] = _quoted(v)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        del old[len(new) :]
        for i, v in enumerate(new):
            if i < len(old):
                old[i] = _merge(old[i], v)
            else:
                old.append(_quoted(v))
        return old
    same_kind = type(old) is type(new) or (isinstance(old, str) and isinstance(new, str))
    if same_kind and old == new:
        return old
    return _quoted(new)


def _yaml_file(parsed: ParsedFile | None, value: Any) -> bytes:
    """A one-entry file: written fresh, or merged round-trip into its old text (its line ends
    and byte-order mark kept)."""
    yaml = _yaml()
    if parsed is None:
        text = _dump(yaml, _quoted(value))
    else:
        old = parsed.data.decode("utf-8-sig").replace("\r\n", "\n")
        text = _dump(yaml, _merge(yaml.load(old), value))
    if loads_yaml_strict(text) != value:
        raise SpliceError("the written entry would read back differently")
    return _as_file(text, parsed.data if parsed is not None else b"")


def _as_file(text: str, original: bytes) -> bytes:
    """`text` (LF line ends) with the original file's line ends and byte-order mark."""
    if b"\r\n" in original:
        text = text.replace("\n", "\r\n")
    bom = "\ufeff" if original.startswith(b"\xef\xbb\xbf") else ""
    return (bom + text).encode()


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8-sig").splitlines(keepends=True)


def _yaml_list(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, key: str, value: Any
) -> ParsedFile:
    if parsed is None or parsed.document is None:
        return _yaml_roundtrip(entry_type, parsed, old, value, 0)
    spans = parsed.spans
    if spans:
        spliced = _splice_yaml(entry_type, parsed, spans, old, key, value)
        if spliced is not None:
            return spliced
    return _yaml_roundtrip(entry_type, parsed, old, value, _insert_at(entry_type, parsed, key))


def _insert_at(entry_type: EntryType, parsed: ParsedFile, key: str) -> int:
    """Where a new entry goes in the parsed file's list (0 when it has none yet)."""
    try:
        items = resolve(parsed.document, entry_type.container)
    except KeyError:
        return 0
    return json_index(entry_type, items, key) if isinstance(items, list) else 0


def _splice_yaml(
    entry_type: EntryType,
    parsed: ParsedFile,
    spans: tuple[tuple[int, int], ...],
    old: Entry | None,
    key: str,
    value: Any,
) -> ParsedFile | None:
    lines = _lines(parsed.data)
    index = _insert_at(entry_type, parsed, key)
    dash = lines[spans[0][0]].index("-")
    offset = _offset(lines, spans[0][0], dash)
    yaml = _yaml(offset)
    shift = dash - offset
    if old is not None and old.index is not None:
        first, last = spans[old.index]
        snippet = lines[first : last + 1]
        if any(line.strip() and len(line) - len(line.lstrip(" ")) < shift for line in snippet):
            return None  # a line left of the entry (a comment): round-trip the whole file
        item = yaml.load("".join(line[shift:].rstrip("\r\n") + "\n" for line in snippet))
        text = _dump(yaml, _merge(item, [value]))
        start, stop = first, last + 1
    else:
        text = _dump(yaml, [_quoted(value)])
        if index < len(spans):
            start = spans[index][0]
            while start > 0 and _comment_at(lines[start - 1], dash, above=True):
                start -= 1  # the comment just above an entry stays with it
        else:
            start = spans[-1][1] + 1
            while start < len(lines) and _comment_at(lines[start], dash, above=False):
                start += 1  # a comment indented into the last entry stays with it
        stop = start
    newline = "\r\n" if lines[spans[0][0]].endswith("\r\n") else "\n"
    written = text.split("\n")
    if written and written[-1] == "":
        written.pop()
    block = [" " * shift + line if line.strip() else line for line in written]
    if len(block) != len(text.splitlines()) or loads_yaml_strict(text) != [value]:
        return None  # the text would not read back as the entry, line for line
    if start > 0 and not lines[start - 1].endswith(("\n", "\r")):
        lines[start - 1] += newline  # the file did not end with a newline
    lines[start:stop] = [line + newline for line in block]
    bom = "\ufeff" if parsed.data.startswith(b"\xef\xbb\xbf") else ""
    data = (bom + "".join(lines)).encode()
    document = _with_entry(parsed.document, entry_type, old, value, index)
    if len(data) < FULL_CHECK_BYTES and loads_yaml_strict(data) != document:
        raise SpliceError("the spliced file would read back differently", path=entry_type.source)
    return ParsedFile(data, document, _moved(spans, old, start, stop, len(block), index))


def _with_entry(
    document: Any, entry_type: EntryType, old: Entry | None, value: Any, index: int
) -> Any:
    """`document` with the entry replaced at its index or inserted at `index` (in place: the old
    parse is consumed by the write)."""
    items = resolve(document, entry_type.container)
    if old is not None and old.index is not None:
        items[old.index] = value
    else:
        items.insert(index, value)
    return document


def _moved(
    spans: tuple[tuple[int, int], ...],
    old: Entry | None,
    start: int,
    stop: int,
    count: int,
    index: int,
) -> tuple[tuple[int, int], ...]:
    """The items' line spans once lines [start, stop) became `count` new lines holding the
    entry (at `old.index` when replaced, else at `index`)."""
    shift = count - (stop - start)
    moved = [(a + shift, b + shift) if a >= stop else (a, b) for a, b in spans]
    own = (start, start + count - 1)
    if old is not None and old.index is not None:
        moved[old.index] = own
    else:
        moved.insert(index, own)
    return tuple(moved)


def _comment_at(line: str, dash: int, *, above: bool) -> bool:
    """Whether `line` is a comment of the entry below (`above`: at most at the dashes' column)
    or of the entry above (indented past the dashes)."""
    stripped = line.lstrip(" ")
    if not stripped.startswith("#"):
        return False
    indent = len(line) - len(stripped)
    return indent <= dash if above else indent > dash


def _offset(lines: list[str], dash_line: int, dash: int) -> int:
    """How far the list's dashes sit right of their parent key (0 or 2, usually)."""
    for line in reversed(lines[:dash_line]):
        stripped = line.lstrip(" ")
        if stripped.strip() and not stripped.startswith("#"):
            return max(0, dash - (len(line) - len(stripped)))
    return 0


def _yaml_roundtrip(
    entry_type: EntryType, parsed: ParsedFile | None, old: Entry | None, value: Any, index: int
) -> ParsedFile:
    """The whole file round-trip: the list created where missing, the entry inserted or
    merged; comments kept, layout possibly not."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = _yaml()
    original = parsed.data.decode("utf-8-sig").replace("\r\n", "\n") if parsed else ""
    document = yaml.load(original) if parsed is not None else None
    wanted = None if parsed is None or parsed.document is None else parsed.document
    parts = entry_type.container.split("/")[1:] if entry_type.container else []
    if document is None:
        document = CommentedMap() if parts else CommentedSeq()
    holder: Any = document
    for part in parts[:-1]:
        holder = holder.setdefault(part, CommentedMap())
    if parts:
        if not isinstance(holder.get(parts[-1]), list):
            holder[parts[-1]] = CommentedSeq()
        items = holder[parts[-1]]
    else:
        items = document
    if old is not None and old.index is not None:
        items[old.index] = _merge(items[old.index], value)
    else:
        items.insert(index, _quoted(value))
    text = _dump(yaml, document)
    if wanted is None and original.strip():  # comments only: they stay, the list follows them
        text = original + ("" if original.endswith("\n") else "\n") + text
    expected = loads_yaml_strict(text)
    if wanted is not None and _holds_list(wanted, entry_type.container):
        wanted = _with_entry(wanted, entry_type, old, value, index)
        if expected != wanted:
            raise SpliceError("the rewritten file would read back differently")
    position = old.index if old is not None and old.index is not None else index
    if resolve(expected, entry_type.container)[position] != value:
        raise SpliceError("the written entry would read back differently")
    return ParsedFile(_as_file(text, parsed.data if parsed is not None else b""), expected)


def _holds_list(document: Any, container: str) -> bool:
    try:
        return isinstance(resolve(document, container), list)
    except KeyError:
        return False
