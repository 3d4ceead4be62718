"""Strict JSON reading (each refusal a coded `JSONDecodeProblem`) and the house JSON style."""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import math
import re
from collections.abc import Iterator
from typing import Any

MAX_DEPTH = 200
"""Deepest nesting of arrays and objects accepted (Python's parser and validators recurse)."""
MAX_INT_DIGITS = 1000
"""Longest integer accepted, in digits (Python refuses to convert more than 4,300)."""


class JSONDecodeProblem(ValueError):
    """The bytes are not strict JSON; the message says where and why, `code` names the rule."""

    def __init__(
        self,
        message: str,
        code: str = "JSON_INVALID",
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.line = line
        """The parser's 1-based line and column, when it gave them."""
        self.column = column

    def __str__(self) -> str:
        """`CODE: where and why`: every place that reports the problem carries its rule."""
        return f"{self.code}: {self.message}"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # built in C; a duplicate key makes it shorter than `pairs`
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise JSONDecodeProblem(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise JSONDecodeProblem(f"{name} is not allowed in JSON", "JSON_NON_FINITE")


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise JSONDecodeProblem(
            f"an integer of {digits} digits (at most {MAX_INT_DIGITS})", "JSON_NUMBER_TOO_LARGE"
        )
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise JSONDecodeProblem(
            f"the number {text[:40]} is out of range (it would be infinity)", "JSON_NON_FINITE"
        )
    return value


def _check_tree(value: Any) -> None:
    """Lone surrogates in strings and keys (the walk is iterative: no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(reversed(item))  # its keys are named first, in order
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and _SURROGATE.search(item):
            raise JSONDecodeProblem(
                f"a lone surrogate in the string {item[:40]!r} (not Unicode text)",
                "JSON_LONE_SURROGATE",
            )


_SURROGATE = re.compile("[\ud800-\udfff]")
_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]')
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, measured in C before parsing."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) <= MAX_DEPTH:
        return
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise JSONDecodeProblem(
                    f"nested more than {MAX_DEPTH} levels deep (at character {match.start()})",
                    "JSON_TOO_DEEP",
                )
        elif token in ("]", "}"):
            depth -= 1


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off for a while: collecting a large parse's objects costs as much as it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_constant=_no_constant,
    parse_int=_bounded_int,
    parse_float=_finite_float,
)
"""One decoder for every call (building one costs as much as parsing a small file)."""
_GC_PAUSE_CHARS = 1 << 16
"""Documents this long or longer are parsed with the garbage collector paused."""


def loads_strict(data: bytes | str) -> Any:
    """Parse UTF-8 JSON strictly (see the module docstring); JSONDecodeProblem names the rule."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JSONDecodeProblem(f"not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise JSONDecodeProblem("starts with a byte-order mark")
    _check_depth(text)
    try:
        with gc_paused() if len(text) >= _GC_PAUSE_CHARS else contextlib.nullcontext():
            value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JSONDecodeProblem(
            f"{exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except RecursionError:  # a guard: _check_depth refuses this first
        raise JSONDecodeProblem("nested too deeply", "JSON_TOO_DEEP") from None
    if "\\u" in text or (not isinstance(data, bytes) and _SURROGATE.search(text)):
        _check_tree(value)  # text decoded from UTF-8 holds a lone surrogate only as an escape
    return value


def dumps_pretty(value: Any, *, sort_keys: bool = True) -> bytes:
    """Two-space indented UTF-8 JSON with a final newline: the format of every file we seal."""
    text = json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps_compact(value: Any) -> str:
    """Compact JSON (no spaces), keys in the order given, non-ASCII as is: one JSONL line."""
    return _COMPACT(value)


_FLOAT = re.compile(rb"[0-9][.e]")
"""Where a float may be in a line orjson wrote (a digit, then its point or exponent)."""
_NOT_OPENING = bytes(sorted(set(range(256)) - set(b"[{\n")))
_DIGIT_POINT = bytes.maketrans(b"123456789e", b"000000000.")
"""Every digit written as `0`, an exponent as `.`: a digit before a point or an exponent is then
one substring search in C."""


def loads_jsonl(block: bytes, start: int = 1) -> tuple[list[int], list[Any], list[bytes]]:
    """(numbers, values, lines) of the lines of `block` that are not blank: each one's number
    (from `start`), its value as `loads_strict` reads it, its line as `dumps_compact` writes it
    (UTF-8, no newline). JSONDecodeProblem at the first line that does not parse, `line` its
    number.

    orjson reads each line; a line orjson writes back byte for byte is taken as it is, unless
    it may hold a float (orjson writes some as Python does not) or nest deeper than MAX_DEPTH.
    Any other line (spaces, escapes, a repeated key, a number past 64 bits) is read again by
    `loads_strict`, which decides, and written by `dumps_compact`. A block that cannot hold a
    float or a deep line is first tried whole: orjson writes its list of values as `[`, the
    lines joined by `,`, `]` only if it writes back each line (no JSON text, read or written,
    goes on after a whole value with `,` or `]`); else it is read line by line."""
    import orjson  # here: not a cost of every command's start

    lines = block.split(b"\n")
    if not lines[-1]:
        lines.pop()
    floats = b"0." in block.translate(_DIGIT_POINT)
    deep = max(map(len, block.translate(None, _NOT_OPENING).split(b"\n"))) > MAX_DEPTH
    loads, dumps = orjson.loads, orjson.dumps
    if not floats and not deep:
        with contextlib.suppress(ValueError, TypeError):  # orjson's, as below
            values = list(map(loads, lines))
            if dumps(values)[1:-1] == b",".join(lines):
                return list(range(start, start + len(lines))), values, lines
    numbers: list[int] = []
    values = []
    kept: list[bytes] = []
    for number, raw in enumerate(lines, start):
        try:
            value = loads(raw)
            same = dumps(value) == raw  # not kept: a fresh buffer per line costs more than it
        except (ValueError, TypeError):  # orjson's: it cannot read or write it back
            same = False
        if (
            not same
            or (floats and _FLOAT.search(raw))
            or (deep and raw.count(b"[") + raw.count(b"{") > MAX_DEPTH)
        ):
            if not raw.strip():
                continue
            try:
                value = loads_strict(raw)
            except JSONDecodeProblem as exc:
                raise JSONDecodeProblem(exc.message, exc.code, line=number,
                                        column=exc.column) from None  # fmt: skip
            raw = _COMPACT(value).encode()
        numbers.append(number)
        values.append(value)
        kept.append(raw)
    return numbers, values, kept


_SPACE = re.compile(r"[ \t\n\r]*")
_RAW = json.JSONDecoder()
Member = tuple[str | None, int, int, int]
"""A JSON member: its name (None in an array), start, value start and end (character offsets)."""


def skip_space(text: str, at: int) -> int:
    """The offset of the first character at or after `at` that is not JSON whitespace."""
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]


def json_members(text: str, start: int) -> tuple[list[Member], int]:
    """The members of the JSON array or object opening at `start` (text `loads_strict` accepted),
    and its closing bracket's offset; ValueError or IndexError on other text."""
    closing = "]" if text[start] == "[" else "}"
    members: list[Member] = []
    at = skip_space(text, start + 1)
    while text[at] != closing:
        begin, name = at, None
        if closing == "}":
            if text[at] != '"':
                raise ValueError(f"not a member name at {at}")
            name, at = json.decoder.scanstring(text, at + 1)  # type: ignore[attr-defined]
            at = skip_space(text, at)
            if text[at] != ":":
                raise ValueError(f"no colon at {at}")
            at = skip_space(text, at + 1)
        end = _RAW.raw_decode(text, at)[1]
        members.append((name, begin, at, end))
        at = skip_space(text, end)
        at = skip_space(text, at + 1) if text[at] == "," else at
    return members, at


def pointer_tokens(pointer: str) -> list[str]:
    """The unescaped tokens of JSON pointer `pointer` (RFC 6901; "" is the document: none)."""
    if not pointer:
        return []
    tokens = pointer[1:].split("/")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens] if "~" in pointer else tokens


def pointer_token(name: object) -> str:
    """`name` as one JSON pointer token (RFC 6901: `~` as `~0`, `/` as `~1`)."""
    return str(name).replace("~", "~0").replace("/", "~1")


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at JSON pointer `pointer` in `document`; KeyError when there is none."""
    current = document
    for token in pointer_tokens(pointer):
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif (
            isinstance(current, list)
            and token.isascii()
            and token.isdigit()
            and int(token) < len(current)
        ):
            current = current[int(token)]
        else:
            raise KeyError(token)
    return current
