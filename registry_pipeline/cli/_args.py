"""Argument types checked when parsed: a bad number or moment is exit 2 naming its option."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.seal.run_id import did_you_mean, read_day, read_moment

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
    """One command in one declaration: its parser, its arguments in order, the common options."""
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


def parse_day(text: str, option: str) -> date:
    """A YYYY-MM-DD day (year 1000 or later), or BAD_DAY naming the option."""
    day = read_day(text)
    if day is None:
        raise RegistryError.of("BAD_DAY", field=option, text=text, guess=did_you_mean(text))
    return day


def parse_moment(text: str, option: str = "TIMESTAMP", *, end_of_day: bool = True) -> datetime:
    """A UTC moment: a zoned timestamp, or a day (its end, or its start when not `end_of_day`)."""
    moment = read_moment(text, end_of_day=end_of_day)
    if moment is None:
        raise RegistryError.of("BAD_TIMESTAMP", field=option, text=text, guess=did_you_mean(text))
    return moment
