"""Which field marks an entry deprecated: the one `registry deprecate` writes and the
`not_deprecated` rule reads (seed 002: `lifecycle: "active"|"deprecated"` ... "explicit
deprecation allowed; removal forbidden").

A type's marker is declared in the coordination file (`lifecycle: {TYPE: {field, deprecated}}`);
without a declaration an entry is deprecated when its `lifecycle` or its `status` is
`deprecated` (seed 002's field, and the `status` of the seed 003 example's types)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

DEPRECATED = "deprecated"
CANDIDATES = ("/lifecycle", "/status")
"""The fields an undeclared marker may be in, in the order `registry deprecate` tries them."""
_MISSING = object()


@dataclass(frozen=True)
class Lifecycle:
    """The marker of a deprecated entry: `field` (a JSON pointer into the entry) equals
    `deprecated`."""

    field: str
    deprecated: Any = DEPRECATED


def markers(declared: Lifecycle | None) -> tuple[Lifecycle, ...]:
    """The markers an entry of a type may carry: the declared one, else the default ones."""
    if declared is not None:
        return (declared,)
    return tuple(Lifecycle(field) for field in CANDIDATES)


def deprecated_by(value: Any, declared: Lifecycle | None) -> Lifecycle | None:
    """The marker that makes the entry `value` deprecated, or None when it is not."""
    for marker in markers(declared):
        if get(value, marker.field) == marker.deprecated:
            return marker
    return None


def has(value: Any, pointer: str) -> bool:
    """Whether the entry `value` has a field at `pointer`."""
    return get(value, pointer) is not _MISSING


def get(value: Any, pointer: str) -> Any:
    """The value at `pointer` in an entry (a private sentinel when absent)."""
    current = value
    for part in _parts(pointer):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def marked(value: Any, marker: Lifecycle) -> Any | None:
    """A copy of the entry `value` with the marker set, or None when the entry cannot hold it
    (not an object, or a part of the path that is not one)."""
    parts = _parts(marker.field)
    if not parts or not isinstance(value, dict):
        return None
    result = copy.deepcopy(value)
    holder = result
    for part in parts[:-1]:
        holder = holder.setdefault(part, {})
        if not isinstance(holder, dict):
            return None
    holder[parts[-1]] = marker.deprecated
    return result


def _parts(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]
