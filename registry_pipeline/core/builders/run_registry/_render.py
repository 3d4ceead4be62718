"""The encoding of both run registry artifacts: compact JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def render_jsonl(lines: Iterable[Mapping[str, Any]]) -> bytes:
    """Compact JSON lines in each mapping's own key order, each ending with a newline; ASCII
    (non-ASCII characters as `\\uXXXX`), as the seed's builder writes them."""
    return b"".join(_dumps_line(line) for line in lines)


def _dumps_line(line: Mapping[str, Any]) -> bytes:
    text = json.dumps(line, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.encode("utf-8") + b"\n"
