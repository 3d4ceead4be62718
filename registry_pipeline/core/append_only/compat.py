"""Classify a JSON Schema change as none, backward, forward or breaking, as Confluent's rules do."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from registry_pipeline.core.json_strict import pointer_token

WIDEN, NARROW, INCOMPARABLE = "widen", "narrow", "incomparable"
MAX_DEPTH = 200
"""Nesting beyond this many levels is compared for equality only (one incomparable change)."""
ANNOTATIONS = frozenset({"title", "description", "examples", "$comment", "default", "$id"})
ANNOTATIONS |= {"deprecated", "readOnly", "writeOnly", "$schema", "$anchor"}
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_PRESENCE = ("pattern", "format", "uniqueItems")
_OPAQUE = {
    **dict.fromkeys(("$ref", "$dynamicRef"), "REF_CHANGED"),
    **dict.fromkeys(("allOf", "anyOf", "oneOf", "not"), "COMPOSITION_CHANGED"),
    **dict.fromkeys(("if", "then", "else"), "CONDITIONAL_CHANGED"),
    **dict.fromkeys(
        ("dependentRequired", "dependentSchemas", "dependencies"), "DEPENDENCIES_CHANGED"
    ),
    **dict.fromkeys(("$defs", "definitions"), "DEFINITIONS_CHANGED"),
}
_HANDLED = ANNOTATIONS | {*_LOWER, *_UPPER, *_PRESENCE, "multipleOf", "type", "enum", "const"}
_HANDLED |= {"required", "properties", "additionalProperties", "items", "prefixItems"}
_PARTIAL_KEYS = ("patternProperties", "unevaluatedProperties", "propertyNames")
_ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string"})
_Obj = dict[Any, Any]


@dataclass(frozen=True)
class SchemaChange:
    """One structural difference: what (`code`), where (a JSON pointer) and which way."""

    code: str
    path: str
    direction: str
    detail: str


@dataclass(frozen=True)
class Compatibility:
    """The kind of change between two schemas and the changes that decide it."""

    kind: str
    changes: tuple[SchemaChange, ...]

    def as_json(self) -> dict[str, object]:
        """The verdict as plain JSON: the kind and each change's code, path, direction, detail."""
        return {"kind": self.kind, "changes": [dataclasses.asdict(c) for c in self.changes]}


_Out = list[SchemaChange]


def classify(old: object, new: object) -> Compatibility:
    """Say which kind of change turns `old` into `new` (see the module docstring); never raises."""
    out: _Out = []
    try:
        _walk(old, new, "", 0, out)
    except RecursionError:
        out = [SchemaChange("MAX_DEPTH_EXCEEDED", "", INCOMPARABLE, "schemas nest too deeply")]
    changes = tuple(sorted(set(out), key=lambda c: (c.path, c.code, c.detail, c.direction)))
    ways = {c.direction for c in changes}
    kind = {frozenset(): "none", frozenset({WIDEN}): "backward", frozenset({NARROW}): "forward"}
    return Compatibility(kind.get(frozenset(ways), "breaking"), changes)


def _walk(old: object, new: object, ptr: str, depth: int, out: _Out) -> None:
    """Append to `out` the changes that turn schema `old` into schema `new`, both at `ptr`."""
    if old is new:  # the same object (or both `true`): nothing changed
        return
    if depth > MAX_DEPTH or not all(isinstance(s, bool | dict) for s in (old, new)):
        if _canon(old) != _canon(new):
            code = "MAX_DEPTH_EXCEEDED" if depth > MAX_DEPTH else "SCHEMA_CHANGED"
            out.append(SchemaChange(code, ptr, INCOMPARABLE, "the rules cannot compare this"))
    elif new is False and old is not False:
        out.append(SchemaChange("BOOLEAN_SCHEMA_NARROWED", ptr, NARROW, "now rejects everything"))
    elif old is False and new is not False:
        out.append(SchemaChange("BOOLEAN_SCHEMA_WIDENED", ptr, WIDEN, "no longer rejects all"))
    elif old is not False:
        o = old if isinstance(old, dict) else {}
        n = new if isinstance(new, dict) else {}
        for check in _CHECKS:
            check(o, n, ptr, depth, out)


def _canon(value: object) -> str:
    """A text key equal for equal JSON values (1 and 1.0 alike, true and 1 not)."""
    try:
        return json.dumps(_plain(value), sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        return f"<unprintable {id(value)}>"


def _plain(value: object) -> object:
    """`value` with integral floats made ints, so that JSON-equal numbers print alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


def _differs(old: _Obj, new: _Obj, kw: str) -> bool:
    """Whether keyword `kw` is present in one schema only, or with different values."""
    return (kw in old) != (kw in new) or _canon(old.get(kw)) != _canon(new.get(kw))


def _kw_change(kw: str, ptr: str, code: str, way: str) -> SchemaChange:
    """Change `code` (ADDED, CHANGED, ...) of keyword `kw` at `ptr`, e.g. `MIN_LENGTH_ADDED`."""
    return SchemaChange(f"{_code(kw)}_{code}", f"{ptr}/{kw}", way, f"{kw} {code.lower()}")


def _malformed_changed(old: _Obj, new: _Obj, kw: str, ptr: str, out: _Out) -> None:
    """For a keyword with a malformed value: one incomparable change if it differs at all."""
    if _differs(old, new, kw):
        out.append(_kw_change(kw, ptr, "CHANGED", INCOMPARABLE))


def _code(kw: str) -> str:
    """`exclusiveMinimum` -> `EXCLUSIVE_MINIMUM`."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", kw.lstrip("$")).upper()


def _type_set(schema: _Obj) -> frozenset[str] | None:
    """The instance types `schema` allows ("integer" folded into "number"), None if malformed."""
    raw = schema.get("type", sorted(_ALL_TYPES))
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(t, str) for t in names):
        return None
    return frozenset(t for t in names if t != "integer" or "number" not in names)


def _within(inner: frozenset[str], outer: frozenset[str]) -> bool:
    """Whether every type in `inner` is allowed by `outer` (integer is a number)."""
    return all(t in outer or (t == "integer" and "number" in outer) for t in inner)


def _type_names(types: frozenset[str] | None) -> str:
    """`types` for a message: "any", "?" (malformed) or the names joined by "/"."""
    return "?" if types is None else "any" if types == _ALL_TYPES else "/".join(sorted(types))


def _types(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """`type`: a strict subset narrows, a strict superset widens, anything else is incomparable."""
    a, b = _type_set(old), _type_set(new)
    if a == b and (a is not None or not _differs(old, new, "type")):
        return
    detail = f"type {_type_names(a)} -> {_type_names(b)}"
    if a is not None and b is not None and _within(b, a):
        out.append(SchemaChange("TYPE_NARROWED", f"{ptr}/type", NARROW, detail))
    elif a is not None and b is not None and _within(a, b):
        out.append(SchemaChange("TYPE_WIDENED", f"{ptr}/type", WIDEN, detail))
    else:
        out.append(SchemaChange("TYPE_CHANGED", f"{ptr}/type", INCOMPARABLE, detail))


def _allowed(schema: _Obj) -> frozenset[str] | None:
    """The values `enum` and `const` together allow (as `_canon` keys), None if unrestricted."""
    allowed = frozenset(map(_canon, schema["enum"])) if "enum" in schema else None
    if "const" in schema:
        const = frozenset({_canon(schema["const"])})
        allowed = const if allowed is None else allowed & const
    return allowed


def _values(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """`enum` and `const`: fewer allowed values narrow, more widen, others are incomparable."""
    if not all(isinstance(s.get("enum", []), list) for s in (old, new)):
        return _malformed_changed(old, new, "enum", ptr, out)
    kw = "enum" if "enum" in old or "enum" in new else "const"
    a, b = _allowed(old), _allowed(new)
    if a == b:
        return
    out.append(_kw_change(kw, ptr, *_set_change(a, b)))


def _set_change(a: frozenset[str] | None, b: frozenset[str] | None) -> tuple[str, str]:
    """How a set of allowed values changed (None: unrestricted): code suffix and direction."""
    if a is None or b is None:
        return ("ADDED", NARROW) if a is None else ("REMOVED", WIDEN)
    if b < a or a < b:
        return ("NARROWED", NARROW) if b < a else ("EXTENDED", WIDEN)
    return "CHANGED", INCOMPARABLE


def _names(schema: _Obj) -> frozenset[str] | None:
    """The names in `required`, None if it is malformed."""
    raw = schema.get("required", [])
    ok = isinstance(raw, list) and all(isinstance(r, str) for r in raw)
    return frozenset(raw) if ok else None


def _required(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """`required`: a newly required property narrows, one no longer required widens."""
    a, b = _names(old), _names(new)
    if a is None or b is None:
        return _malformed_changed(old, new, "required", ptr, out)
    for names, code, way, now in (
        (b - a, "ADDED", NARROW, "now"),
        (a - b, "REMOVED", WIDEN, "no longer"),
    ):
        for name in sorted(names):
            detail = f"property '{name}' is {now} required"
            path = f"{ptr}/properties/{pointer_token(name)}"
            out.append(SchemaChange(f"REQUIRED_PROPERTY_{code}", path, way, detail))


def _model(schema: _Obj) -> str:
    """What an object schema says of unlisted properties: "open", "closed" or "partial"."""
    extra = schema.get("additionalProperties", True)
    if any(k in schema for k in _PARTIAL_KEYS) or extra not in (True, False, {}):
        return "partial"
    return "closed" if extra is False else "open"


def _properties(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """`properties`: recurse into shared ones; judge added and removed ones by content model."""
    a, b = old.get("properties", {}), new.get("properties", {})
    if not isinstance(a, dict) or not isinstance(b, dict):
        return _malformed_changed(old, new, "properties", ptr, out)
    for name in sorted(a.keys() | b.keys(), key=str):
        path = f"{ptr}/properties/{pointer_token(name)}"
        if name in a and name in b:
            _walk(a[name], b[name], path, depth + 1, out)
            continue
        added = name in b
        model = _model(old if added else new)
        unlisted = model != "closed"  # what the other side says of this key
        sub: _Out = []
        before, after = (unlisted, b[name]) if added else (a[name], unlisted)
        _walk(before, after, path, depth + 1, sub)
        if sub or model == "partial":
            out.append(_property_change(name, path, added, model, name in (_names(new) or ())))


def _property_change(name: str, path: str, added: bool, model: str, req: bool) -> SchemaChange:
    """The change of adding (or removing) property `name` under the given content model."""
    where = {"open": "OPEN", "closed": "CLOSED", "partial": "PARTIALLY_OPEN"}[model]
    an = {"open": "an open", "closed": "a closed", "partial": "a partially open"}[model]
    if not added:
        way = {"open": WIDEN, "closed": NARROW}.get(model, INCOMPARABLE)
        code, detail = f"PROPERTY_REMOVED_FROM_{where}", f"property '{name}' removed from {an}"
        return SchemaChange(f"{code}_CONTENT_MODEL", path, way, f"{detail} object")
    detail = f"property '{name}' added to {an} object"
    if model != "closed":
        way = NARROW if model == "open" else INCOMPARABLE
        return SchemaChange(f"PROPERTY_ADDED_TO_{where}_CONTENT_MODEL", path, way, detail)
    kind, way = ("REQUIRED", INCOMPARABLE) if req else ("OPTIONAL", WIDEN)
    code = f"{kind}_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL"
    return SchemaChange(code, path, way, f"{detail} ({kind.lower()})")


def _additional(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """`additionalProperties`: open -> closed narrows, closed -> open widens, else incomparable."""
    a, b = (s.get("additionalProperties", True) for s in (old, new))
    a, b = (True if v == {} else v for v in (a, b))
    if _canon(a) == _canon(b):
        return
    moves = {(True, False): ("NARROWED", NARROW), (False, True): ("EXTENDED", WIDEN)}
    move = moves.get((a, b)) if isinstance(a, bool) and isinstance(b, bool) else None
    out.append(_kw_change("additionalProperties", ptr, *(move or ("CHANGED", INCOMPARABLE))))


def _number(value: object) -> Fraction | None:
    """`value` as an exact number, None when it is not a finite JSON number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        return Fraction(repr(value)) if math.isfinite(value) else None
    return Fraction(value)


def _bounds(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """Numeric, length and count bounds (and `multipleOf`): tighter narrows, looser widens."""
    for kw in (*_LOWER, *_UPPER, "multipleOf"):
        if not _differs(old, new, kw):
            continue
        a, b = _number(old.get(kw)), _number(new.get(kw))
        malformed = (kw in old and a is None) or (kw in new and b is None)
        if malformed or (kw == "multipleOf" and any(v is not None and v <= 0 for v in (a, b))):
            code, way = "CHANGED", INCOMPARABLE
        elif a is None or b is None:
            code, way = ("ADDED", NARROW) if a is None else ("REMOVED", WIDEN)
        elif kw != "multipleOf":
            tighter = (b > a) == (kw in _LOWER)
            code, way = ("INCREASED" if b > a else "DECREASED"), (NARROW if tighter else WIDEN)
        elif (b / a).denominator == 1:  # every multiple of b is one of a
            code, way = "NARROWED", NARROW
        elif (a / b).denominator == 1:
            code, way = "WIDENED", WIDEN
        else:
            code, way = "CHANGED", INCOMPARABLE
        out.append(_kw_change(kw, ptr, code, way))


def _presence(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """`pattern`, `format`, `uniqueItems`: added narrows, removed widens, else incomparable."""
    for kw in _PRESENCE:
        a, b = (
            None if kw == "uniqueItems" and s.get(kw) is False else s.get(kw) for s in (old, new)
        )
        if _canon(a) == _canon(b):
            continue
        if a is None or b is None:
            code, way = ("ADDED", NARROW) if a is None else ("REMOVED", WIDEN)
        else:
            code, way = "CHANGED", INCOMPARABLE
        out.append(_kw_change(kw, ptr, code, way))


def _items(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """`prefixItems` position by position (past its end `items` applies), then `items`."""
    a, b = old.get("prefixItems", []), new.get("prefixItems", [])
    rest_a, rest_b = old.get("items", True), new.get("items", True)
    if not isinstance(a, list) or not isinstance(b, list):
        _malformed_changed(old, new, "prefixItems", ptr, out)
    else:
        for i in range(max(len(a), len(b))):
            before, after = a[i] if i < len(a) else rest_a, b[i] if i < len(b) else rest_b
            _walk(before, after, f"{ptr}/prefixItems/{i}", depth + 1, out)
    _walk(rest_a, rest_b, f"{ptr}/items", depth + 1, out)


def _rest(old: _Obj, new: _Obj, ptr: str, depth: int, out: _Out) -> None:
    """Every other keyword ($ref, composition, ...): equal or one incomparable change."""
    for kw in sorted((old.keys() | new.keys()) - _HANDLED, key=str):
        if _differs(old, new, kw):
            detail = f"'{kw}' changed (compared for equality only)"
            code = _OPAQUE.get(kw, "KEYWORD_CHANGED")
            out.append(SchemaChange(code, f"{ptr}/{pointer_token(kw)}", INCOMPARABLE, detail))


_CHECKS: tuple[Callable[[_Obj, _Obj, str, int, _Out], None], ...] = (_types, _values, _required)
_CHECKS += (_properties, _additional, _bounds, _presence, _items, _rest)
