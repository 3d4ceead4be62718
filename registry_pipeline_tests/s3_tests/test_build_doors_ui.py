"""The issue-39 race on a workspace whose shared state is in a bucket (a real S3 server): the
UI's Launch button (a real webserver's GraphQL, under `dagster dev`'s daemon) and `registry
build` at once, both orders: both complete, one after the other (each holding the bucket's
lease in turn), the second shown queued while it waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline_tests._doors import (
    assert_one_after_the_other,
    dagster_dev,
    environment,
    race,
)
from registry_pipeline_tests._helpers import copy_demo, registry
from registry_pipeline_tests.s3_tests._server import SeaweedServer

pytestmark = pytest.mark.launched


@pytest.fixture
def served(
    s3_server: SeaweedServer, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    for key, value in {**s3_server.env(), "REGISTRY_STORE": store_url}.items():
        monkeypatch.setenv(key, value)
    root = copy_demo(tmp_path)
    code, _, err = registry("build", "--in-process", "--workspace", str(root))
    assert code == 0, err
    with dagster_dev(root, environment(), tmp_path) as base:
        yield base, root


@pytest.mark.parametrize("ui_first", [True, False], ids=["ui-first", "cli-first"])
def test_a_ui_launch_and_a_cli_build_at_once_on_a_bucket(
    served: tuple[str, Path], ui_first: bool
) -> None:
    base, root = served
    assert_one_after_the_other(race(base, root, environment(), ui_first=ui_first))
