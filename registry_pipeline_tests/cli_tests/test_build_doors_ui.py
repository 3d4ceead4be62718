"""On SQLite: the UI's Launch button (a real `dagster dev`'s GraphQL) and `registry build` at once,
in both orders: both builds complete, one after the other, the second shown queued while it waits;
and a build launched from the UI seals only what changed and is followed by "up to date".
(PostgreSQL: pg_tests/test_pg_build_doors_ui.py; a bucket: s3_tests/test_build_doors_ui.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._webserver import (
    Served,
    assert_a_ui_build_seals_only_what_changed,
    assert_one_after_the_other,
    race,
    serve,
)

pytestmark = pytest.mark.launched


@pytest.fixture(scope="module")
def served(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A copy of the demo workspace after its one green build (`built_demo_once`, not built
    again), served by `dagster dev`."""
    yield from serve(tmp_path_factory.mktemp("doors_ui"), built=built_demo_once)


@pytest.mark.parametrize("ui_first", [True, False], ids=["ui-first", "cli-first"])
def test_a_ui_launch_and_a_cli_build_at_once_run_one_after_the_other(
    served: Served, ui_first: bool
) -> None:
    assert_one_after_the_other(served, race(served, ui_first=ui_first))


def test_a_ui_build_seals_only_what_changed_and_then_it_is_up_to_date(served: Served) -> None:
    assert_a_ui_build_seals_only_what_changed(served)
