"""Strict, safe YAML for registry files (YAML 1.2 core scalars); refusals are coded."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import MappingEndEvent, SequenceEndEvent, StreamEndEvent
from ruamel.yaml.loader import BaseLoader
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.tag import Tag

from registry_pipeline.core.errors import render
from registry_pipeline.core.json_strict import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    JSONDecodeProblem,
    gc_paused,
)

_Parser: Any = BaseLoader
"""The event source: ruamel.yaml.clib's C parser when installed, else ruamel's pure-Python one."""
try:
    # the C parser only: ruamel.yaml.clib's C composer crashes the process on deep nesting
    from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]

    _Parser = CParser
except ImportError:  # ruamel.yaml.clib has no wheel for this platform
    pass

MAX_BYTES = 64 * 1024 * 1024
"""Largest file accepted, in bytes (refused before parsing)."""

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MAP, SEQ, MERGE = (
    _CORE + n for n in ["str", "int", "float", "bool", "null", "map", "seq", "merge"]
)
_TAGS = {tag: Tag(suffix=tag) for tag in (STR, INT, FLOAT, BOOL, NULL, MAP, SEQ, MERGE)}
"""One ruamel.yaml Tag per tag, shared by the nodes (a node given a string makes its own)."""
_KINDS = {INT: "an integer", FLOAT: "a number", BOOL: "a boolean", NULL: "null"}
_EVENTS = {"ScalarEvent": "a scalar", "SequenceStartEvent": "a sequence"}
_EVENTS["MappingStartEvent"] = "a mapping"
_FITS = {MAP: "a mapping", SEQ: "a sequence", **dict.fromkeys([STR, *_KINDS], "a scalar")}
"""The tags constructed, each with the one kind of node it fits."""
_WORDS = dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), BOOL)
_WORDS.update(dict.fromkeys(("", "~", "null", "Null", "NULL"), NULL))
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NON_FINITE = re.compile(r"[-+]?\.(?:inf|nan)", re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class YAMLDocument:
    """A parsed file: `value` and the root ruamel.yaml `node` (None: no document; 0-based marks)."""

    value: Any
    node: Any


def plain_tag(text: str) -> str:
    """The tag of the plain scalar `text` by the YAML 1.2 core schema (`<<`: a merge key)."""
    if text in _WORDS:
        return _WORDS[text]
    if _INT.fullmatch(text):
        return INT
    if _FLOAT.fullmatch(text) or _NON_FINITE.fullmatch(text):
        return FLOAT
    return MERGE if text == "<<" else STR


def _problem(code: str, mark: Any | None, **fields: Any) -> JSONDecodeProblem:
    """The refusal `code` as `MESSAGES` words it, after the line `mark` is on (when known)."""
    if mark is None:
        return JSONDecodeProblem(render(code, **fields), code)
    line, column = mark.line + 1, mark.column + 1
    said = f"line {line}: {render(code, **fields)}"
    return JSONDecodeProblem(said, code, line=line, column=column)


def _refused_tag(tag: str, kind: str, mark: Any, text: str = "") -> JSONDecodeProblem:
    shown = "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
    what = repr(text[:40]) if kind == "a scalar" else kind
    return _problem("YAML_TAG", mark, what=what, tag=shown)


def _core(tag: str, text: str, mark: Any) -> Any:
    """The integer, number, boolean or null of a scalar that fits its tag, or a refusal."""
    if tag == INT and _INT.fullmatch(text):
        digits = len(text.lstrip("-+")) - 2 * (text[:2] in ("0o", "0x"))
        if digits > MAX_INT_DIGITS:
            raise _problem("YAML_NUMBER_TOO_LARGE", mark, digits=digits, most=MAX_INT_DIGITS)
        return int(text, 0) if text[:2] in ("0o", "0x") else int(text)
    if tag in (FLOAT, INT) and _NON_FINITE.fullmatch(text):
        raise _problem("YAML_NON_FINITE", mark, text=text)
    if tag == FLOAT and _FLOAT.fullmatch(text):
        if math.isinf(value := float(text)):
            raise _problem("YAML_NON_FINITE", mark, text=text[:40])
        return value
    if tag in (BOOL, NULL) and _WORDS.get(text) == tag:
        return None if tag == NULL else text[0] in "tT"
    raise _refused_tag(tag, "a scalar", mark, text)


class _Reader:
    """The root node and value of one document from a parser's events, refusing where met."""

    def __init__(self, events: Any, limit: int) -> None:
        self.events, self.limit, self.depth = events, limit, 0

    def document(self) -> YAMLDocument:
        events = self.events
        events.get_event()  # the stream's start
        if events.check_event(StreamEndEvent):
            return YAMLDocument(None, None)
        events.get_event()  # the document's start
        node, value = self.read(None)
        events.get_event()  # the document's end
        if not events.check_event(StreamEndEvent):
            raise _problem("YAML_MULTIPLE_DOCUMENTS", events.peek_event().start_mark)
        return YAMLDocument(value, node)

    def read(self, keys: dict[str, int] | None) -> tuple[Any, Any]:
        """The next node and its value; with `keys` (its mapping's), a new string key."""
        event = self.events.get_event()
        if (kind := _EVENTS.get(type(event).__name__)) is None:
            raise _problem("YAML_ALIAS", event.start_mark, anchor=event.anchor)
        if kind != "a scalar" and self.depth >= self.limit:
            raise _problem("YAML_TOO_DEEP", event.start_mark, limit=self.limit)
        tag = None if event.ctag is None else str(event.ctag)
        if tag not in (None, "!") and _FITS.get(tag) != kind:
            raise _refused_tag(tag, kind, event.start_mark)
        if kind == "a scalar":
            return self.scalar(event, tag, keys)
        if keys is not None:
            raise _problem("YAML_KEY_NOT_STRING", event.start_mark, kind=kind)
        self.depth += 1
        children: list[Any] = []
        if kind == "a mapping":
            value: Any = {}
            seen: dict[str, int] = {}
            while not self.events.check_event(MappingEndEvent):
                key_node, key = self.read(seen)
                child, value[key] = self.read(None)
                children.append((key_node, child))
        else:
            value = []
            while not self.events.check_event(SequenceEndEvent):
                child, item = self.read(None)
                children.append(child)
                value.append(item)
        self.depth -= 1
        end = self.events.get_event().end_mark
        shape, tag = (MappingNode, MAP) if kind == "a mapping" else (SequenceNode, SEQ)
        node = shape(_TAGS[tag], children, event.start_mark, end, flow_style=event.flow_style)
        return node, value

    def scalar(self, event: Any, tag: str | None, keys: dict[str, int] | None) -> tuple[Any, Any]:
        """A scalar's node and value: resolved by the core schema unless tagged."""
        text, mark = event.value, event.start_mark
        if tag in (None, "!"):
            tag = plain_tag(text) if tag is None and event.implicit[0] else STR
        node = ScalarNode(_TAGS[tag], text, mark, event.end_mark, style=event.style)
        if event.style == '"' and tag in (STR, MERGE) and _SURROGATE.search(text):
            why = "an escaped surrogate (not a Unicode character)"  # the pure parser lets them by
            raise _problem("YAML_SYNTAX", mark, reason=why)
        if keys is None:
            return node, text if tag in (STR, MERGE) else _core(tag, text, mark)
        if tag not in (STR, MERGE):
            raise _problem("YAML_KEY_NOT_STRING", mark, kind=f"{_KINDS[tag]} {text!r}")
        if text in keys:
            raise _problem("YAML_DUPLICATE_KEY", mark, key=text, first=keys[text])
        if tag == MERGE:
            raise _problem("YAML_MERGE_KEY", mark)
        keys[text] = mark.line + 1
        return node, text


def _encoded(data: bytes | str, max_bytes: int) -> bytes:
    """The input as UTF-8 bytes, checked: not too large (a character is a byte or more), UTF-8."""
    raw = data
    try:
        if len(data) <= max_bytes:
            raw = data.encode() if isinstance(data, str) else data
            raw.decode()
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:
        if isinstance(data, str):
            line, text = data.count("\n", 0, exc.start) + 1, "a lone surrogate"
        elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            line, text = 1, "a UTF-16 byte-order mark"
        else:
            line, text = data.count(b"\n", 0, exc.start) + 1, f"byte {exc.start}"
        said = f"line {line}: {render('YAML_ENCODING', reason=text)}"
        raise JSONDecodeProblem(said, "YAML_ENCODING", line=line) from None
    if isinstance(raw, str) or len(raw) > max_bytes:
        unit = "characters" if isinstance(raw, str) else "bytes"
        size = f"more than {max_bytes} bytes ({len(raw)} {unit})"
        raise _problem("YAML_TOO_LARGE", None, reason=size)
    return raw


def _syntax(exc: Any, raw: bytes) -> JSONDecodeProblem:
    """A ruamel.yaml parser error as YAML_SYNTAX, located where the parser says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        line, column = mark.line + 1, mark.column + 1
        said = render("YAML_SYNTAX", reason=f"{exc.problem or exc.context}{context}")
        where = f"line {line} column {column}"  # a parser's position: to the column
        return JSONDecodeProblem(f"{where}: {said}", "YAML_SYNTAX", line=line, column=column)
    if isinstance(exc, ReaderError):  # libyaml counts bytes, the pure reader characters
        text = raw.decode("utf-8" if _Parser is BaseLoader else "latin-1")
        line = text.count("\n", 0, exc.position) + 1
        said = render("YAML_SYNTAX", reason=exc.reason)
        return JSONDecodeProblem(f"line {line}: {said}", "YAML_SYNTAX", line=line)
    return _problem("YAML_SYNTAX", None, reason=exc)


def parse_yaml(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> YAMLDocument:
    """Parse one strict YAML document (see the module docstring) into its value and root node."""
    raw = _encoded(data, max_bytes)
    try:
        with gc_paused():
            return _Reader(_Parser(raw), max_depth).document()
    except YAMLError as exc:
        raise _syntax(exc, raw) from None
    except RecursionError:  # a guard: the reader recurses a frame a level, to MAX_DEPTH
        raise _problem("YAML_TOO_DEEP", None, limit=max_depth) from None
    except MemoryError:
        raise _problem("YAML_TOO_LARGE", None, reason="out of memory while parsing") from None


def loads_yaml_strict(data: bytes | str) -> Any:
    """The JSON-compatible value of one strict YAML document (None for an empty one)."""
    return parse_yaml(data).value
