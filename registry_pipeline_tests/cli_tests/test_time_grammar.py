"""Every command reads a day or a moment by one grammar, with its own code and a did-you-mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run

COMMANDS = {
    "runs": (("runs", "list", "--since"), "BAD_DATE"),
    "delta": (("delta", "show", "--since"), "BAD_TIMESTAMP"),
    "as-of": (("pointers", "as-of"), "BAD_TIMESTAMP"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("text", "hint"),
    [("2026-09-01T10:00", "2026-09-01T10:00Z"), ("2026/9/1", "2026-09-01"),
     ("2026-W36-1", None), ("20260901", None), ("٢٠٢٦-٠٩-٠١", None)],
)  # fmt: skip
def test_one_grammar_refuses_alike(
    cli: Run, built: Path, command: str, text: str, hint: str | None
) -> None:
    args, code = COMMANDS[command]
    done, out, _err = cli(*args, text, "--workspace", str(built), "--json")
    assert done == 2, out
    error = json.loads(out)["error"]
    assert error["code"] == code, error
    if hint is not None:
        assert f"did you mean {hint}?" in error["message"], error


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("text", ["2026-09-01", "2026-09-01T10:00Z", "2026-09-01T12:00+02:00"])
def test_one_grammar_accepts_alike(cli: Run, built: Path, command: str, text: str) -> None:
    args, _code = COMMANDS[command]
    done, out, err = cli(*args, text, "--workspace", str(built), "--json")
    assert done == 0, (out, err)


def test_a_day_option_refuses_a_zone_less_time_naming_the_day_grammar(
    cli: Run, built: Path
) -> None:
    done, out, _err = cli(
        "drift", "backfill", "--from", "2026-09-01T10:00", "--to", "2026-09-01",
        "--workspace", str(built), "--json",
    )  # fmt: skip
    assert done == 2 and json.loads(out)["error"]["code"] == "BAD_DAY"
