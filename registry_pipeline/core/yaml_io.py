"""Strict, safe YAML for hand-edited registry files: ruamel.yaml's composer, constructor and
resolver over its parser's events (ruamel.yaml.clib's C parser when installed), made strict.

Scalars resolve by the YAML 1.2 core schema (`yes`, `on`, `1_000` and dates stay strings); only
the core tags construct anything. Aliases, merge keys, duplicate or non-string keys, other tags,
a second document, non-finite numbers, integers longer than `MAX_INT_DIGITS`, nesting deeper than
`MAX_DEPTH` and text that is not UTF-8 are each refused, in document order, as a
`JSONDecodeProblem` with its own code and line. ruamel.yaml.clib's C composer is not used: it
recurses in C until the process crashes on deep nesting.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import BaseConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import StreamEndEvent
from ruamel.yaml.loader import BaseLoader
from ruamel.yaml.nodes import MappingNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import BaseResolver

from registry_pipeline.core.json_strict import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    JSONDecodeProblem,
    gc_paused,
)

_Parser: Any = BaseLoader
"""The event source: ruamel.yaml.clib's C parser when installed, else ruamel's pure-Python one."""
try:
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
_KINDS = {INT: "an integer", FLOAT: "a number", BOOL: "a boolean", NULL: "null"}
_EVENTS = {"ScalarEvent": "a scalar", "SequenceStartEvent": "a sequence"}
_EVENTS["MappingStartEvent"] = "a mapping"
_FITS = {MAP: "a mapping", SEQ: "a sequence", **dict.fromkeys([STR, MERGE, *_KINDS], "a scalar")}
"""The tags constructed, each with the one kind of node it fits (a plain `<<` value: a string)."""
_WORDS = dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), BOOL)
_WORDS.update(dict.fromkeys(("", "~", "null", "Null", "NULL"), NULL))
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NON_FINITE = re.compile(r"[-+]?\.(?:inf|nan)", re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class YAMLDocument:
    """A parsed file: `value` (JSON-compatible) and `node`, the root ruamel.yaml node (None for
    a stream with no document) whose `start_mark`/`end_mark` locate every item (0-based lines)."""

    value: Any
    node: Any


def _problem(code: str, mark: Any, text: str) -> JSONDecodeProblem:
    line, column = mark.line + 1, mark.column + 1
    return JSONDecodeProblem(f"line {line}: {text}", code, line=line, column=column)


def _refused_tag(tag: str, kind: str, mark: Any, text: str = "") -> JSONDecodeProblem:
    shown = "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
    if tag in _KINDS and kind == "a scalar":
        return _problem("YAML_TAG", mark, f"{text[:40]!r} does not fit the tag {shown}")
    if tag in _FITS and tag != MERGE:  # !!merge written out: never allowed
        return _problem("YAML_TAG", mark, f"the tag {shown} cannot be put on {kind}")
    only = "only !!str, !!int, !!float, !!bool, !!null, !!map and !!seq"
    return _problem("YAML_TAG", mark, f"the tag {shown} is not allowed ({only})")


class _Strict(Composer, BaseConstructor, BaseResolver):
    """ruamel.yaml's composer, constructor and resolver over `events` (a parser), refusing what a
    registry file must not hold as it composes, so the first problem in the text is reported."""

    max_depth = None  # ruamel's limit counts scalars too: `limit` counts collections
    parser: Any = None  # the event source: an attribute, not ruamel's property on each event
    resolver: Any = None

    def __init__(self, events: Any, limit: int) -> None:
        Composer.__init__(self, loader=self)
        BaseConstructor.__init__(self, loader=self)
        BaseResolver.__init__(self, loadumper=self)
        self.parser, self.resolver, self.limit = events, self, limit
        self.keys: list[dict[str, int]] = []
        """The keys of each mapping being composed, with their lines."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        """ruamel's `compose_node`, refusing an alias, a tag that does not fit, a key that is not
        a new string, nesting past the limit, a scalar of a bad value."""
        event = self.parser.peek_event()
        if (kind := _EVENTS.get(type(event).__name__)) is None:
            why = "anchors and aliases are not allowed in a registry file"
            raise _problem("YAML_ALIAS", event.start_mark, f"the alias *{event.anchor}: {why}")
        if kind != "a scalar" and self.depth >= self.limit:
            why = f"nested more than {self.limit} levels deep"
            raise _problem("YAML_TOO_DEEP", event.start_mark, why)
        tag = None if event.ctag is None else str(event.ctag)
        if tag == "!" and kind == "a scalar":
            event.ctag = STR  # the non-specific tag: a string (libyaml calls it plain)
        elif tag == MERGE or (tag not in (None, "!") and _FITS.get(tag) != kind):
            raise _refused_tag(tag, kind, event.start_mark)
        is_key = index is None and type(parent) is MappingNode
        if kind == "a scalar":
            node = self.compose_scalar_node(event.anchor)
            if is_key:
                self.check_key(node)
            elif node.ctag is not self.DEFAULT_SCALAR_TAG or node.style == '"':
                self.construct_object(node)  # a refusal here, in document order; kept if not
            return node
        if is_key:
            why = f"a mapping key must be a string, not {kind}"
            raise _problem("YAML_KEY_NOT_STRING", event.start_mark, why)
        self.depth += 1
        self.keys.append({})
        node = (self.compose_mapping_node if kind == "a mapping" else self.compose_sequence_node)(
            event.anchor
        )
        self.keys.pop()
        self.depth -= 1
        return node

    def check_key(self, node: Any) -> None:
        """Refuse `node` as the next key of its mapping: not a string, a duplicate, a merge key."""
        tag = STR if node.ctag is self.DEFAULT_SCALAR_TAG else node.tag
        mark, keys = node.start_mark, self.keys[-1]
        if tag not in (STR, MERGE):
            why = f"{_KINDS[tag]} {node.value!r} (quote it to make it a string)"
            raise _problem(
                "YAML_KEY_NOT_STRING", mark, f"a mapping key must be a string, not {why}"
            )
        if (key := self.construct_str(node)) in keys:
            why = f"duplicate key {key!r} (first at line {keys[key]})"
            raise _problem("YAML_DUPLICATE_KEY", mark, why)
        if tag == MERGE:
            why = "merge keys (<<) are not allowed in a registry file"
            raise _problem("YAML_MERGE_KEY", mark, why)
        keys[key] = mark.line + 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        if not self.parser.check_event(StreamEndEvent):
            why = "a second document (a registry file holds exactly one)"
            raise _problem("YAML_MULTIPLE_DOCUMENTS", self.parser.peek_event().start_mark, why)
        return node

    def construct_str(self, node: Any) -> str:
        if node.style == '"' and _SURROGATE.search(node.value):  # the pure parser lets them by
            why = "an escaped surrogate (not a Unicode character)"
            raise _problem("YAML_SYNTAX", node.start_mark, why)
        return str(node.value)

    def construct_core(self, node: Any) -> Any:
        """The integer, number, boolean or null of a scalar that fits its tag, or a refusal."""
        tag, text, mark = node.tag, node.value, node.start_mark
        if tag == INT and _INT.fullmatch(text):
            digits = len(text.lstrip("-+")) - 2 * (text[:2] in ("0o", "0x"))
            if digits > MAX_INT_DIGITS:
                why = f"an integer of {digits} digits (at most {MAX_INT_DIGITS})"
                raise _problem("YAML_NUMBER_TOO_LARGE", mark, why)
            return int(text, 0) if text[:2] in ("0o", "0x") else int(text)
        if tag in (FLOAT, INT) and _NON_FINITE.fullmatch(text):
            why = f"{text} is not allowed (numbers must be finite)"
            raise _problem("YAML_NON_FINITE", mark, why)
        if tag == FLOAT and _FLOAT.fullmatch(text):
            if math.isinf(value := float(text)):
                why = f"the number {text[:40]} is out of range (it would be infinity)"
                raise _problem("YAML_NON_FINITE", mark, why)
            return value
        if tag in (BOOL, NULL) and _WORDS.get(text) == tag:
            return None if tag == NULL else text[0] in "tT"
        raise _refused_tag(tag, "a scalar", mark, text)

    def construct_collection(self, node: Any) -> Any:
        """A list or a dict (keys already checked: strings), filled once yielded (nesting)."""
        data: Any = {} if node.tag == MAP else []
        yield data
        if node.tag == MAP:
            data.update((key.value, self.construct_object(value)) for key, value in node.value)
        else:
            data.extend(self.construct_object(child) for child in node.value)


_Strict.yaml_constructors = {STR: _Strict.construct_str, MERGE: _Strict.construct_str}
_Strict.yaml_constructors |= dict.fromkeys((MAP, SEQ), _Strict.construct_collection)
_Strict.yaml_constructors |= dict.fromkeys(_KINDS, _Strict.construct_core)
for _tag, _pattern, _first in [
    *((tag, re.escape(word), [word[:1]]) for word, tag in _WORDS.items()),
    (INT, _INT.pattern, "-+0123456789"),
    (FLOAT, f"{_FLOAT.pattern}|(?i:{_NON_FINITE.pattern})", "-+.0123456789"),
    (MERGE, "<<", "<"),
]:  # the YAML 1.2 core schema's implicit types, and a plain `<<` (a merge key, refused)
    _Strict.add_implicit_resolver_base(_tag, re.compile(f"(?:{_pattern})$"), list(_first))


RESOLVER: Any = _Strict(None, MAX_DEPTH)
"""This reader's resolver (a plain `.5e3`, `.INf` or `<<` is no string here): the splice quotes a
string it or ruamel's YAML 1.1 and 1.2 resolvers would not read back as that string."""


def _encoded(data: bytes | str, max_bytes: int) -> bytes:
    """The input as UTF-8 bytes, checked: not too large (a character is a byte or more), UTF-8."""
    raw = data
    try:
        if len(data) <= max_bytes:
            raw = data.encode() if isinstance(data, str) else data
            raw.decode()
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:
        if isinstance(data, str):
            line, text = data.count("\n", 0, exc.start) + 1, "a lone surrogate (not Unicode text)"
        elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            line, text = 1, "starts with a UTF-16 byte-order mark (only UTF-8 is accepted)"
        else:
            line, text = data.count(b"\n", 0, exc.start) + 1, f"not UTF-8 (byte {exc.start})"
        raise JSONDecodeProblem(f"line {line}: {text}", "YAML_ENCODING", line=line) from None
    if isinstance(raw, str) or len(raw) > max_bytes:
        unit = "characters" if isinstance(raw, str) else "bytes"
        raise JSONDecodeProblem(
            f"more than {max_bytes} bytes ({len(raw)} {unit})", "YAML_TOO_LARGE"
        )
    return raw


def _syntax(exc: Any, raw: bytes) -> JSONDecodeProblem:
    """A ruamel.yaml parser error as YAML_SYNTAX, located where the parser says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        why = f"line {line} column {column}: {exc.problem or exc.context}{context}"
        return JSONDecodeProblem(why, "YAML_SYNTAX", line=line, column=column)
    if isinstance(exc, ReaderError):  # libyaml counts bytes, the pure reader characters
        text = raw.decode("utf-8" if _Parser is BaseLoader else "latin-1")
        line = text.count("\n", 0, exc.position) + 1
        return JSONDecodeProblem(f"line {line}: {exc.reason}", "YAML_SYNTAX", line=line)
    return JSONDecodeProblem(str(exc), "YAML_SYNTAX")


def parse_yaml(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> YAMLDocument:
    """Parse one strict YAML document (see the module docstring) into its value and root node."""
    raw = _encoded(data, max_bytes)
    try:
        with gc_paused():
            loader = _Strict(_Parser(raw), max_depth)
            node = loader.get_single_node()
            return YAMLDocument(None if node is None else loader.construct_document(node), node)
    except YAMLError as exc:
        raise _syntax(exc, raw) from None
    except RecursionError:  # a guard: the composer recurses 2 frames a level, to MAX_DEPTH
        raise JSONDecodeProblem("nested too deeply", "YAML_TOO_DEEP") from None
    except MemoryError:
        raise JSONDecodeProblem("out of memory while parsing", "YAML_TOO_LARGE") from None


def loads_yaml_strict(data: bytes | str) -> Any:
    """The JSON-compatible value of one strict YAML document (None for an empty one)."""
    return parse_yaml(data).value
