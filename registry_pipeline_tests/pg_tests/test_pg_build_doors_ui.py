"""On an instance kept in PostgreSQL: the UI's Launch button (a real `dagster dev`'s GraphQL) and
`registry build` at once, in both orders, queue one behind the other and both complete; a build
launched from the UI seals only what changed and is followed by "up to date". (SQLite and the
scenario itself: cli_tests/test_build_doors_ui.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from registry_pipeline.lib.instance import POSTGRES_INSTANCE_CONFIG, POSTGRES_URL_ENV
from registry_pipeline_tests._webserver import (
    Served,
    assert_a_ui_build_seals_only_what_changed,
    assert_one_after_the_other,
    race,
    serve,
)
from registry_pipeline_tests.pg_tests._server import PostgresServer


@pytest.fixture(scope="module")
def served(
    pg_server: PostgresServer, pg_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    url = pg_server.create_database(f"doors_{uuid.uuid4().hex[:12]}", template=pg_template)
    yield from serve(tmp_path_factory.mktemp("pg_doors_ui"), {POSTGRES_URL_ENV: url})


@pytest.mark.parametrize("ui_first", [True, False], ids=["ui-first", "cli-first"])
def test_a_ui_launch_and_a_cli_build_at_once_run_one_after_the_other(
    served: Served, ui_first: bool
) -> None:
    home = served.workspace / ".codex" / "dagster_home"
    assert (home / "dagster.yaml").read_text() == POSTGRES_INSTANCE_CONFIG
    assert_one_after_the_other(served, race(served, ui_first=ui_first))


def test_a_ui_build_seals_only_what_changed_and_then_it_is_up_to_date(served: Served) -> None:
    assert_a_ui_build_seals_only_what_changed(served)
