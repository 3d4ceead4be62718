"""The README's tour, executed: every `$ registry ...` line of README.md runs in a temporary
workspace and its output must have the shape the README shows, so the README cannot drift.

A fenced block is run when an HTML comment `<!-- tour: demo -->` (a copy of the demo workspace),
`<!-- tour: empty -->` (an empty folder named `tour` holding a copy of the demo's
EXPECTED_VERSIONS_v0_1.json) or `<!-- tour: drift-history -->` (a folder holding a copy of
examples/drift-history at that path, where `/tmp/drift-history` names a folder of the test's)
precedes it; `<!-- tour: skip (reason) -->` says why a block is not run. Blocks of one kind
share their folder, in README order. Outputs are compared line by line after run ids' times,
hashes, UUIDs and timestamps are replaced by placeholders; a `...` line stands for any number of
lines. Run ids and hashes the README shows are mapped to the real ones as outputs match, so later
commands use the real ones.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import copy_demo

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MARK = re.compile(
    r"<!-- tour: (demo|empty|drift-history|skip)\b[^>]*-->\s*\n```[^\n]*\n(.*?)```", re.S
)
RUN_ID = re.compile(r"\d{4}-\d\d-\d\d__\d{6}__[a-z0-9_]+")
SHA = re.compile(r"\b[0-9a-f]{64}\b")
PLACEHOLDERS = [
    (re.compile(r"\d{4}-\d\d-\d\d__\d{6}__"), "<TIME>__"),
    (SHA, "<SHA256>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<UUID>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<TIMESTAMP>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<SHORT>"),
    (re.compile(r"\(\d+ files,"), "(N files,"),
]


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def _blocks(kind: str) -> list[list[Step]]:
    blocks = []
    for match in MARK.finditer(README.read_text(encoding="utf-8")):
        if match.group(1) != kind:
            continue
        steps: list[Step] = []
        for line in match.group(2).splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            elif steps and line.strip():
                steps[-1].expected.append(line)
        blocks.append(steps)
    return blocks


def _normal(line: str) -> str:
    for pattern, placeholder in PLACEHOLDERS:
        line = pattern.sub(placeholder, line)
    return " ".join(line.split())


def _match(expected: list[str], actual: list[str]) -> list[tuple[str, str]] | None:
    """The (expected, actual) line pairs when `actual` has the shape of `expected`, else None."""
    if not expected:
        return [] if not actual else None
    if expected[0].strip() == "...":
        for skip in range(len(actual) + 1):
            rest = _match(expected[1:], actual[skip:])
            if rest is not None:
                return rest
        return None
    if actual and _normal(expected[0]) == _normal(actual[0]):
        rest = _match(expected[1:], actual[1:])
        return None if rest is None else [(expected[0], actual[0]), *rest]
    return None


class Tour:
    """Runs README steps in one folder, mapping the README's ids and hashes to real ones."""

    def __init__(self, cwd: Path, shown_as: str | None = None) -> None:
        self.cwd = cwd
        self.shown_as = shown_as
        self.names: dict[str, str] = {}
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("REGISTRY_WORKSPACE", "DAGSTER_HOME")
        }
        self.env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONUNBUFFERED="1")

    def run(self, step: Step) -> None:
        command = step.command
        for shown, real in self.names.items():
            command = command.replace(shown, real)
        result = subprocess.run(
            ["bash", "-c", f"{{ {command}\n}} 2>&1"],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = result.stdout.replace(str(self.cwd), self.shown_as or str(self.cwd))
        actual = [line for line in output.splitlines() if line.strip()]
        assert "Traceback" not in output, f"$ {command}\n{output}"
        pairs = _match(step.expected, actual)
        assert pairs is not None, (
            f"README drifted from the tool.\n$ {command}\n--- README shows:\n"
            + "\n".join(step.expected)
            + "\n--- the tool printed:\n"
            + "\n".join(actual)
        )
        for shown_line, real_line in pairs:
            for pattern in (RUN_ID, SHA):
                for shown, real in zip(
                    pattern.findall(shown_line), pattern.findall(real_line), strict=False
                ):
                    self.names.setdefault(shown, real)


def test_the_readme_marks_every_registry_command() -> None:
    """Every `$ registry` line is in a block the tour runs, or one that says why it is not."""
    text = README.read_text(encoding="utf-8")
    marked = "".join(match.group(2) for match in MARK.finditer(text))
    unmarked = [
        line
        for line in text.splitlines()
        if line.startswith("$ ") and "registry" in line and line not in marked
    ]
    assert unmarked == []
    assert _blocks("demo") and _blocks("empty") and _blocks("drift-history")


@pytest.mark.launched  # `registry build` as the README shows it: through the code location
def test_the_demo_tour_runs_as_the_readme_shows(tmp_path: Path) -> None:
    tour = Tour(copy_demo(tmp_path))
    for block in _blocks("demo"):
        for step in block:
            tour.run(step)


def test_the_empty_folder_tour_runs_as_the_readme_shows(tmp_path: Path) -> None:
    folder = tmp_path / "tour"
    folder.mkdir()
    source = REPO / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    shutil.copy(source, folder)
    tour = Tour(folder, shown_as="/tmp/tour")
    for block in _blocks("empty"):
        for step in block:
            tour.run(step)


def test_the_drift_history_tour_runs_as_the_readme_shows(tmp_path: Path) -> None:
    """The drift-by-day example: recorded history copied and backfilled through Dagster."""
    example = Path("examples") / "drift-history"
    shutil.copytree(REPO / example, tmp_path / example, symlinks=True)
    tour = Tour(tmp_path)
    tour.names["/tmp/drift-history"] = str(tmp_path / "drift-history")
    for block in _blocks("drift-history"):
        for step in block:
            tour.run(step)


def test_the_schedule_table_matches_the_definitions(tmp_path: Path) -> None:
    from registry_pipeline.definitions import build_definitions

    definitions = build_definitions(copy_demo(tmp_path))
    actual = {
        schedule.name: schedule.default_status.value.lower()
        for schedule in definitions.schedules or []
    }
    actual.update(
        {sensor.name: sensor.default_status.value.lower() for sensor in definitions.sensors or []}
    )
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (\w+) \|", README.read_text(), re.M)
    assert dict(rows) == actual


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (["a", "...", "d"], ["a", "b", "c", "d"], True),
        (["a", "..."], ["a"], True),
        (["a 2026-11-22__130648__x_build"], ["a 2026-01-01__000000__x_build"], True),
        (["a"], ["b"], False),
        (["a", "b"], ["a"], False),
    ],
)
def test_the_shape_matcher(expected: list[str], actual: list[str], ok: bool) -> None:
    assert (_match(expected, actual) is not None) is ok
