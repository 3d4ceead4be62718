"""The hash of a contract surface: SHA-256 of its RFC 8785 (JCS) canonical JSON.

Pinned to RFC 8785 through the `rfc8785` package so that key order, whitespace and number
spelling (`1`, `1.0`, `1e0`) never change a hash: the false-positive drift the seed's risk map
fears. The seed's own two checkers hash differently from each other and from this.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import rfc8785


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
