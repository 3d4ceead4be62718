"""jsonschema-rs made to answer as jsonschema does, so that it can decide first and fast.

`compile_check` gives `check(instance) -> bool`, True only where jsonschema calls the instance
valid (False: invalid or not sure, and jsonschema decides), or None for a schema it cannot vouch
for. Where the two engines are known to differ, the difference is kept off this path: Python's
regular expressions are rewritten into ones jsonschema-rs matches alike (`$` also before a final
newline, `.` anything but a newline, `\\d`, `\\w`, `\\s` as Python's Unicode classes); a schema
with `multipleOf`, an integer beyond 2**53, another `$schema` than draft 2020-12 or a regex
outside that subset gets no check; an instance with an integer beyond 2**53, a non-finite float
or a non-JSON type is left to jsonschema. A differential test holds the two engines equal.
"""

from __future__ import annotations

import array
import functools
import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

EXACT_INT = 2**53
"""Integers up to this size compare with floats alike in both engines; beyond it they may not."""
DRAFT = "https://json-schema.org/draft/2020-12/schema"
DIALECTS = (DRAFT, DRAFT + "#")
_NAMED = frozenset({"properties", "$defs", "definitions", "dependentSchemas"})
"""Keywords whose object maps names (not keywords) to schemas."""
_DATA = frozenset({"const", "enum"})
_INTO_DATA = re.compile(r"/(const|enum|patternProperties)(/|$)")
_TOKEN = re.compile(
    r"\\(.)|\[(\^?)((?:\\.|[^\]\\])+)\]|(\(\?:|\(\?)|([*+?]|\{[0-9]+(?:,[0-9]*)?\})([?+]?)|(.)",
    re.DOTALL,
)
_CLASS_ITEM = re.compile(r"\\(.)|(.)", re.DOTALL)
_CONTROLS = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v"}
_OUTSIDE = {".": "[^\\x{a}]", "$": "(?=\\x{a}?$)", "^": "^", "|": "|", "(": "(", ")": ")"}
"""Outside a class: Python's `.` (anything but a newline), `$` (the end, or before a newline
that ends the string) and the structure, which both read alike."""
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ")


class _Unsure(Exception):
    """The schema uses something the two engines may judge differently."""


def compile_check(schema_id: str, documents: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """A check True only where jsonschema finds `documents[schema_id]` satisfied, or None."""
    import jsonschema_rs

    try:
        translated = _translate(schema_id, documents)
        registry = jsonschema_rs.Registry(translated.items(), draft=jsonschema_rs.Draft202012)
        is_valid = jsonschema_rs.Draft202012Validator(
            translated[schema_id], validate_formats=False, registry=registry, offline=True
        ).is_valid
    except (_Unsure, ValueError, TypeError, jsonschema_rs.ReferencingError):
        return None

    def check(instance: Any) -> bool:
        """True only if jsonschema would find `instance` valid."""
        if not plain(instance):
            return False
        try:
            return is_valid(instance)
        except (ValueError, TypeError):  # e.g. a lone surrogate jsonschema-rs cannot take
            return False

    return check


def compile_batch_check(
    schema_id: str, documents: Mapping[str, Any]
) -> Callable[[list[Any], bool], bool] | None:
    """`compile_check` for many instances at once, in one jsonschema-rs call: True only where
    the check of each would be True (an array of them against `items` referring to the schema).
    None when the schema's own `$id` is not `schema_id`, or it uses dynamic references (whose
    scope the wrapper would change)."""
    import jsonschema_rs

    document = documents.get(schema_id)
    if not isinstance(document, dict) or document.get("$id") != schema_id or "#" in schema_id:
        return None
    try:
        translated = _translate(schema_id, documents)
        if any(_DYNAMIC.search(json.dumps(doc)) for doc in translated.values()):
            return None
        registry = jsonschema_rs.Registry(translated.items(), draft=jsonschema_rs.Draft202012)
        wrapper = {"$schema": DRAFT, "type": "array", "items": {"$ref": schema_id}}
        is_valid = jsonschema_rs.Draft202012Validator(
            wrapper, validate_formats=False, registry=registry, offline=True
        ).is_valid
    except (_Unsure, ValueError, TypeError, jsonschema_rs.ReferencingError):
        return None

    def check(instances: list[Any], known_plain: bool) -> bool:
        """True only if jsonschema would find every one of `instances` valid (`known_plain`:
        the caller knows them `plain`)."""
        if not known_plain and not plain(instances):
            return False
        try:
            return is_valid(instances)
        except (ValueError, TypeError):
            return False

    return check


_DYNAMIC = re.compile(r'"\$(dynamicRef|dynamicAnchor|recursiveRef|recursiveAnchor)"')


def plain(value: Any) -> bool:
    """Whether `value` holds only JSON types on which both engines agree (see EXACT_INT)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -EXACT_INT <= item <= EXACT_INT:
                return False
        elif kind is not float or not math.isfinite(item):
            return False
    return True


def _translate(schema_id: str, documents: Mapping[str, Any]) -> dict[str, Any]:
    """The documents `schema_id` reaches through `$ref`, each rewritten by `_schema`."""
    done: dict[str, Any] = {}
    pending = [schema_id]
    while pending:
        uri = pending.pop()
        if uri in done:
            continue
        if uri not in documents or not plain(documents[uri]):
            raise _Unsure(uri)
        refs: list[str] = []
        done[uri] = _schema(documents[uri], refs, top=True)
        pending.extend(filter(None, (ref.partition("#")[0] for ref in refs)))
    return done


def _schema(node: Any, refs: list[str], *, top: bool = False) -> Any:
    """`node` with its regexes rewritten for jsonschema-rs; `$ref`s are collected into `refs`.

    Unsure of an embedded `$id` (the engines may resolve a `$ref` to a bundled copy or to the
    catalog's document of that id differently) and of two `patternProperties` keys that read
    alike once rewritten (one would be lost)."""
    if isinstance(node, list):
        return [_schema(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    if not top and "$id" in node:
        raise _Unsure("$id")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = rust_regex(value)
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {rust_regex(name): _schema(sub, refs) for name, sub in value.items()}
            if len(out[key]) != len(value):
                raise _Unsure(key)
        elif key in _NAMED and isinstance(value, dict):
            out[key] = {name: _schema(sub, refs) for name, sub in value.items()}
        elif key in _DATA:
            out[key] = value  # compared as data, never rewritten
        elif key == "multipleOf" or (key == "$schema" and value not in DIALECTS):
            raise _Unsure(key)
        else:
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                if _INTO_DATA.search(unquote(value)):
                    raise _Unsure(value)  # a pointer into what is not rewritten alike
                refs.append(value)
            out[key] = _schema(value, refs)
    return out


@functools.lru_cache(maxsize=1024)
def rust_regex(pattern: str) -> str:
    """`pattern` (Python's `re.search` syntax) as a regex jsonschema-rs matches alike."""
    out = []
    for match in _TOKEN.finditer(pattern):
        escape, negate, body, group, quantifier, suffix, char = match.groups()
        if group == "(?" or suffix == "+" or (char is not None and char in "[]{}"):
            # lookarounds, flags and named groups; possessive counts; a `[` or `{` that opens no
            # well-formed class or count (Python reads it as a literal, jsonschema-rs may not)
            raise _Unsure(pattern)
        if escape is not None:
            member = _member(escape)
            out.append(_literal(member) if isinstance(member, int) else _class([member], ""))
        elif body is not None:
            out.append(_class(_class_items(body), negate))
        elif char is not None:
            out.append(_OUTSIDE.get(char) or _literal(ord(char)))
        else:
            out.append(group or quantifier + suffix)
    return "".join(out)


def _member(escape: str) -> str | int:
    """What `\\<escape>` is in Python: a class name (`d`, `W`, ...) or a code point."""
    if escape in "dDwWsS":
        return escape
    if escape in _CONTROLS:
        return ord(_CONTROLS[escape])
    if escape in _PUNCTUATION:
        return ord(escape)
    raise _Unsure("\\" + escape)  # \b, \A, \Z, \x.., \u...., back-references, ...


def _class_items(body: str) -> list[str | tuple[int, int]]:
    """The members of a class body as Python reads them: class names and code point ranges."""
    parts = _CLASS_ITEM.findall(body)
    members = [_member(escape) if escape else ord(char) for escape, char in parts]
    items: list[str | tuple[int, int]] = []
    index = 0
    while index < len(members):
        low = members[index]
        if isinstance(low, int) and index + 2 < len(members) and parts[index + 1] == ("", "-"):
            high = members[index + 2]
            if not isinstance(high, int):
                raise _Unsure(body)  # Python refuses such a range
            items.append((low, high))
            index += 3
        else:
            items.append(low if isinstance(low, str) else (low, low))
            index += 1
    return items


def _class(items: list[str | tuple[int, int]], negate: str) -> str:
    """A jsonschema-rs class of `items`, each class name expanded to Python's own ranges."""
    ranges: list[tuple[int, int]] = []
    for item in items:
        ranges.extend(_python_class(item) if isinstance(item, str) else [item])
    text = "".join(
        _literal(low) + ("" if low == high else "-" + _literal(high)) for low, high in _clip(ranges)
    )
    return f"[{negate}{text}]"


def _clip(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`ranges` sorted and merged, ends moved off the surrogates: a range may span them (no
    string jsonschema-rs is given holds one), but two ranges must not meet at their edge, where
    jsonschema-rs 0.60 negates a class wrongly (`[^\\x{d7ff}\\x{e000}]` matches U+E000)."""
    out: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        low, high = (0xE000 if 0xD800 <= low <= 0xDFFF else low), min(high, 0x10FFFF)
        high = 0xD7FF if 0xD800 <= high <= 0xDFFF else high
        if low > high:
            continue
        if out and low <= (out[-1][1] + 1 if out[-1][1] != 0xD7FF else 0xE000):
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


@functools.cache
def _python_class(name: str) -> tuple[tuple[int, int], ...]:
    """The code points Python's `\\<name>` matches, as ranges, found by Python's `re` itself
    (`\\D`, `\\W` and `\\S` are the complements of `\\d`, `\\w` and `\\s`)."""
    if name.isupper():
        gaps, start = [], 0
        for low, high in _python_class(name.lower()):
            gaps += [(start, low - 1)] if low > start else []
            start = high + 1
        return (*gaps, (start, 0x10FFFF)) if start <= 0x10FFFF else tuple(gaps)
    codes = array.array("I", range(0x110000)).tobytes()
    every = codes.decode(f"utf-32-{sys.byteorder[0]}e", "surrogatepass")
    return tuple((m.start(), m.end() - 1) for m in re.finditer(f"\\{name}+", every))


def _literal(code: int) -> str:
    """Code point `code` matched literally: ASCII letters and digits as they are, else escaped."""
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{{{code:x}}}"
