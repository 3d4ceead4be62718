"""Days and UTC timestamps on the command line: one strict parser for every command.

Python's `fromisoformat` also accepts week dates (`2026-W47-1`), ordinal dates and compact forms;
the commands promise YYYY-MM-DD and YYYY-MM-DDTHH:MM[:SS[.ffffff]](Z|+HH:MM), so anything else is
refused with exit 2 and, where a close reading exists, a "did you mean".
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from registry_pipeline.core.errors import UsageError


class BadValue(UsageError):
    """A value an option does not take: `field` names the option (the `--json` problem's field),
    the message says the value."""

    def __init__(self, message: str, *, code: str, option: str) -> None:
        super().__init__(message, code=code)
        self.field = option


DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def parse_day(text: str, option: str) -> date:
    """A YYYY-MM-DD day (year 1000 or later), or BAD_DAY naming the option."""
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
        if day.year < 1000:
            raise ValueError(text)
        return day
    except ValueError:
        raise BadValue(
            f"{option} {text!r} is not a day (YYYY-MM-DD){_did_you_mean(text)}",
            code="BAD_DAY",
            option=option,
        ) from None


def parse_moment(text: str, option: str = "TIMESTAMP") -> datetime:
    """A UTC moment: a timestamp with its zone, or a day (its end, 23:59:59.999999)."""
    try:
        if DAY.fullmatch(text):
            return datetime.combine(parse_day(text, option), datetime.max.time(), tzinfo=UTC)
        if not MOMENT.fullmatch(text):
            raise ValueError(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        if moment.year < 1000:
            raise ValueError(text)
        return moment
    except (ValueError, OverflowError, UsageError):
        raise BadValue(
            f"{option} {text!r} is not a day (2026-11-20) or a UTC timestamp "
            f"(2026-11-20T18:00:00Z){_did_you_mean(text)}",
            code="BAD_TIMESTAMP",
            option=option,
        ) from None


def _did_you_mean(text: str) -> str:
    """`; did you mean 2026-11-02?` for a day written without its zeros or with / or ."""
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text.strip())
    if match is None:
        return ""
    try:
        day = date(*(int(part) for part in match.groups()))
    except ValueError:
        return ""
    return f"; did you mean {day.isoformat()}?" if day.isoformat() != text else ""
