"""Compiled fast checks for JSON Schema (draft 2020-12) documents: surely valid, or ask jsonschema.

`compile_schema` turns a schema into `check(instance) -> bool` that answers True only when the
instance certainly satisfies the schema; False means invalid *or not sure*, and jsonschema (the
authority, which writes the messages) decides. Sub-schemas evaluate to True, False or None
(unknown), so `not`, `if`, `anyOf` and `oneOf` stay exact and unknown never becomes valid. A
schema reaching a keyword not handled here (format, contains, $dynamicRef, ...) gets no check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

Check = Callable[[Any], bool | None]
"""A compiled sub-schema: True (valid), False (invalid) or None (unknown)."""

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_IGNORED = frozenset(
    {"title", "description", "$comment", "default", "examples", "deprecated", "readOnly"}
    | {"writeOnly", "$defs", "then", "else"}  # then/else are compiled with their `if`
)
_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_KINDS = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
_SIZED = {"Length": str, "Items": list, "Properties": dict}
_NOT_NUMBERS = frozenset(_KINDS)
_INDEX = re.compile(r"0|[1-9][0-9]*")


class Unsupported(Exception):
    """The schema uses something the compiler does not handle: it gets no fast check."""


def compile_schema(
    document: Any, documents: Mapping[str, Any] | None = None
) -> Callable[[Any], bool] | None:
    """A check True only for instances surely valid against `document`; None if unsupported."""
    known = dict(documents or {})
    if isinstance(document, dict) and isinstance(document.get("$id"), str):
        known[document["$id"]] = document  # the root owns its $id, as in `referencing`
    try:
        root = _Compiler(known).ref("#", document, root=True)
    except (Unsupported, re.error):
        return None

    def check(instance: Any) -> bool:
        """True only if `instance` surely satisfies the compiled schema."""
        try:
            return root(instance) is True
        except RecursionError:
            return False

    return check


def _need(condition: bool, what: str) -> None:
    """Unsupported(`what`) unless `condition` holds."""
    if not condition:
        raise Unsupported(what)


def _yes(instance: Any) -> bool | None:
    return True


def _fold(results: Iterable[bool | None]) -> bool | None:
    """Three-valued conjunction: False on the first False, else None if any None, else True."""
    out: bool | None = True
    for result in results:
        if result is not True:
            if result is False:
                return False
            out = None
    return out


def _all(checks: list[Check]) -> Check:
    """The conjunction of `checks` (one check as it is)."""
    if len(checks) == 1:
        return checks[0]
    subs = tuple(checks)

    def check(x: Any) -> bool | None:
        out: bool | None = True
        for sub in subs:
            result = sub(x)
            if result is not True:
                if result is False:
                    return False
                out = None
        return out

    return check


def _properties(compiled: dict[str, Check]) -> Check:
    """`properties`: each present member against its schema."""
    pairs = tuple(compiled.items())

    def check(x: Any) -> bool | None:
        if not isinstance(x, dict):
            return True
        out: bool | None = True
        for key, sub in pairs:
            if key in x:
                result = sub(x[key])
                if result is not True:
                    if result is False:
                        return False
                    out = None
        return out

    return check


class _Compiler:
    """Compiles each reachable sub-schema once; a `$ref` cycle goes through a filled-in cell."""

    def __init__(self, documents: Mapping[str, Any]) -> None:
        self.documents = documents
        self.done: dict[tuple[int, str], Check] = {}
        self.cells: dict[tuple[int, str], list[Check]] = {}

    def schema(self, node: Any, doc: Any) -> Check:
        """The check of one sub-schema of `doc`."""
        if type(node) is bool:
            return _yes if node else lambda x: False
        _need(isinstance(node, dict), f"not a schema: {node!r}")
        checks = []
        for key, value in node.items():
            if (
                key in _IGNORED
                or key.startswith("x-")
                or (node is doc and key in ("$id", "$schema"))
            ):
                continue
            check = self.keyword(key, value, node, doc)
            if check is not None:
                checks.append(check)
        return _all(checks) if checks else _yes

    def keyword(self, key: str, value: Any, node: dict[str, Any], doc: Any) -> Check | None:
        """The check of one keyword; None when it never fails (e.g. `uniqueItems: false`)."""
        if key in ("type", "required"):
            names = [value] if key == "type" and isinstance(value, str) else value
            _need(isinstance(names, list) and all(type(n) is str for n in names), key)
            if key == "type":
                return _type(frozenset(names))
            required = frozenset(names)
            return lambda x: not isinstance(x, dict) or x.keys() >= required
        if key in ("const", "enum"):
            _need(key == "const" or isinstance(value, list), "enum must be a list")
            return _enum([value] if key == "const" else value)
        if key == "pattern":
            _need(isinstance(value, str), "pattern must be a string")
            search = re.compile(value).search
            return lambda x: not isinstance(x, str) or search(x) is not None
        if key[:3] in ("min", "max") and key[3:] in _SIZED:
            kind, limit, low = _SIZED[key[3:]], _number(value), key.startswith("min")
            return lambda x: (
                not isinstance(x, kind) or (len(x) >= limit if low else len(x) <= limit)
            )
        if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            return _bound(key, _number(value))
        if key in ("properties", "patternProperties"):
            _need(isinstance(value, dict), f"{key} must be an object")
            compiled = {name: self.schema(sub, doc) for name, sub in value.items()}
            return _properties(compiled) if key == "properties" else _patterns(compiled)
        if key in ("additionalProperties", "propertyNames", "items", "not"):
            return _applied(key, self.schema(value, doc), node, never=value is False)
        if key == "prefixItems":
            _need(isinstance(value, list), "prefixItems must be a list")
            firsts = [self.schema(sub, doc) for sub in value]
            return lambda x: (
                not isinstance(x, list) or _fold(f(v) for f, v in zip(firsts, x, strict=False))
            )
        if key == "uniqueItems":
            _need(type(value) is bool, "uniqueItems must be a boolean")
            return _unique if value else None
        if key in ("allOf", "anyOf", "oneOf"):
            _need(isinstance(value, list) and bool(value), f"{key} must be a non-empty list")
            return _combined(key, [self.schema(sub, doc) for sub in value])
        if key == "if":
            cond, then, other = (
                self.schema(node.get(k, True), doc) for k in ("if", "then", "else")
            )
            return lambda x: None if (sure := cond(x)) is None else then(x) if sure else other(x)
        if key == "$ref":
            return self.ref(value, doc)
        raise Unsupported(f"keyword {key!r}")

    def ref(self, ref: Any, doc: Any, root: bool = False) -> Check:
        """The check a `$ref` names: `#<pointer>` in `doc`, or `urn:...#<pointer>` in a document."""
        _need(isinstance(ref, str), "$ref must be a string")
        uri, _, fragment = ref.partition("#")
        if uri:
            _need(uri.startswith("urn:") and uri in self.documents, f"unresolved $ref {ref!r}")
            doc = self.documents[uri]
        if uri or root:
            dialect = doc.get("$schema", DIALECT) if isinstance(doc, dict) else DIALECT
            _need(dialect in (DIALECT, DIALECT + "#"), f"not a draft 2020-12 document: {dialect}")
        key = (id(doc), unquote(fragment))
        if key in self.done:
            return self.done[key]
        if key in self.cells:  # a cycle: the cell is filled before any instance is checked
            cell = self.cells[key]
            return lambda x: cell[0](x)
        self.cells[key] = cell = [_yes]
        cell[0] = self.done[key] = self.schema(_pointer(doc, key[1]), doc)
        return cell[0]


def _number(value: Any) -> int | float:
    """`value` if it is an int or a float (not a bool)."""
    _need(type(value) in (int, float), f"not a number: {value!r}")
    return value  # type: ignore[no-any-return]


def _pointer(doc: Any, fragment: str) -> Any:
    """The node a JSON pointer fragment names; Unsupported for anchors and embedded resources."""
    _need(not fragment or fragment.startswith("/"), f"anchor {fragment!r}")
    node = doc
    for part in fragment.split("/")[1:]:
        if isinstance(node, list) and _INDEX.fullmatch(part) and int(part) < len(node):
            node = node[int(part)]
        elif (
            isinstance(node, dict) and (part := part.replace("~1", "/").replace("~0", "~")) in node
        ):
            node = node[part]
        else:
            raise Unsupported(f"pointer to nowhere {fragment!r}")
        _need(not isinstance(node, dict) or "$id" not in node, "$ref into an embedded resource")
    return node


def _type(names: frozenset[str]) -> Check:
    """`type` for the exact Python types of parsed JSON; unknown for any other type."""
    _need(names <= _TYPES, f"type {sorted(names)}")
    exact: dict[type, bool] = {kind: name in names for kind, name in _KINDS.items()}
    exact[int] = bool(names & {"integer", "number"})
    number, integer = "number" in names, "integer" in names

    def check(x: Any) -> bool | None:
        found = exact.get(type(x))
        if found is not None:
            return found
        return (number or (integer and x.is_integer())) if type(x) is float else None

    return check


def _enum(values: list[Any]) -> Check:
    """`enum`/`const` with jsonschema's equality (True != 1, 1 == 1.0); unknown for containers."""
    strings = frozenset(v for v in values if type(v) is str)
    numbers = [v for v in values if type(v) in (int, float)]
    singles = {id(v) for v in values if v is None or type(v) is bool}

    def check(x: Any) -> bool | None:
        if type(x) is str:
            return x in strings
        if x is None or type(x) is bool:
            return id(x) in singles
        return any(x == v for v in numbers) if type(x) in (int, float) else None

    return check


def _bound(key: str, limit: int | float) -> Check:
    """minimum/maximum/exclusive*: jsonschema's failing comparison, negated."""
    fails: Callable[[Any], bool] = {
        "minimum": lambda x: x < limit,
        "maximum": lambda x: x > limit,
        "exclusiveMinimum": lambda x: x <= limit,
        "exclusiveMaximum": lambda x: x >= limit,
    }[key]
    return lambda x: not fails(x) if type(x) in (int, float) else type(x) in _NOT_NUMBERS or None


def _patterns(compiled: dict[str, Check]) -> Check:
    """`patternProperties`: each member against every schema whose pattern it matches."""
    pairs = [(re.compile(pattern).search, check) for pattern, check in compiled.items()]
    return lambda x: (
        not isinstance(x, dict)
        or _fold(check(v) for k, v in x.items() for search, check in pairs if search(k) is not None)
    )


def _applied(key: str, sub: Check, node: dict[str, Any], never: bool) -> Check | None:
    """additionalProperties, propertyNames, items (after prefixItems) and not."""
    if key == "not":
        return lambda x: None if (sure := sub(x)) is None else not sure
    if key == "items":
        start = len(node.get("prefixItems", ()))
        return lambda x: not isinstance(x, list) or _fold(map(sub, x[start:] if start else x))
    if key == "propertyNames":
        return lambda x: not isinstance(x, dict) or _fold(map(sub, x))
    known, joined = (
        frozenset(node.get("properties", ())),
        "|".join(node.get("patternProperties", ())),
    )
    search = re.compile(joined).search if joined else lambda k: None  # as jsonschema: one regex
    if sub is _yes:
        return None
    if never and not joined:
        return lambda x: not isinstance(x, dict) or x.keys() <= known
    return lambda x: (
        not isinstance(x, dict)
        or _fold(sub(v) for k, v in x.items() if k not in known and search(k) is None)
    )


def _combined(key: str, subs: list[Check]) -> Check:
    """allOf, anyOf and oneOf in three-valued logic."""
    if key == "allOf":
        return _all(subs)
    if key == "anyOf":
        return lambda x: (
            True if True in (r := [s(x) for s in subs]) else None if None in r else False
        )
    return lambda x: (
        False if (r := [s(x) for s in subs]).count(True) > 1 else None if None in r else True in r
    )


def _unique(x: Any) -> bool | None:
    """`uniqueItems`: exact for strings or for integers; unknown for anything else."""
    if not isinstance(x, list) or len(x) < 2:
        return True
    kind = type(x[0])
    if kind in (str, int) and all(type(item) is kind for item in x):
        return len(set(x)) == len(x)
    return None
