"""Values written for people in the report's text: no Python reprs (the JSON keeps the types)."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

NONE = "(none)"
"""How a missing value (JSON null) reads in a sentence."""

_REPR = re.compile(r"""\b(expected|observed) (None|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
"""`expected <repr>` / `observed <repr>` as drift_signals wrote its summaries (str or None)."""
_NO_LIMIT = re.compile(r"\bstale after None hours\b")
"""What drift snapshots sealed before said of an operation with no staleness limit."""


def human(value: Any) -> str:
    """A value in a sentence: `(none)`, `yes`/`no`, plain numbers, strings bare unless that would
    be ambiguous (then JSON-quoted), lists and objects as JSON."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value if _bare(value) else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def cell(value: Any) -> str:
    """A table cell: `-` for null, else as `human`."""
    return "-" if value is None else human(value)


def human_summary(summary: Any) -> str:
    """A drift signal's summary with the Python reprs of its compared values rewritten.

    Drift snapshots already sealed say `expected None, observed '0.1.0'`; the report shows
    `expected (none), observed 0.1.0`. Text without such reprs is returned as it is.
    """
    if not isinstance(summary, str):
        return cell(summary)
    summary = summary.replace("status None,", "status unknown,")
    summary = _NO_LIMIT.sub("no staleness limit", summary)
    return _REPR.sub(lambda match: f"{match[1]} {_literal(match[2])}", summary)


def _literal(token: str) -> str:
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return token
    return human(value)


def _bare(text: str) -> bool:
    """Whether `text` reads unambiguously without quotes."""
    return (
        text != ""
        and text == text.strip()
        and text.isprintable()
        and text != NONE
        and not text.startswith('"')
    )
