"""Argument types shared by the commands: numbers checked for range when the command line is
parsed, so that a bad value is BAD_USAGE naming its option (exit 2), never a failure later.

Days and UTC timestamps too: one strict parser for every command (`parse_day`, `parse_moment`).
Python's `fromisoformat` also accepts week dates (`2026-W47-1`), ordinal dates and compact
forms; the commands promise YYYY-MM-DD and YYYY-MM-DDTHH:MM[:SS[.ffffff]](Z|+HH:MM), so anything
else is refused with exit 2 and, where a close reading exists, a "did you mean".
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from registry_pipeline.core.errors import UsageError

RAW = argparse.RawDescriptionHelpFormatter


def command(
    commands: Any, name: str, helptext: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """One command's parser, its description and epilog printed as written."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=helptext, formatter_class=RAW, description=description, epilog=epilog
    )
    return parser


def examples(*lines: str) -> str:
    """An epilog: `examples:` and each line indented."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def common(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], int],
    json: str | None = "print a JSON object",
    *,
    workspace: bool = True,
    **defaults: Any,
) -> None:
    """The options a command ends with (`--json`, `--workspace`), and what runs it."""
    if json is not None:
        parser.add_argument("--json", action="store_true", help=json)
    if workspace:
        parser.add_argument("--workspace", metavar="DIR", help="workspace folder (default: "
                            "$REGISTRY_WORKSPACE, else the current one)")  # fmt: skip
    parser.set_defaults(run=run, command_parser=parser, **defaults)  # main: its usage errors


Argument = tuple[tuple[str, ...], dict[str, Any]]
"""One argument of a command: what `add_argument` takes (`arg`)."""


def arg(*names: str, **options: Any) -> Argument:
    return names, options


def declare(
    commands: Any,
    name: str,
    helptext: str,
    description: str,
    epilog: str,
    run: Callable[[argparse.Namespace], int],
    *arguments: Argument,
    **options: Any,
) -> argparse.ArgumentParser:
    """One command in one declaration: its parser (`command`), its arguments in order, then
    the options every command ends with (`common`, given `options`)."""
    parser = command(commands, name, helptext, description, epilog)
    for names, argument in arguments:
        parser.add_argument(*names, **argument)
    common(parser, run, **options)
    return parser


_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
_SHOWN = 40
"""Characters of a bad value repeated in the error."""


def bounded_int(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse `type`: a whole number in [lo, hi] (ASCII digits, no underscores)."""

    def parse(text: str) -> int:
        stripped = text.strip()
        if _INTEGER.fullmatch(stripped) is None:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {lo} to {hi}, not {_shown(text)}"
            )
        value = int(stripped)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, not {_shown(text)}")
        return value

    return parse


def bounded_float(lo: float, hi: float) -> Callable[[str], float]:
    """An argparse `type`: a finite number in [lo, hi] (seconds of a timeout, for example)."""

    def parse(text: str) -> float:
        try:
            value = float(text) if len(text) <= _SHOWN else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f"must be a number from {lo:g} to {hi:g}, not {_shown(text)}"
            )
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo:g} to {hi:g}, not {_shown(text)}")
        return value

    return parse


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


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
        raise UsageError(
            f"{option} {text!r} is not a day (YYYY-MM-DD){_did_you_mean(text)}",
            code="BAD_DAY",
            field=option,  # the option: the `--json` problem's field
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
        raise UsageError(
            f"{option} {text!r} is not a day (2026-11-20) or a UTC timestamp "
            f"(2026-11-20T18:00:00Z){_did_you_mean(text)}",
            code="BAD_TIMESTAMP",
            field=option,  # the option: the `--json` problem's field
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
