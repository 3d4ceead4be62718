"""Strict JSON reading (no duplicate keys, no NaN/Infinity) and the house JSON writing style."""

from __future__ import annotations

import json
from typing import Any


class JSONDecodeProblem(ValueError):
    """The bytes are not strict JSON; the message says where and why."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JSONDecodeProblem(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise JSONDecodeProblem(f"{name} is not allowed in JSON")


def loads_strict(data: bytes | str) -> Any:
    """Parse UTF-8 JSON, rejecting duplicate keys, NaN and Infinity, and a byte-order mark."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JSONDecodeProblem(f"not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise JSONDecodeProblem("starts with a byte-order mark")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JSONDecodeProblem(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None


def dumps_pretty(value: Any, *, sort_keys: bool = True) -> bytes:
    """Two-space indented UTF-8 JSON with a final newline: the format of every file we seal."""
    text = json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")
