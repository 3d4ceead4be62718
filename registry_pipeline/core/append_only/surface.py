"""The hash of a contract surface: SHA-256 of its RFC 8785 (JCS) canonical JSON.

Pinned to RFC 8785 through the `rfc8785` package so that key order, whitespace and number
spelling (`1`, `1.0`, `1e0`) never change a hash: the false-positive drift the seed's risk map
fears. The seed's own two checkers hash differently from each other and from this.

RFC 8785 numbers are IEEE 754 doubles (I-JSON): an integer beyond +/-(2**53 - 1) or a number
that is not finite has no canonical form, and hashing a rounded one would be wrong.
`surface_problem` finds such a value and says where it is, before anything is hashed.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from typing import Any

import rfc8785

SAFE_INTEGER = 2**53 - 1
"""The largest integer an IEEE 754 double holds exactly (I-JSON, RFC 7493 section 2.2)."""


class SurfaceError(ValueError):
    """A surface outside what RFC 8785 can canonicalize (e.g. an integer beyond 2**53)."""


def surface_sha256(surface: Any) -> str:
    """Hex SHA-256 of the canonical JSON of `surface`; SurfaceError when it has none."""
    try:
        return hashlib.sha256(rfc8785.dumps(surface)).hexdigest()
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise SurfaceError(str(exc) or type(exc).__name__) from None


def same_surface(left: Any, right: Any) -> bool | None:
    """True when two surfaces are certainly the same JSON value; None when only hashing can
    tell (then compare `surface_sha256`). Equal pickles mean the same structure, the same keys
    in the same order and the same types (`true` is not `1`), hence the same canonical JSON;
    pickling costs a fifth of canonicalization, and unequal pickles prove nothing."""
    try:
        return True if pickle.dumps(left, 5) == pickle.dumps(right, 5) else None
    except (pickle.PicklingError, TypeError, ValueError, RecursionError):
        return None


def surface_problem(surface: Any) -> tuple[str, str] | None:
    """The first value RFC 8785 cannot canonicalize, as (JSON pointer inside `surface`, reason);
    None when there is none. Iterative walks (no recursion, whatever the depth): a quick one
    over the values, and only when it finds something, one that keeps the pointers."""
    if _canonicalizable(surface):
        return None
    stack: list[tuple[str, Any]] = [("", surface)]
    while stack:
        where, value = stack.pop()
        kind = type(value)
        if isinstance(value, dict):
            for key in reversed(value):
                stack.append((f"{where}/{_escape(key)}", value[key]))
        elif isinstance(value, list):
            stack.extend((f"{where}/{n}", item) for n, item in reversed(list(enumerate(value))))
        elif kind is int and not -SAFE_INTEGER <= value <= SAFE_INTEGER:
            return where, (
                f"the integer {value} is outside the I-JSON range +/-(2^53 - 1): RFC 8785 "
                "cannot canonicalize it (write it as a string, or as a float if rounding is "
                "meant)"
            )
        elif kind is float and not math.isfinite(value):
            return where, f"the number {value} is not finite: RFC 8785 cannot canonicalize it"
        elif value is not None and not isinstance(value, str | int | float):
            return where, f"a {kind.__name__} is not a JSON value"
    return None


def _canonicalizable(surface: Any) -> bool:
    """True when every value has a canonical form: a third of the cost of `surface_problem`'s
    walk, which builds a pointer per value (20,000 surfaces of a large pack are walked)."""
    stack = [surface]
    pop, extend = stack.pop, stack.extend
    while stack:
        value = pop()
        kind = type(value)
        if kind is dict:
            extend(value.values())
        elif kind is list:
            extend(value)
        elif kind is int:
            if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is not str and kind is not bool and value is not None:
            return False
    return True


def _escape(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")
