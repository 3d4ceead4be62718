"""The issue-39 race on a Dagster instance kept in PostgreSQL: the UI's Launch button (a real
webserver's GraphQL, under `dagster dev`'s daemon) and `registry build` at once, both orders:
both complete, one after the other, the second shown queued while it waits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry_pipeline_tests._doors import (
    assert_one_after_the_other,
    dagster_dev,
    environment,
    race,
)
from registry_pipeline_tests._helpers import registry

pytestmark = pytest.mark.launched


@pytest.fixture
def served(
    demo: Path, tmp_path: Path, pg_url: str, pg_env: Callable[[str], dict[str, str]]
) -> Iterator[tuple[str, Path]]:
    pg_env(pg_url)  # the instance is prepared in PostgreSQL by the first build
    code, _, err = registry("build", "--in-process", "--workspace", str(demo))
    assert code == 0, err
    with dagster_dev(demo, environment(), tmp_path) as base:
        yield base, demo


@pytest.mark.parametrize("ui_first", [True, False], ids=["ui-first", "cli-first"])
def test_a_ui_launch_and_a_cli_build_at_once_on_postgresql(
    served: tuple[str, Path], ui_first: bool
) -> None:
    base, root = served
    assert (root / ".codex" / "dagster_home" / "dagster.yaml").read_text().count("postgres") > 0
    assert_one_after_the_other(race(base, root, environment(), ui_first=ui_first))
