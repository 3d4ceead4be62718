"""Relpath rules of the seal contract, checked before any filesystem call is made with a path."""

from __future__ import annotations

import os
import re
import unicodedata

RESERVED_NAMES = frozenset({"run.json", "manifest.json", "MANIFEST.sha256"})
"""Top-level names that the seal itself writes."""


_ASCII_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]|(?:^|/)\.{0,2}(?:/|$)")
"""What every rule refuses in an ASCII relpath: a control char, backslash, or empty/./.. segment."""


def relpath_problem(relpath: str) -> str | None:
    """Say why `relpath` is not a safe relative POSIX path, or return None when it is."""
    if relpath.isascii() and _ASCII_UNSAFE.search(relpath) is None:
        return None  # the common case in one regex: ASCII is NFC and holds no C1 or surrogate
    return _relpath_rules(relpath)


def _relpath_rules(relpath: str) -> str | None:
    """The rules one by one, with the reason for the first one broken."""
    if relpath == "":
        return "empty path"
    if "\\" in relpath:
        return "contains a backslash"
    for char in relpath:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            return f"contains control character U+{code:04X}"
        if 0xD800 <= code <= 0xDFFF:
            return "is not valid UTF-8"
    if relpath.startswith("/"):
        return "is absolute"
    for segment in relpath.split("/"):
        if segment in ("", ".", ".."):
            return f"has a {segment!r} segment" if segment else "has an empty segment"
    if not unicodedata.is_normalized("NFC", relpath):
        return "is not in Unicode NFC form"
    return None


def fold_key(relpath: str) -> str:
    """The key under which two relpaths collide on case-insensitive or normalizing filesystems."""
    if relpath.isascii():
        return relpath.lower()  # ASCII is NFC, and casefold() is lower() there
    return unicodedata.normalize("NFC", relpath).casefold()


def safe_fold_key(relpath: str) -> str | None:
    """`fold_key(relpath)` when `relpath_problem(relpath)` is None, else None: both in one call."""
    if relpath.isascii():
        return None if _ASCII_UNSAFE.search(relpath) else relpath.lower()
    return None if relpath_problem(relpath) else fold_key(relpath)


def sort_key(relpath: str) -> bytes:
    """Byte order of the UTF-8 encoding: the one order the seal contract uses everywhere."""
    return relpath.encode("utf-8", "surrogateescape")


RESERVED_KEYS = frozenset(fold_key(name) for name in RESERVED_NAMES)
"""Reserved names after case folding: `Run.json` would clash with `run.json` on many filesystems."""


def is_reserved(relpath: str) -> bool:
    """Whether a top-level relpath collides with a file the seal writes (in any letter case)."""
    return fold_key(relpath) in RESERVED_KEYS


def printable(relpath: str) -> str:
    """A relpath safe to print and to encode as JSON: undecodable bytes become \\xNN escapes."""
    return os.fsencode(relpath).decode("utf-8", "backslashreplace")
