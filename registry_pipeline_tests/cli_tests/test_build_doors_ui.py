"""On SQLite: the UI's Launch button (a real `dagster dev`'s GraphQL) and `registry build` at once,
in both orders: both builds complete, one after the other, the second waiting (the UI's run shown
queued, the command saying whom it waits for), each promoted once; a build launched from the UI
seals only what changed and is followed by "up to date"; the promotion sensor promotes a UI build
within 10 s of its end, and never again a build the command promoted itself.
(PostgreSQL: pg_tests/test_pg_build_doors_ui.py; a bucket: s3_tests/test_build_doors_ui.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._webserver import (
    Served,
    assert_a_ui_build_seals_only_what_changed,
    assert_one_after_the_other,
    assert_the_sensor_promotes_a_ui_build,
    dagster_dev,
    environment,
    interrupt,
    promotions,
    race,
    sensor_ticks_after,
    serve,
)


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


def test_the_sensor_promotes_a_ui_build_within_10_s(served: Served) -> None:
    assert_the_sensor_promotes_a_ui_build(served)


def test_a_build_the_command_promoted_is_never_promoted_again_by_the_daemon(
    served: Served,
) -> None:
    """`registry build` runs its build's promotion itself, with the sensor's run key: the live
    daemon's sensor, ticking after the command ended, requests no second one; nor for the build
    the command made before `dagster dev` (and its daemon) started."""
    command = served.registry("build", "--force", "--json")
    out, err = command.communicate(timeout=300)
    assert command.returncode == 0, out + err
    document = json.loads(out)
    build, promotion = document["dagster_run_id"], document["promotion_run_id"]
    ended = time.time()
    sensor_ticks_after(served, ended)
    [mine] = promotions(served)[build]  # the command's own, none of the sensor's
    assert mine["runId"] == promotion
    assert "dagster/sensor_name" not in {tag["key"] for tag in mine["tags"]}
    [before] = promotions(served)[served.build["dagster_run_id"]]  # built before the daemon
    assert before["runId"] == served.build["promotion_run_id"]


def test_after_dagster_dev_is_stopped_a_build_waits_for_no_one(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Issue 61: Ctrl-C of `dagster dev` once its daemon has heartbeated (Dagster calls such a
    daemon healthy for a while after), then `registry build --force` at once: the command
    executes its runs itself, so it waits for nobody and says nothing of waiting."""
    from registry_pipeline_tests._helpers import copy_built
    from registry_pipeline_tests._webserver import Served

    root = copy_built(built_demo_once[0], tmp_path)
    env = {k: v for k, v in environment(root, {}).items() if k != "REGISTRY_PIPELINE_HOLD_AT"}
    with dagster_dev(root, env, tmp_path) as base_url:
        served = Served(base_url, root, built_demo_once[1], env)
        sensor_ticks_after(served, 0, count=1)  # the daemon runs: it has ticked the sensor
        interrupt(base_url)
    command = served.registry("build", "--force", "--json")
    out, err = command.communicate(timeout=300)
    assert command.returncode == 0, out + err
    assert json.loads(out)["success"] is True
    assert "waiting" not in err, err
