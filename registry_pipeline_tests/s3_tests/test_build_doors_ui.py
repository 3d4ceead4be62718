"""On a workspace whose shared state is in a bucket (REGISTRY_STORE): the UI's Launch button (a real
`dagster dev`'s GraphQL) and `registry build` at once, in both orders, wait one for the other and
both complete (the command's default build: no `--in-process`); a build launched from the UI seals
only what changed and is followed by "up to date"; the promotion sensor promotes a UI build within
10 s of its end. (SQLite and the scenario itself: cli_tests/test_build_doors_ui.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry_pipeline.core.objstore import ObjectStore, parse_store_url
from registry_pipeline.core.workspace.remote import RUNS_PREFIX, STORE_ENV
from registry_pipeline_tests._webserver import (
    Served,
    assert_a_ui_build_seals_only_what_changed,
    assert_one_after_the_other,
    assert_the_sensor_promotes_a_ui_build,
    race,
    serve,
)
from registry_pipeline_tests.s3_tests._server import SeaweedServer, bucket_name


@pytest.fixture(scope="module")
def served(s3_server: SeaweedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    bucket = bucket_name("doors-ui")
    ObjectStore.open(parse_store_url(f"s3://{bucket}"), s3_server.env()).put("made-by-test", b"")
    settings = {**s3_server.env(), STORE_ENV: f"s3://{bucket}/ws"}
    yield from serve(tmp_path_factory.mktemp("s3_doors_ui"), settings)


@pytest.fixture(scope="module")
def store(s3_server: SeaweedServer, served: Served) -> ObjectStore:
    """The served workspace's bucket."""
    return ObjectStore.open(parse_store_url(served.env[STORE_ENV]), s3_server.env())


@pytest.mark.parametrize("ui_first", [True, False], ids=["ui-first", "cli-first"])
def test_a_ui_launch_and_a_cli_build_at_once_run_one_after_the_other(
    served: Served, ui_first: bool
) -> None:
    assert_one_after_the_other(served, race(served, ui_first=ui_first))


def test_a_ui_build_seals_only_what_changed_and_then_it_is_up_to_date(
    served: Served, store: ObjectStore
) -> None:
    for name in assert_a_ui_build_seals_only_what_changed(served):
        assert store.get(f"{RUNS_PREFIX}/{name}.json") is not None, name  # published there


def test_the_sensor_promotes_a_ui_build_within_10_s(served: Served) -> None:
    assert_the_sensor_promotes_a_ui_build(served)
