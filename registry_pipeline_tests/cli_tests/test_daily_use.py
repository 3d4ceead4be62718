"""Daily use of the CLI (issue 28): problems as objects at their line, verdicts on stdout, help."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from registry_pipeline.cli.main import EPILOG, build_parser
from registry_pipeline_tests._helpers import Run, break_built_schema

FIVE = {"code", "path", "line", "field", "message"}


def _problems(out: str, registry_id: str) -> list[dict[str, object]]:
    entries = {e["registry_id"]: e for e in json.loads(out)["registries"]}
    problems: list[dict[str, object]] = entries[registry_id]["problems"]
    return problems


def test_a_source_that_is_not_json_is_json_invalid_at_the_parsers_line(
    cli: Run, demo: Path
) -> None:
    ledger = demo / "registries" / "migration_ledger" / "applied_migrations.json"
    ledger.write_text('{"migrations": [\n  {"id": 1,,}\n')
    code, out, _ = cli("build", "--workspace", str(demo), "--select", "migration_ledger", "--json")
    problems = _problems(out, "migration_ledger")
    assert code == 1 and all(set(p) >= FIVE for p in problems)
    parsed = [p for p in problems if p["code"] == "JSON_INVALID"]
    assert [(p["path"], p["line"], p["column"]) for p in parsed] == [
        ("registries/migration_ledger/applied_migrations.json", 2, 12)
    ]
    assert not any(p["code"] == "SCHEMA_VIOLATION" for p in problems)


def test_a_failed_check_gives_its_problems_as_objects_naming_the_check(
    cli: Run, demo: Path
) -> None:
    break_built_schema(demo)
    code, out, _ = cli("build", "--workspace", str(demo), "--json")
    problems = _problems(out, "drift_signals")
    assert code == 1 and problems and all(set(p) >= FIVE for p in problems)
    violation = next(p for p in problems if p["code"] == "SCHEMA_VIOLATION")
    assert violation["check"] == "schema_valid"
    assert str(violation["path"]).endswith(".json") and "signed_off_by" in str(violation["message"])
    assert violation["field"] is not None  # the JSON pointer of the offending value


def test_the_builds_verdict_goes_to_stdout_and_nothing_to_stderr(cli: Run, demo: Path) -> None:
    code, out, err = cli("build", "--workspace", str(demo))
    assert code == 0 and err == ""
    run_id = out.splitlines()[-1].split()[2].rstrip(":")
    assert out.splitlines()[-1] == (
        f"dagster run {run_id}: all registries built and checked "
        f"(http://127.0.0.1:3000/runs/{run_id})"
    )


def test_the_top_level_help_covers_every_command_with_examples_that_parse() -> None:
    parser = build_parser()
    text = EPILOG.split("examples:\n", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    shown = set()
    for line in text.splitlines():
        example = line.strip().split("   ")[0]  # what follows three spaces says what it does
        parsed = parser.parse_args(shlex.split(example)[1:])  # one that does not parse fails
        shown.add(parsed.command)
    commands = {
        name
        for action in parser._subparsers._group_actions  # type: ignore[union-attr]
        for name in getattr(action, "choices", {})
    }
    assert commands == shown
