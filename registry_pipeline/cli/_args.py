"""Argument types shared by the commands: numbers checked for range when the command line is
parsed, so that a bad value is BAD_USAGE naming its option (exit 2), never a failure later."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

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

    parse.__name__ = f"integer in [{lo}, {hi}]"
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

    parse.__name__ = f"number in [{lo:g}, {hi:g}]"
    return parse


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")
