"""Every command reads a day or a moment by one grammar, with its own code and a did-you-mean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import Run, copy_built

COMMANDS = {
    "runs": (("runs", "list", "--since"), "BAD_DATE"),
    "delta": (("delta", "show", "--since"), "BAD_TIMESTAMP"),
    "as-of": (("pointers", "as-of"), "BAD_TIMESTAMP"),
}


@pytest.fixture(scope="module")
def read_only(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One copy of the built demo for the module: these commands only read it."""
    return copy_built(built_demo_once[0], tmp_path_factory.mktemp("time_grammar"))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("text", "hint"),
    [("2026-09-01T10:00", "2026-09-01T10:00Z"), ("2026/9/1", "2026-09-01"),
     ("2026-11-2", "2026-11-02"), ("2026-W36-1", None), ("2026-W47-1T00:00Z", None),
     ("20260901", None), ("20261120T180000Z", None), ("٢٠٢٦-٠٩-٠١", None)],
)  # fmt: skip
def test_one_grammar_refuses_alike(
    cli: Run, read_only: Path, command: str, text: str, hint: str | None
) -> None:
    args, code = COMMANDS[command]
    done, out, _err = cli(*args, text, "--workspace", str(read_only), "--json")
    assert done == 2, out
    error = json.loads(out)["error"]
    assert error["code"] == code, error
    if hint is not None:
        assert f"did you mean {hint}?" in error["message"], error


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "text",
    ["2026-09-01", "2026-09-01T10:00Z", "2026-09-01T12:00+02:00", "2026-11-20T18:00:00.5+01:00"],
)
def test_one_grammar_accepts_alike(cli: Run, read_only: Path, command: str, text: str) -> None:
    args, _code = COMMANDS[command]
    done, out, err = cli(*args, text, "--workspace", str(read_only), "--json")
    assert done == 0, (out, err)


@pytest.mark.parametrize(
    ("day", "hint"),
    [("2026-09-01T10:00", None), ("2026-W47-1", None), ("20261120", None),
     ("2026-13-01", None), ("2026-11-1", "2026-11-01")],
)  # fmt: skip
def test_a_day_option_takes_only_yyyy_mm_dd(
    cli: Run, read_only: Path, day: str, hint: str | None
) -> None:
    code, out, err = cli("drift", "backfill", "--from", day, "--to", "2026-11-20",
                         "--workspace", str(read_only))  # fmt: skip
    assert code == 2 and out == "" and "error: BAD_DAY" in err, err
    if hint is not None:
        assert f"did you mean {hint}?" in err
