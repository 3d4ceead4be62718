"""Strict, safe YAML reading for hand-edited registry files.

Scalars resolve by the YAML 1.2 core schema, not PyYAML's YAML 1.1 defaults: `yes`, `no`, `on`,
`off` and dates stay strings, only `true`/`false` are booleans, integers are decimal, `0o` octal or
`0x` hex. Nothing is constructed from a tag: only the core tags (str, int, float, bool, null, map,
seq) are accepted and nothing is ever imported or executed. Aliases, merge keys, duplicate keys,
keys that are not strings, more than one document, non-finite numbers, integers of more than
`MAX_INT_DIGITS` digits, nesting deeper than `MAX_DEPTH` and input that is not UTF-8 are each
refused as a `YAMLDecodeProblem` with its own `code` and the line where it happens.

The node tree is composed here from the parser's events (libyaml's C parser when PyYAML has it),
with an explicit stack rather than `get_single_node()`: the C composer recurses in C and crashes
the process on a few hundred kilobytes of `[`, and YAML's indentation makes a cheap depth check on
the text unsound. Composing from events also refuses an alias at its first event, so a "billion
laughs" document costs nothing, and builds the JSON value in the same pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml  # type: ignore[import-untyped]
from yaml.events import (  # type: ignore[import-untyped]
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode  # type: ignore[import-untyped]
from yaml.parser import Parser  # type: ignore[import-untyped]
from yaml.reader import Reader, ReaderError  # type: ignore[import-untyped]
from yaml.scanner import Scanner  # type: ignore[import-untyped]

from registry_pipeline.core._json import MAX_DEPTH, MAX_INT_DIGITS, JSONDecodeProblem, gc_paused

MAX_BYTES = 64 * 1024 * 1024
"""Largest file accepted, in bytes (refused before parsing)."""

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_CORE + name for name in ("str", "int", "float", "bool", "null"))
MAP, SEQ = _CORE + "map", _CORE + "seq"

_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NON_FINITE = re.compile(r"[-+]?\.(?:inf|nan)", re.IGNORECASE)
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_SURROGATE = re.compile("[\ud800-\udfff]")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_KINDS = {INT: "an integer", FLOAT: "a number", BOOL: "a boolean", NULL: "null"}


class YAMLDecodeProblem(JSONDecodeProblem):
    """The text is not a strict YAML registry file: `code` names the rule, `line` (1-based or
    None) and `column` (1-based or None) say where, and the message starts with `line N`."""

    def __init__(
        self,
        message: str,
        code: str = "YAML_INVALID",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message, code)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class YAMLDocument:
    """A parsed file: `value` (JSON-compatible) and `node`, the root `yaml.Node` (None for a
    stream with no document) whose `start_mark`/`end_mark` locate every item (0-based lines)."""

    value: Any
    node: Any


class _CoreResolver(yaml.resolver.BaseResolver):  # type: ignore[misc]
    """The YAML 1.2 core schema, in a resolver table of its own (PyYAML's stays untouched)."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}


for _tag, _pattern, _first in (
    (BOOL, r"(?:true|True|TRUE|false|False|FALSE)\Z", "tTfF"),
    (INT, rf"(?:{_INT.pattern})\Z", "-+0123456789"),
    (FLOAT, rf"(?:{_FLOAT.pattern}|[-+]?\.(?i:inf|nan))\Z", "-+.0123456789"),
    (NULL, r"(?:~|null|Null|NULL|)\Z", ["~", "n", "N", ""]),
):
    _CoreResolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_RESOLVERS = _CoreResolver.yaml_implicit_resolvers


class _PureLoader(Reader, Scanner, Parser, _CoreResolver):  # type: ignore[misc]
    """PyYAML's pure-Python parser with the core schema (used when libyaml is missing)."""

    def __init__(self, stream: bytes) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _CoreResolver.__init__(self)

    def get_event(self) -> Any:
        """The next event; an escaped surrogate is refused here as libyaml refuses it."""
        event = Parser.get_event(self)
        if type(event) is ScalarEvent and event.style == '"' and _SURROGATE.search(event.value):
            raise _problem(
                "YAML_SYNTAX", event.start_mark, "an escaped surrogate (not a Unicode character)"
            )
        return event


_Loader: Any = _PureLoader
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.cyaml.CParser, _CoreResolver):  # type: ignore[misc]
        """libyaml's C parser with the core schema."""

        def __init__(self, stream: bytes) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            _CoreResolver.__init__(self)

    _Loader = _CLoader


def _plain_tag(text: str) -> str:
    """The core-schema tag of an untagged plain scalar whose first character a resolver knows."""
    for tag, pattern in _RESOLVERS.get(text[:1], ()):
        if pattern.match(text):
            return tag
    return STR


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _problem(code: str, mark: Any, text: str) -> YAMLDecodeProblem:
    line, column = mark.line + 1, mark.column + 1
    return YAMLDecodeProblem(f"line {line}: {text}", code, line, column)


def _scalar(node: Any) -> Any:
    """The value of a scalar whose tag is not str (implicit or explicit), or a refusal."""
    tag, text = node.tag, node.value
    if tag == STR:
        return text
    if tag == INT and _INT.fullmatch(text):
        prefix = text[:2]
        base = 8 if prefix == "0o" else 16 if prefix == "0x" else 10
        digits = len(text) - 2 if base != 10 else len(text.lstrip("-+"))
        if digits > MAX_INT_DIGITS:
            raise _problem(
                "YAML_NUMBER_TOO_LARGE",
                node.start_mark,
                f"an integer of {digits} digits (at most {MAX_INT_DIGITS})",
            )
        return int(text, 10) if base == 10 else int(text[2:], base)
    if tag == FLOAT and _FLOAT.fullmatch(text):
        value = float(text)
        if math.isinf(value):
            raise _problem(
                "YAML_NON_FINITE",
                node.start_mark,
                f"the number {text[:40]} is out of range (it would be infinity)",
            )
        return value
    if tag in (FLOAT, INT) and _NON_FINITE.fullmatch(text):
        raise _problem(
            "YAML_NON_FINITE", node.start_mark, f"{text} is not allowed (numbers must be finite)"
        )
    if tag == BOOL and text in _BOOLS:
        return _BOOLS[text]
    if tag == NULL and text in _NULLS:
        return None
    if tag in _KINDS:
        raise _problem(
            "YAML_TAG", node.start_mark, f"{text[:40]!r} does not fit the tag {_show_tag(tag)}"
        )
    raise _refused_tag(tag, "a scalar", node.start_mark)


def _refused_tag(tag: str, kind: str, mark: Any) -> YAMLDecodeProblem:
    if tag in (MAP, SEQ, *_KINDS, STR):
        return _problem("YAML_TAG", mark, f"the tag {_show_tag(tag)} cannot be put on {kind}")
    return _problem(
        "YAML_TAG",
        mark,
        f"the tag {_show_tag(tag)} is not allowed (only !!str, !!int, !!float, !!bool, !!null,"
        " !!map and !!seq)",
    )


def _refused_key(node: Any) -> YAMLDecodeProblem:
    if isinstance(node, ScalarNode):
        if node.tag not in _KINDS:
            return _refused_tag(node.tag, "a scalar", node.start_mark)
        what = f"{_KINDS[node.tag]} {node.value!r}"
        hint = " (quote it to make it a string)"
    else:
        what, hint = ("a mapping" if isinstance(node, MappingNode) else "a sequence"), ""
    return _problem(
        "YAML_KEY_NOT_STRING", node.start_mark, f"a mapping key must be a string, not {what}{hint}"
    )


def _duplicate(pairs: list[tuple[Any, Any]], key_node: Any) -> YAMLDecodeProblem:
    first = next(k for k, _ in pairs if k.value == key_node.value)
    return _problem(
        "YAML_DUPLICATE_KEY",
        key_node.start_mark,
        f"duplicate key {key_node.value!r} (first at line {first.start_mark.line + 1})",
    )


def _compose(loader: Any, max_depth: int) -> tuple[Any, Any]:
    """(root node, value) from the loader's events: one pass, an explicit stack, no recursion."""
    get_event = loader.get_event
    get_event()  # StreamStartEvent
    if isinstance(get_event(), StreamEndEvent):  # otherwise a DocumentStartEvent
        return None, None
    stack: list[tuple[Any, Any, Any, bool]] = []
    root: tuple[Any, Any] = (None, None)
    # The open collection: its node (None at the document's level), the node's children (a list
    # of nodes, or of key and value node pairs), its value (a list or a dict), whether it is a
    # mapping, and the key node waiting for its value (None when a key comes next).
    node: Any = None
    children: Any = None
    container: Any = None
    is_map = False
    key_node: Any = None
    while True:
        event = get_event()
        kind = type(event)
        if kind is ScalarEvent:
            tag = event.tag
            text = event.value
            if tag is None:
                tag = _plain_tag(text) if event.implicit[0] and text[:1] in _RESOLVERS else STR
            elif tag == "!":
                tag = STR
            child = ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
            if is_map and key_node is None:
                if tag != STR:
                    raise _refused_key(child)
                if text in container:
                    raise _duplicate(children, child)
                if text == "<<" and event.tag is None and event.implicit[0]:
                    raise _problem(
                        "YAML_MERGE_KEY",
                        event.start_mark,
                        "merge keys (<<) are not allowed in a registry file",
                    )
                key_node = child
                continue
            item = text if tag == STR else _scalar(child)
            if is_map:
                children.append((key_node, child))
                container[key_node.value] = item
                key_node = None
            elif node is not None:
                children.append(child)
                container.append(item)
            else:
                root = (child, item)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            mapping = kind is MappingStartEvent
            if len(stack) >= max_depth:
                raise _problem(
                    "YAML_TOO_DEEP", event.start_mark, f"nested more than {max_depth} levels deep"
                )
            tag = event.tag
            if tag is None or tag == "!":
                tag = MAP if mapping else SEQ
            elif tag != (MAP if mapping else SEQ):
                raise _refused_tag(tag, "a mapping" if mapping else "a sequence", event.start_mark)
            flow = event.flow_style
            child = (MappingNode if mapping else SequenceNode)(
                tag, [], event.start_mark, None, flow
            )
            item = {} if mapping else []
            if is_map:
                if key_node is None:
                    raise _refused_key(child)
                children.append((key_node, child))
                container[key_node.value] = item
                key_node = None
            elif node is not None:
                children.append(child)
                container.append(item)
            else:
                root = (child, item)
            stack.append((node, children, container, is_map))
            node, children, container, is_map = child, child.value, item, mapping
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            node.end_mark = event.end_mark
            node, children, container, is_map = stack.pop()
        elif kind is AliasEvent:
            raise _problem(
                "YAML_ALIAS",
                event.start_mark,
                f"the alias *{event.anchor}: anchors and aliases are not allowed in a registry"
                " file",
            )
        elif kind is DocumentEndEvent:
            break
    event = get_event()
    if not isinstance(event, StreamEndEvent):
        raise _problem(
            "YAML_MULTIPLE_DOCUMENTS",
            event.start_mark,
            "a second document (a registry file holds exactly one)",
        )
    return root


def _encoded(data: bytes | str, max_bytes: int) -> bytes:
    """The input as UTF-8 bytes, checked: not too large, valid UTF-8."""
    if len(data) > max_bytes:  # a character is at least one byte
        unit = "bytes" if isinstance(data, bytes) else "characters"
        raise YAMLDecodeProblem(
            f"more than {max_bytes} bytes ({len(data)} {unit})", "YAML_TOO_LARGE"
        )
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            line = data.count("\n", 0, exc.start) + 1
            raise YAMLDecodeProblem(
                f"line {line}: a lone surrogate (not Unicode text)", "YAML_ENCODING", line
            ) from None
        if len(raw) > max_bytes:
            raise YAMLDecodeProblem(
                f"more than {max_bytes} bytes ({len(raw)} bytes as UTF-8)", "YAML_TOO_LARGE"
            )
        return raw
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise YAMLDecodeProblem(
                "line 1: starts with a UTF-16 byte-order mark (only UTF-8 is accepted)",
                "YAML_ENCODING",
                1,
            ) from None
        line = data.count(b"\n", 0, exc.start) + 1
        raise YAMLDecodeProblem(
            f"line {line}: not UTF-8 (byte {exc.start})", "YAML_ENCODING", line
        ) from None
    return data


def _syntax(exc: Any, raw: bytes, pure: bool) -> YAMLDecodeProblem:
    """A PyYAML error as YAML_SYNTAX, located where PyYAML says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if isinstance(exc, yaml.MarkedYAMLError) and mark is not None:
        line, column = mark.line + 1, mark.column + 1
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        return YAMLDecodeProblem(
            f"line {line} column {column}: {problem}{context}", "YAML_SYNTAX", line, column
        )
    if isinstance(exc, ReaderError):  # the C reader counts bytes, the pure one characters
        if pure:
            line = raw.decode("utf-8").count("\n", 0, exc.position) + 1
        else:
            line = raw.count(b"\n", 0, exc.position) + 1
        return YAMLDecodeProblem(f"line {line}: {exc.reason}", "YAML_SYNTAX", line)
    return YAMLDecodeProblem(str(exc), "YAML_SYNTAX")


def parse_yaml(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> YAMLDocument:
    """Parse one strict YAML document (see the module docstring) into its value and root node."""
    raw = _encoded(data, max_bytes)
    loader = _Loader
    try:
        with gc_paused():
            node, value = _compose(loader(raw), max_depth)
    except yaml.YAMLError as exc:
        raise _syntax(exc, raw, loader is _PureLoader) from None
    except RecursionError:  # a guard: nothing here recurses
        raise YAMLDecodeProblem("nested too deeply", "YAML_TOO_DEEP") from None
    except MemoryError:
        raise YAMLDecodeProblem("out of memory while parsing", "YAML_TOO_LARGE") from None
    return YAMLDocument(value, node)


def loads_yaml_strict(data: bytes | str) -> Any:
    """The JSON-compatible value of one strict YAML document (None for an empty one)."""
    return parse_yaml(data).value
