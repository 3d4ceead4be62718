"""Strict, safe YAML for hand-edited registry files: one pass over libyaml's events.

Scalars resolve by the YAML 1.2 core schema (`yes`, `on` and dates stay strings; integers are
decimal, `0o` or `0x`); no tag constructs anything. Aliases, merge keys, duplicate or non-string
keys, other tags than the core ones, a second document, non-finite numbers, integers longer than
`MAX_INT_DIGITS`, nesting deeper than `MAX_DEPTH` and text that is not UTF-8 are each refused as a
`YAMLDecodeProblem` with its own code and line. Not ruamel.yaml's safe loader: it accepts most
of these (aliases, non-string keys, infinities, `!!binary`...), reads `1_000` and dates as numbers
and dates, and is 3x (its C parser) to 10x (pure Python) slower on a 2 MB registry; nor PyYAML's,
which reads YAML 1.1 and whose C composer recurses until the process crashes. An explicit stack
over the events refuses an alias at its first event and builds the value in the same pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]
from yaml.events import (  # type: ignore[import-untyped]
    AliasEvent,
    DocumentEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode  # type: ignore[import-untyped]

from registry_pipeline.core._json import MAX_DEPTH, MAX_INT_DIGITS, JSONDecodeProblem, gc_paused

MAX_BYTES = 64 * 1024 * 1024
"""Largest file accepted, in bytes (refused before parsing)."""

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MAP, SEQ = (
    _CORE + n for n in ["str", "int", "float", "bool", "null", "map", "seq"]
)
_KINDS = {INT: "an integer", FLOAT: "a number", BOOL: "a boolean", NULL: "null"}
_WORDS = dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), BOOL)
_WORDS.update(dict.fromkeys(("", "~", "null", "Null", "NULL"), NULL))
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NON_FINITE = re.compile(r"[-+]?\.(?:inf|nan)", re.IGNORECASE)
_PLAIN = frozenset(("", *"-+.0123456789tTfFnN~"))
"""The first characters of a plain scalar that is not a string."""
_SURROGATE = re.compile("[\ud800-\udfff]")
_Parser: Any = yaml.cyaml.CParser if yaml.__with_libyaml__ else yaml.BaseLoader
"""The event source: libyaml's parser when PyYAML has it, else PyYAML's pure-Python one."""


class YAMLDecodeProblem(JSONDecodeProblem):
    """The text is not a strict YAML registry file: `code` names the rule, `line` and `column`
    (1-based, or None) say where, and the message starts with `line N`."""


@dataclass(frozen=True)
class YAMLDocument:
    """A parsed file: `value` (JSON-compatible) and `node`, the root `yaml.Node` (None for a
    stream with no document) whose `start_mark`/`end_mark` locate every item (0-based lines)."""

    value: Any
    node: Any


def _problem(code: str, mark: Any, text: str) -> YAMLDecodeProblem:
    line, column = mark.line + 1, mark.column + 1
    return YAMLDecodeProblem(f"line {line}: {text}", code, line=line, column=column)


def _plain_tag(text: str) -> str:
    """The core-schema tag of an untagged plain scalar."""
    if text[:1] in "-+.0123456789":
        if _INT.fullmatch(text):
            return INT
        if _FLOAT.fullmatch(text) or _NON_FINITE.fullmatch(text):
            return FLOAT
    return _WORDS.get(text, STR)


def _scalar(node: Any) -> Any:
    """The value of a scalar whose tag is not str (implicit or explicit), or a refusal."""
    tag, text, mark = node.tag, node.value, node.start_mark
    if tag == INT and _INT.fullmatch(text):
        base = {"o": 8, "x": 16}.get(text[1:2], 10)
        digits = len(text.lstrip("-+")) if base == 10 else len(text) - 2
        if digits > MAX_INT_DIGITS:
            why = f"an integer of {digits} digits (at most {MAX_INT_DIGITS})"
            raise _problem("YAML_NUMBER_TOO_LARGE", mark, why)
        return int(text if base == 10 else text[2:], base)
    if tag in (FLOAT, INT) and _NON_FINITE.fullmatch(text):
        raise _problem("YAML_NON_FINITE", mark, f"{text} is not allowed (numbers must be finite)")
    if tag == FLOAT and _FLOAT.fullmatch(text):
        if math.isinf(value := float(text)):
            why = f"the number {text[:40]} is out of range (it would be infinity)"
            raise _problem("YAML_NON_FINITE", mark, why)
        return value
    if tag in (BOOL, NULL) and _WORDS.get(text) == tag:
        return None if tag == NULL else text[0] in "tT"
    if tag in _KINDS:
        raise _problem("YAML_TAG", mark, f"{text[:40]!r} does not fit the tag {_show(tag)}")
    raise _refused_tag(tag, "a scalar", mark)


def _show(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _refused_tag(tag: str, kind: str, mark: Any) -> YAMLDecodeProblem:
    if tag in (MAP, SEQ, STR, *_KINDS):
        return _problem("YAML_TAG", mark, f"the tag {_show(tag)} cannot be put on {kind}")
    only = "only !!str, !!int, !!float, !!bool, !!null, !!map and !!seq"
    return _problem("YAML_TAG", mark, f"the tag {_show(tag)} is not allowed ({only})")


def _key(node: Any, event: Any, pairs: list[tuple[Any, Any]], mapping: dict[str, Any]) -> None:
    """Refuse `node` as the next key of `mapping`: not a string, a duplicate or a merge key."""
    if isinstance(node, ScalarNode) and node.tag not in (STR, *_KINDS):
        raise _refused_tag(node.tag, "a scalar", node.start_mark)
    if node.tag != STR:
        what = "a mapping" if node.tag == MAP else "a sequence" if node.tag == SEQ else None
        what = what or f"{_KINDS[node.tag]} {node.value!r} (quote it to make it a string)"
        why = f"a mapping key must be a string, not {what}"
        raise _problem("YAML_KEY_NOT_STRING", node.start_mark, why)
    if node.value in mapping:
        first = next(k for k, _ in pairs if k.value == node.value).start_mark.line + 1
        why = f"duplicate key {node.value!r} (first at line {first})"
        raise _problem("YAML_DUPLICATE_KEY", node.start_mark, why)
    if node.value == "<<" and event.tag is None and event.implicit[0]:
        why = "merge keys (<<) are not allowed in a registry file"
        raise _problem("YAML_MERGE_KEY", node.start_mark, why)


def _compose(parser: Any, max_depth: int) -> tuple[Any, Any]:
    """(root node, value) from the parser's events: one pass, an explicit stack, no recursion."""
    get_event = parser.get_event
    get_event()  # StreamStartEvent
    if type(get_event()) is StreamEndEvent:  # otherwise a DocumentStartEvent
        return None, None
    # The open collection's node and value (first a list holding the root), the key node waiting
    # for its value in a mapping (None when a key comes next), and the collections around them.
    top = parent = SequenceNode(SEQ, [], None, None)
    root: list[Any] = []
    container: Any = root
    key: Any = None
    stack: list[tuple[Any, Any]] = []
    while (kind := type(event := get_event())) is not DocumentEndEvent:
        if kind is ScalarEvent:
            tag, text = event.tag, event.value
            if tag is None:
                tag = _plain_tag(text) if text[:1] in _PLAIN and event.implicit[0] else STR
            elif tag == "!":
                tag = STR
            if event.style == '"' and _SURROGATE.search(text):  # the pure parser lets them by
                why = "an escaped surrogate (not a Unicode character)"
                raise _problem("YAML_SYNTAX", event.start_mark, why)
            node = ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
            if key is None and type(container) is dict:
                if tag != STR or text in container or text == "<<":
                    _key(node, event, parent.value, container)  # a refusal, or a quoted <<
                key = node
                continue
            value = text if tag == STR else _scalar(node)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if len(stack) >= max_depth:
                why = f"nested more than {max_depth} levels deep"
                raise _problem("YAML_TOO_DEEP", event.start_mark, why)
            mapping = kind is MappingStartEvent
            tag, what = (MAP, "a mapping") if mapping else (SEQ, "a sequence")
            if event.tag not in (None, "!", tag):
                raise _refused_tag(event.tag, what, event.start_mark)
            node = (MappingNode if mapping else SequenceNode)(
                tag, [], event.start_mark, None, event.flow_style
            )
            value = {} if mapping else []
            if key is None and type(container) is dict:
                _key(node, event, parent.value, container)
        elif kind is AliasEvent:
            why = "anchors and aliases are not allowed in a registry file"
            raise _problem("YAML_ALIAS", event.start_mark, f"the alias *{event.anchor}: {why}")
        else:  # the end of a mapping or a sequence
            parent.end_mark = event.end_mark
            parent, container = stack.pop()
            continue
        if key is None:
            parent.value.append(node)
            container.append(value)
        else:
            parent.value.append((key, node))
            container[key.value] = value
            key = None
        if kind is not ScalarEvent:
            stack.append((parent, container))
            parent, container = node, value
    if type(event := get_event()) is not StreamEndEvent:
        why = "a second document (a registry file holds exactly one)"
        raise _problem("YAML_MULTIPLE_DOCUMENTS", event.start_mark, why)
    return top.value[0], root[0]


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
        raise YAMLDecodeProblem(f"line {line}: {text}", "YAML_ENCODING", line=line) from None
    if len(raw) > max_bytes or isinstance(raw, str):
        unit = "characters" if isinstance(raw, str) else "bytes"
        raise YAMLDecodeProblem(
            f"more than {max_bytes} bytes ({len(raw)} {unit})", "YAML_TOO_LARGE"
        )
    return raw


def _syntax(exc: Any, raw: bytes) -> YAMLDecodeProblem:
    """A PyYAML error as YAML_SYNTAX, located where PyYAML says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        why = f"line {line} column {column}: {exc.problem or exc.context}{context}"
        return YAMLDecodeProblem(why, "YAML_SYNTAX", line=line, column=column)
    if isinstance(exc, yaml.reader.ReaderError):  # libyaml counts bytes, the pure reader characters
        text = raw.decode("utf-8" if _Parser is yaml.BaseLoader else "latin-1")
        line = text.count("\n", 0, exc.position) + 1
        return YAMLDecodeProblem(f"line {line}: {exc.reason}", "YAML_SYNTAX", line=line)
    return YAMLDecodeProblem(str(exc), "YAML_SYNTAX")


def parse_yaml(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> YAMLDocument:
    """Parse one strict YAML document (see the module docstring) into its value and root node."""
    raw = _encoded(data, max_bytes)
    try:
        with gc_paused():
            node, value = _compose(_Parser(raw), max_depth)
    except yaml.YAMLError as exc:
        raise _syntax(exc, raw) from None
    except RecursionError:  # a guard: nothing here recurses
        raise YAMLDecodeProblem("nested too deeply", "YAML_TOO_DEEP") from None
    except MemoryError:
        raise YAMLDecodeProblem("out of memory while parsing", "YAML_TOO_LARGE") from None
    return YAMLDocument(value, node)


def loads_yaml_strict(data: bytes | str) -> Any:
    """The JSON-compatible value of one strict YAML document (None for an empty one)."""
    return parse_yaml(data).value
