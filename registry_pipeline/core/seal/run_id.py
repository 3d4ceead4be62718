"""Run ids: `<YYYY-MM-DD>__<HHMMSS>__<registry_id>_build` in UTC, plus `__NNN` on collision."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

from registry_pipeline.core.errors import RegistryError

REGISTRY_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
RUN_ID = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})__(?P<time>\d{6})__(?P<registry_id>[a-z][a-z0-9_]*)_build"
    r"(?:__(?P<seq>\d{3}))?"
)
MAX_SEQ = 999
RUN_ID_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})__(\d{2})(\d{2})(\d{2})__", re.ASCII)
"""The second that starts a dated run folder name: ours (`..._build`) and the seed's."""


def check_registry_id(registry_id: str) -> str:
    """Return `registry_id` if it is a valid id (lowercase, digits, underscores), else raise."""
    if not REGISTRY_ID.fullmatch(registry_id):
        raise RegistryError.of("INVALID_REGISTRY_ID", path=registry_id)
    return registry_id


def utc_timestamp(moment: datetime) -> str:
    """`created_utc` format: ISO 8601 to the second, with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
"""The one time grammar of all options: YYYY-MM-DD or a zoned time, stricter than fromisoformat."""


def read_day(text: str) -> date | None:
    """The YYYY-MM-DD day `text` names (year 1000 or later), or None."""
    if not DAY.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.year >= 1000 else None


def read_moment(text: str, *, end_of_day: bool = False) -> datetime | None:
    """The UTC moment `text` names, or None: a zoned time, or a day (its first or last moment)."""
    day = read_day(text)
    if day is not None:
        return datetime.combine(
            day, datetime.max.time() if end_of_day else datetime.min.time(), UTC
        )
    if not MOMENT.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment if moment.year >= 1000 else None


_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)


def created_moment(value: object) -> datetime | None:
    """The UTC second a created_utc (or a run id's stamp) names; None when it is no real time."""
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    day, clock, offset = match.groups()
    try:  # fromisoformat: strptime costs 10x (validate --all)
        return datetime.fromisoformat(f"{day}T{clock}{offset or 'Z'}").astimezone(UTC)
    except (ValueError, OverflowError):  # no such day; past year 9999 or before year 1 in UTC
        return None


def normalize_created_utc(value: object) -> str | None:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC, fractions dropped; None when no real timestamp."""
    moment = created_moment(value)
    return None if moment is None else utc_second(moment)


def utc_second(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` of a UTC moment, the year in four digits (`%Y` writes 999)."""
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def did_you_mean(text: str) -> str:
    """A `; did you mean ...?` for a day without zeros or a time without its zone; else ""."""
    match = re.fullmatch(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})", text.strip())
    if match is not None:
        try:
            day = date(*(int(part) for part in match.groups())).isoformat()
        except ValueError:
            return ""
        return f"; did you mean {day}?" if day != text else ""
    zoned = f"{text.strip()}Z"
    return f"; did you mean {zoned}?" if read_moment(zoned) is not None else ""


def base_run_id(registry_id: str, moment: datetime) -> str:
    """The run id of a build of `registry_id` at `moment` (before any collision suffix)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d__%H%M%S")
    return f"{stamp}__{registry_id}_build"


def next_run_id(registry_id: str, moment: datetime, taken: Iterable[str]) -> str | None:
    """The first free id at `moment` sorting after every taken id that second; None if none is."""
    base = base_run_id(registry_id, moment)
    highest = -1
    for name in taken:
        if name == base:
            highest = max(highest, 0)
        elif name.startswith(base + "__"):
            match = RUN_ID.fullmatch(name)
            if match and match["seq"]:
                highest = max(highest, int(match["seq"]))
    if highest < 0:
        return base
    if highest >= MAX_SEQ:
        return None
    return f"{base}__{highest + 1:03d}"


def registry_of(run_id: str) -> str | None:
    """The registry id encoded in a run id of ours, or None for other naming schemes."""
    match = RUN_ID.fullmatch(run_id)
    return match["registry_id"] if match else None


def named_second(run_id: str) -> str | None:
    """The second a dated run folder name starts with (`YYYY-MM-DDTHH:MM:SSZ`), or None."""
    match = RUN_ID_STAMP.match(run_id)
    return "{}T{}:{}:{}Z".format(*match.groups()) if match else None


def now_utc() -> datetime:
    """The current time in UTC (one place to read the clock)."""
    return datetime.now(UTC)


OPERATION_ID = re.compile(r"OP-[A-Z0-9][A-Z0-9-]*")
"""Operation ids of the operations catalog, e.g. OP-QA07."""
