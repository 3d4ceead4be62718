"""The README's tour, executed: every `$ registry ...` block of README.md runs in a temporary
folder of its kind and its output must have the shape the README shows, so the README cannot
drift (the runner and the marks: registry_pipeline_tests/_tour.py; that every block is run or
says why not: test_docs_examples.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import copy_demo
from registry_pipeline_tests._tour import README, match, run_tour


def test_the_demo_tour_runs_as_the_readme_shows(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run_tour(README, "demo", tmp_path, request)


def test_the_empty_folder_tour_runs_as_the_readme_shows(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Sealing by hand in an empty folder: the hashes of the file it seals are shown as they
    are."""
    run_tour(README, "empty", tmp_path, request)


def test_the_drift_history_tour_runs_as_the_readme_shows(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The drift-by-day example: recorded history copied and backfilled through Dagster."""
    run_tour(README, "drift-history", tmp_path, request)


def test_the_write_path_tour_runs_as_the_readme_shows(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`registry init --with-write-path`, add-entry and deprecate in a fresh folder."""
    run_tour(README, "fresh", tmp_path, request)


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
        (["a 2026-11-22__130648__x_build  b"], ["a 2026-01-01__000000__x_build__001 b"], True),
        (["a 2026-11-22__130648__x_build"], ["a 2026-01-01__000000__y_build"], False),
        (["a"], ["b"], False),
        (["a", "b"], ["a"], False),
    ],
)
def test_the_shape_matcher(expected: list[str], actual: list[str], ok: bool) -> None:
    assert (match(expected, actual) is not None) is ok
